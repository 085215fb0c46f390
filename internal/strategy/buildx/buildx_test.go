package buildx

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// fakeDocker stands in for `docker buildx`: it records its command lines and
// the Dockerfile it gets, prints what the test put in its directory, and for
// a build writes the metadata file buildx would, with the digest the test
// pushed in BuildKit's place. The real thing runs in the e2e tests.
const fakeDocker = `#!/bin/sh
echo "$*" >>"$FAKE_DIR/calls"
case "$1 $2" in
"buildx inspect")
	[ -f "$FAKE_DIR/inspect.err" ] && { cat "$FAKE_DIR/inspect.err" >&2; exit 1; }
	cat "$FAKE_DIR/inspect"
	exit 0 ;;
"buildx version") echo "github.com/docker/buildx v0.26.1"; exit 0 ;;
"buildx create") exit 0 ;;
"buildx build")
	meta=""; prev=""
	for a in "$@"; do
		[ "$prev" = "--metadata-file" ] && meta=$a
		prev=$a
	done
	cat >"$FAKE_DIR/dockerfile"
	[ -f "$FAKE_DIR/build.err" ] && cat "$FAKE_DIR/build.err" >&2
	if [ -f "$FAKE_DIR/digest" ]; then
		printf '{"containerimage.digest": "%s"}' "$(cat "$FAKE_DIR/digest")" >"$meta"
		exit 0
	fi
	exit 1 ;;
esac
echo "docker: unknown command: docker $1" >&2
exit 1
`

const inspectKit = `Name:          kit
Driver:        remote
Last Activity: 2026-11-22 07:40:28 +0000 UTC

Nodes:
Name:             kit0
Endpoint:         unix:///run/buildkit/buildkitd.sock
Status:           running
BuildKit version: v0.23.2
Platforms:        linux/amd64, linux/386
`

type fake struct {
	dir    string
	docker Docker
}

func newFake(t *testing.T) *fake {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "docker")
	if err := os.WriteFile(path, []byte(fakeDocker), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fake{dir: dir, docker: Docker{Path: path, Env: append(os.Environ(), "FAKE_DIR="+dir)}}
	f.write(t, "inspect", inspectKit)
	return f
}

func (f *fake) write(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fake) read(t *testing.T, file string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(f.dir, file))
	return string(b)
}

func newRegistryHost(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	return u.Host
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// world is a source index with three platforms and attestations, a
// destination registry, and the plan between them.
type world struct {
	srcRef, dstRef name.Reference
	srcIndex       v1.ImageIndex
	in             strategy.Input
}

func newWorld(t *testing.T, platforms ...v1.Platform) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{
		srcRef: mustRef(t, newRegistryHost(t)+"/app:1.0"),
		dstRef: mustRef(t, newRegistryHost(t)+"/mirror/app:1.0"),
	}
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:3], Attestations: true, Seed: 5}
	if _, err := fixture.PushIndex(ctx, w.srcRef, opts); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.srcIndex, err = remote.Index(w.srcRef); err != nil {
		t.Fatal(err)
	}
	client := registry.New()
	src, err := client.Repository(ctx, w.srcRef.Context(), registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := client.Repository(ctx, w.dstRef.Context(), registry.Push)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(ctx, src, dst, copyopts.Image{Source: w.srcRef, Destination: w.dstRef, Platforms: platforms}, copyopts.Shared{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	w.in = strategy.Input{Plan: p, Src: src, Dst: dst, Shared: copyopts.Shared{Jobs: 2, Progress: progress.Discard()}}
	return w
}

// rebuild pushes, by digest, what BuildKit would: each source image with a
// new config (same layers, unless alter changes them) under BuildKit's
// spelling of its platform, and no attestations.
func (w *world) rebuild(t *testing.T, alter func(i int, img v1.Image) v1.Image) v1.Hash {
	t.Helper()
	im, err := w.srcIndex.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	i := 0
	for _, d := range im.Manifests {
		if d.Annotations[annotationReferenceType] == attestationManifest {
			continue
		}
		img, err := w.srcIndex.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.Config.Env = append(cf.Config.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		if alter != nil {
			img = alter(i, img)
		}
		p := *d.Platform
		if p.Architecture == "arm64" {
			p.Variant = "" // BuildKit writes linux/arm64 for linux/arm64/v8
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		i++
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(w.dstRef.Context().Digest(digest.String()), idx); err != nil {
		t.Fatal(err)
	}
	return digest
}

func TestExecute(t *testing.T) {
	w := newWorld(t)
	f := newFake(t)
	rebuilt := w.rebuild(t, nil)
	f.write(t, "digest", rebuilt.String())
	s, err := New(Config{Docker: f.docker})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Available(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := s.Execute(ctx, w.in)
	if err != nil {
		t.Fatal(err)
	}

	if out.MediaType != types.OCIImageIndex || !out.DigestChanged || out.DigestNote == "" {
		t.Errorf("output %s %s changed %v note %q", out.DestinationDigest, out.MediaType, out.DigestChanged, out.DigestNote)
	}
	if out.ContentVerified == nil || !*out.ContentVerified {
		t.Errorf("contentVerified %v", out.ContentVerified)
	}
	// The tag holds BuildKit's images under the source's platforms: BuildKit
	// wrote linux/arm64, the source says linux/arm64/v8.
	desc, err := remote.Head(w.dstRef)
	if err != nil || desc.Digest != out.DestinationDigest || desc.Digest == rebuilt {
		t.Errorf("the destination tag is %v (%v), want %s with the source's platforms, not BuildKit's %s", desc, err, out.DestinationDigest, rebuilt)
	}
	tagged, err := remote.Index(w.dstRef)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := tagged.IndexManifest()
	built, _ := remote.Index(w.dstRef.Context().Digest(rebuilt.String()))
	want, _ := built.IndexManifest()
	srcIdx, _ := w.srcIndex.IndexManifest()
	for i, d := range got.Manifests {
		if d.Digest != want.Manifests[i].Digest {
			t.Errorf("child %d is %s, BuildKit pushed %s", i, d.Digest, want.Manifests[i].Digest)
		}
		if d.Platform.Architecture == "arm64" && d.Platform.Variant != "v8" {
			t.Errorf("child %d has platform %s, want the source's linux/arm64/v8 (source index: %d manifests)", i, d.Platform, len(srcIdx.Manifests))
		}
	}
	im, _ := w.srcIndex.IndexManifest()
	sourceImages := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		if d.Annotations[annotationReferenceType] != attestationManifest {
			sourceImages[d.Platform.String()] = d.Digest
		}
	}
	pushed, _ := remote.Index(w.dstRef)
	pm, _ := pushed.IndexManifest()
	if len(out.Platforms) != 3 || len(pm.Manifests) != 3 {
		t.Fatalf("%d platforms, %d pushed; want 3: %+v", len(out.Platforms), len(pm.Manifests), out.Platforms)
	}
	for i, p := range out.Platforms {
		if p.SourceDigest != sourceImages[p.Platform] {
			t.Errorf("%s: source digest %s, want %s", p.Platform, p.SourceDigest, sourceImages[p.Platform])
		}
		if p.DestinationDigest != pm.Manifests[i].Digest {
			t.Errorf("%s: destination digest %s, want %s", p.Platform, p.DestinationDigest, pm.Manifests[i].Digest)
		}
	}
	if out.Manifests.Copied != 4 || out.Blobs.Copied == 0 {
		t.Errorf("manifests %+v, blobs %+v", out.Manifests, out.Blobs)
	}

	calls := f.read(t, "calls")
	for _, want := range []string{
		"buildx inspect\n",
		"buildx build --builder kit --progress rawjson --platform linux/amd64,linux/arm64/v8,linux/arm/v7 --provenance=false --sbom=false",
		"--output type=image,name=" + w.dstRef.Context().Name() + ",push=true,push-by-digest=true,oci-mediatypes=true",
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("docker was not run with %q:\n%s", want, calls)
		}
	}
	srcDigest, _ := w.srcIndex.Digest()
	if got, want := f.read(t, "dockerfile"), "FROM "+w.srcRef.Context().Name()+"@"+srcDigest.String()+"\n"; got != want {
		t.Errorf("Dockerfile %q, want %q", got, want)
	}
}

func TestExecuteFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, w *world, f *fake)
		kind  errdefs.Kind
		want  string
	}{
		{
			name: "the build fails",
			setup: func(t *testing.T, w *world, f *fake) {
				f.write(t, "build.err", `{"vertexes":[{"digest":"sha256:1","name":"exporting to image","started":"2026-11-22T07:40:31Z"}]}
ERROR: failed to build: failed to solve: failed to push `+w.dstRef.Context().Name()+`: unexpected status from HEAD request to http://`+w.dstRef.Context().RegistryStr()+`/v2/mirror/app/blobs/sha256:9f: 401 Unauthorized
`)
			},
			kind: errdefs.Unauthorized,
			want: "run 'docker login 127.0.0.1:",
		},
		{
			name: "the content differs",
			setup: func(t *testing.T, w *world, f *fake) {
				d := w.rebuild(t, func(i int, img v1.Image) v1.Image {
					if i != 1 {
						return img
					}
					layer, err := random.Layer(64, types.OCILayer)
					if err != nil {
						t.Fatal(err)
					}
					img, err = mutate.AppendLayers(img, layer)
					if err != nil {
						t.Fatal(err)
					}
					return img
				})
				f.write(t, "digest", d.String())
			},
			kind: errdefs.DigestMismatch,
			want: "linux/arm64/v8",
		},
		{
			name: "a platform is missing",
			setup: func(t *testing.T, w *world, f *fake) {
				im, _ := w.srcIndex.IndexManifest()
				img, err := w.srcIndex.Image(im.Manifests[0].Digest)
				if err != nil {
					t.Fatal(err)
				}
				idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: im.Manifests[0].Platform}})
				d, _ := idx.Digest()
				if err := remote.WriteIndex(w.dstRef.Context().Digest(d.String()), idx); err != nil {
					t.Fatal(err)
				}
				f.write(t, "digest", d.String())
			},
			kind: errdefs.PlatformMissing,
			want: "no image for linux/arm64/v8",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			f := newFake(t)
			// DST already holds another image, which must stay.
			before, err := fixture.PushImage(context.Background(), w.dstRef, fixture.Options{Seed: 99})
			if err != nil {
				t.Fatal(err)
			}
			tc.setup(t, w, f)
			s, _ := New(Config{Docker: f.docker})
			_, err = s.Execute(context.Background(), w.in)
			if err == nil {
				t.Fatal("Execute succeeded")
			}
			if k := errdefs.KindOf(err); k != tc.kind {
				t.Errorf("kind %v, want %v: %v", k, tc.kind, err)
			}
			if !strings.Contains(errdefs.Message(err), tc.want) {
				t.Errorf("message lacks %q: %s", tc.want, errdefs.Message(err))
			}
			if desc, err := remote.Head(w.dstRef); err != nil || desc.Digest != before {
				t.Errorf("the destination tag is %v (%v), want %s as before", desc, err, before)
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		inspect string
		err     string // inspect fails with this on stderr
		want    string // "" means available
	}{
		{name: "remote builder", inspect: inspectKit},
		{
			name:    "docker-container builder not started yet",
			inspect: "Name:   box\nDriver: docker-container\n\nNodes:\nName:     box0\nEndpoint: unix:///var/run/docker.sock\nStatus:   inactive\n",
		},
		{
			name: "no buildx",
			err:  "docker: unknown command: docker buildx\n\nRun 'docker --help' for more information",
			want: "the buildx strategy needs a BuildKit builder: the docker buildx plugin is not installed",
		},
		{
			name: "no such builder",
			cfg:  Config{Builder: "nosuch"},
			err:  `ERROR: no builder "nosuch" found`,
			want: "there is no buildx builder named nosuch",
		},
		{
			name:    "engine builder without an engine",
			inspect: "Name:   default\nDriver: \nError:  Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
			want:    "the current builder, default, is the Docker engine's",
		},
		{
			name:    "docker driver",
			inspect: "Name:   default\nDriver: docker\n\nNodes:\nName:             default\nEndpoint:         default\nStatus:           running\nBuildKit version: v0.8+unknown\n",
			want:    "its docker driver",
		},
		{
			name:    "remote builder down",
			inspect: "Name:          dead\nDriver:        remote\n\nNodes:\nName:     dead0\nEndpoint: unix:///tmp/none.sock\nStatus:   inactive\n",
			want:    "builder dead does not answer at unix:///tmp/none.sock",
		},
		{
			name: "buildkit address with nothing there",
			cfg:  Config{BuildKitAddr: "unix:///nonexistent/buildkitd.sock"},
			want: "nothing answers at unix:///nonexistent/buildkitd.sock",
		},
		{
			name: "buildkit address that is not one",
			cfg:  Config{BuildKitAddr: "buildkitd.sock"},
			want: "invalid --buildkit-addr",
		},
		{name: "buildkit address over a container", cfg: Config{BuildKitAddr: "docker-container://buildkitd"}},
		{
			name: "no docker CLI",
			cfg:  Config{Docker: Docker{Path: ""}},
			want: "there is no docker CLI",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.write(t, "inspect", tc.inspect)
			if tc.err != "" {
				f.write(t, "inspect.err", tc.err)
			}
			cfg := tc.cfg
			if cfg.Docker.Path == "" && tc.name != "no docker CLI" {
				cfg.Docker = f.docker
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Available(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("not available: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(errdefs.Message(err), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			case err != nil && strings.Contains(errdefs.Message(err), "\n"):
				t.Errorf("the message is more than one line: %q", errdefs.Message(err))
			}
			if strings.Contains(f.read(t, "calls"), "buildx build") || strings.Contains(f.read(t, "calls"), "buildx create") {
				t.Errorf("Available built or created something:\n%s", f.read(t, "calls"))
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	w := newWorld(t, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	f := newFake(t)
	s, _ := New(Config{Docker: f.docker, Provenance: "mode=max"})
	var out bytes.Buffer
	_, describe, err := s.DryRun(context.Background(), w.in)
	if err != nil {
		t.Fatal(err)
	}
	if err := describe(&out); err != nil {
		t.Fatal(err)
	}
	srcDigest, _ := w.srcIndex.Digest()
	for _, want := range []string{
		"FROM " + w.srcRef.Context().Name() + "@" + srcDigest.String(),
		"Platforms:     linux/arm/v7\n",
		"Builder:       kit (driver remote, endpoint unix:///run/buildkit/buildkitd.sock, running)",
		"--provenance=mode=max --sbom=false",
		"Nothing was written.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the description lacks %q:\n%s", want, out.String())
		}
	}
	if calls := f.read(t, "calls"); calls != "buildx inspect\n" {
		t.Errorf("Describe ran more than buildx inspect:\n%s", calls)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Builder: "kit", BuildKitAddr: "unix:///x.sock"}); errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("--builder with --buildkit-addr: %v, want an invalid argument", err)
	}
}

func TestNewJob(t *testing.T) {
	hub := mustRef(t, "golang:1.25-alpine")
	dst := mustRef(t, "registry.example.com/mirror/golang:1.25-alpine")
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	p := &plan.Plan{
		Source: hub, Destination: dst, SourceDigest: d,
		Root:      &plan.Manifest{MediaType: types.DockerManifestList},
		Platforms: []plan.PlatformDigest{{Platform: "linux/amd64"}, {Platform: "linux/arm64/v8"}},
	}
	s, _ := New(Config{})
	j, err := s.newJob(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "FROM docker.io/library/golang@" + d.String() + "\n"; j.dockerfile != want {
		t.Errorf("Dockerfile %q, want %q", j.dockerfile, want)
	}
	if want := "type=image,name=registry.example.com/mirror/golang,push=true,push-by-digest=true,oci-mediatypes=false"; j.output != want {
		t.Errorf("output %q, want %q", j.output, want)
	}

	p.Platforms = append(p.Platforms, plan.PlatformDigest{Platform: "unknown/unknown"})
	if _, err := s.newJob(p); errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("unknown/unknown: %v, want an invalid argument", err)
	}
}

func TestParseInspect(t *testing.T) {
	b := parseInspect(inspectKit)
	if b.Name != "kit" || b.Driver != "remote" || b.Endpoint != "unix:///run/buildkit/buildkitd.sock" || b.Status != "running" || b.Error != "" {
		t.Errorf("parsed %+v", b)
	}
}

// TestExecuteOnePlatform: BuildKit pushes one platform as a bare manifest; the
// source was an index, so DST gets a one-platform index with the source's
// platform.
func TestExecuteOnePlatform(t *testing.T) {
	armv7 := v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	w := newWorld(t, armv7)
	f := newFake(t)
	im, _ := w.srcIndex.IndexManifest()
	var img v1.Image
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Equals(armv7) {
			img, _ = w.srcIndex.Image(d.Digest)
		}
	}
	img, err := mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if err := remote.Write(w.dstRef.Context().Digest(d.String()), img); err != nil {
		t.Fatal(err)
	}
	f.write(t, "digest", d.String())
	s, _ := New(Config{Docker: f.docker})
	out, err := s.Execute(context.Background(), w.in)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(w.dstRef)
	if err != nil {
		t.Fatalf("DST is not an index: %v", err)
	}
	got, _ := idx.IndexManifest()
	if len(got.Manifests) != 1 || got.Manifests[0].Digest != d || !got.Manifests[0].Platform.Equals(armv7) {
		t.Errorf("index %+v, want one entry %s for linux/arm/v7", got.Manifests, d)
	}
	if digest, _ := idx.Digest(); out.DestinationDigest != digest || out.MediaType != types.OCIImageIndex {
		t.Errorf("output %s %s, want %s", out.DestinationDigest, out.MediaType, digest)
	}
	if len(out.Platforms) != 1 || out.Platforms[0].DestinationDigest != d || out.Manifests.Copied != 2 {
		t.Errorf("platforms %+v, manifests %+v", out.Platforms, out.Manifests)
	}
}
