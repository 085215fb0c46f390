package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// The archive tests check what docker migrate writes against tools no one
// here wrote (containerd's ctr, dockerd's docker load, skopeo), and read
// archives those tools make the way k3s and RKE2 make their airgap tarballs.

func repoOf(t testing.TB, ref string) name.Repository {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r.Context()
}

// TestArchiveReadCtrExport reads what `ctr images export --platform` writes,
// k3s's current airgap format, plain, zstd and gzip, whatever the prefix, as
// the merge store does (WholeIndexes): each image is the upstream index,
// byte for byte, with only one architecture's children in the archive.
func TestArchiveReadCtrExport(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedK3sImages(t, src, "v1")
	c := startContainerd(t)
	files := ctrExport(t, c, images, t.TempDir())
	t.Logf("ctr images export wrote:\n%s", runTool(t, nil, "tar", "-xOf", files["arm64"], "index.json"))
	t.Logf("and manifest.json:\n%s", runTool(t, nil, "tar", "-xOf", files["arm64"], "manifest.json"))
	for _, arch := range k3sArches {
		zst, gz := compressed(t, files[arch])
		for _, file := range []string{files[arch], zst, gz} {
			for _, prefix := range []string{"oci-archive:", "docker-archive:"} {
				t.Run(prefix+filepath.Base(file), func(t *testing.T) {
					// As the merge store reads it: each index whole.
					a := openArchiveT(t, prefix+file, archive.Options{WholeIndexes: true})
					checkSparse(t, a, images, arch)
				})
			}
		}
	}
}

// checkSparse checks an archive of one architecture of the images.
func checkSparse(t testing.TB, a *archive.Archive, images []k3sImage, arch string) {
	t.Helper()
	ctx := context.Background()
	var names []string
	for _, e := range a.Entries() {
		if e.Unnamed {
			t.Errorf("%s is unnamed", e.Name)
		}
		names = append(names, e.Name.Name())
	}
	for _, im := range images {
		full := "index.docker.io/" + im.name
		if !slices.Contains(names, full) {
			t.Fatalf("%s not among %v", full, names)
		}
		s := a.Repository(repoOf(t, full))
		body, desc, err := s.GetManifest(ctx, tagOf(im.name))
		if err != nil {
			t.Fatalf("%s: %v", im.name, err)
		}
		if desc.Digest != im.digest {
			t.Errorf("%s is %s in the archive, %s upstream", im.name, desc.Digest, im.digest)
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		present := 0
		for _, m := range idx.Manifests {
			_, _, err := s.GetManifest(ctx, m.Digest.String())
			mine := m.Platform != nil && m.Platform.Architecture == arch
			switch {
			case mine && err != nil:
				t.Errorf("%s: the %s child %s: %v", im.name, arch, m.Digest, err)
			case !mine && err == nil:
				t.Errorf("%s: the child %s (%v) is in the %s archive", im.name, m.Digest, m.Platform, arch)
			case !mine && !errdefs.Is(err, errdefs.NotFound):
				t.Errorf("%s: a missing child: %v, want NotFound", im.name, err)
			}
			if err == nil {
				present++
				checkImageBlobs(t, s, m.Digest)
			}
		}
		if present != 1 {
			t.Errorf("%s: %d children present, want 1", im.name, present)
		}
	}
}

// TestArchiveReadDockerSave reads what dockerd 20.10's `docker save` writes of
// per-architecture pulls, RKE2's and older k3s's format, plain, zstd and gzip:
// each image is a made-up Docker v2 manifest of its platform, its layers the
// tars docker saved (their digests are the config's diff_ids), and the digest
// is the one `ctr images import` gives the same archive.
func TestArchiveReadDockerSave(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedK3sImages(t, src, "v1")
	cli := NewCLI(t).WithEngine(startEngine(t))
	files := dockerSave(t, cli, images, t.TempDir())
	c := startContainerd(t)
	ctx := context.Background()
	for _, arch := range k3sArches {
		ns := "save-" + arch
		c.ctr(t, ns, "images", "import", "--no-unpack", "--all-platforms", files[arch])
		imported := c.images(t, ns)
		zst, gz := compressed(t, files[arch])
		for _, file := range []string{files[arch], zst, gz} {
			for _, prefix := range []string{"docker-archive:", "oci-archive:"} {
				t.Run(prefix+filepath.Base(file), func(t *testing.T) {
					a := openArchiveT(t, prefix+file)
					if n := len(a.Entries()); n != len(images) {
						t.Errorf("%d images, want %d", n, len(images))
					}
					for _, im := range images {
						full := "index.docker.io/" + im.name
						s := a.Repository(repoOf(t, full))
						desc, err := s.HeadManifest(ctx, tagOf(im.name))
						if err != nil {
							t.Fatalf("%s: %v", im.name, err)
						}
						if desc.MediaType != types.DockerManifestSchema2 {
							t.Errorf("%s: %s", im.name, desc.MediaType)
						}
						if got := imported["docker.io/"+im.name]; got.digest != desc.Digest {
							t.Errorf("%s: digest %s, ctr images import made %s", im.name, desc.Digest, got.digest)
						}
						m := checkImageBlobs(t, s, desc.Digest)
						cfgRaw := readAllVerified(t, s, m.Config)
						cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
						if err != nil {
							t.Fatal(err)
						}
						if cfg.Architecture != arch {
							t.Errorf("%s: config architecture %s in the %s archive", im.name, cfg.Architecture, arch)
						}
						for i, l := range m.Layers {
							if l.MediaType != types.DockerUncompressedLayer || l.Digest != cfg.RootFS.DiffIDs[i] {
								t.Errorf("%s: layer %d is %s %s, diff_id %s", im.name, i, l.MediaType, l.Digest, cfg.RootFS.DiffIDs[i])
							}
						}
					}
				})
			}
		}
	}
}

// archiveSources pushes the images an export test writes: an OCI index with
// attestations, a Docker manifest list and a single image, each under its own
// tag (skopeo finds an image of an oci: layout by its tag alone).
func archiveSources(t testing.TB, r *Registry, prefix string) (refs []string, digests []v1.Hash) {
	t.Helper()
	for i, fc := range fixtureCases {
		ref := r.Ref(fmt.Sprintf("%s/%s:t%d", prefix, fc.repo(), i))
		refs = append(refs, ref)
		digests = append(digests, pushFixture(t, r, ref, fc.opts, fc.single))
	}
	return refs, digests
}

// TestArchiveRoundTrip writes images into every kind of archive with the
// plugin and reads them back into a registry: every digest is the source's.
func TestArchiveRoundTrip(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	refs, digests := archiveSources(t, src, "rt")
	for _, target := range []string{"oci:layout", "oci-archive:images.tar", "oci-archive:images.tar.gz", "oci-archive:images.tar.zst"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			cli := NewCLI(t)
			dir := t.TempDir()
			l, _ := location.Parse(target)
			archivePath := filepath.Join(dir, l.Path)
			where := string(l.Transport) + ":" + archivePath
			res := cli.RunDocker(t, append(append([]string{"migrate"}, refs...), where)...).AssertSuccess(t)
			if n := strings.Count(res.Stdout, "\n"); n != len(refs) {
				t.Errorf("%d result lines, want %d:\n%s", n, len(refs), res.Stdout)
			}
			if l.Transport != location.OCIDir {
				assertFiles(t, dir, l.Path)
			}
			a := openArchiveT(t, where)
			for i, ref := range refs {
				desc, err := a.Repository(repoOf(t, ref)).HeadManifest(context.Background(), tagOf(ref))
				if err != nil || desc.Digest != digests[i] {
					t.Errorf("%s in the archive: %v %v, want %s", ref, desc.Digest, err, digests[i])
				}
			}

			prefix := dst.Host + "/" + strings.NewReplacer(":", "-", ".", "-").Replace(l.Path)
			res = cli.RunDocker(t, "migrate", where, prefix).AssertSuccess(t)
			for i, ref := range refs {
				path := strings.TrimPrefix(ref, src.Host+"/")
				assertDigest(t, dst, prefix+"/"+path, digests[i])
				assertComplete(t, dst, prefix+"/"+path)
			}
			t.Run("again adds nothing", func(t *testing.T) {
				if l.Transport != location.OCIDir {
					t.Skip("a file is replaced, not added to")
				}
				before := blobCount(t, archivePath)
				cli.RunDocker(t, append(append([]string{"migrate"}, refs...), where)...).AssertSuccess(t)
				if after := blobCount(t, archivePath); after != before {
					t.Errorf("%d blobs, then %d", before, after)
				}
			})
		})
	}
}

func blobCount(t testing.TB, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestArchiveConsumers has tools no one here wrote read what the plugin
// writes: containerd imports the OCI archive (as k3s does) with every image
// under its name and all platforms; skopeo reads oci-archive: and oci:
// entries by tag; dockerd 20.10 loads the single-platform docker-archive, and
// the OCI archive's manifest.json.
func TestArchiveConsumers(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	refs, digests := archiveSources(t, src, "consumers")
	cli := NewCLI(t)
	dir := t.TempDir()
	tarFile := filepath.Join(dir, "images.tar.zst")
	cli.RunDocker(t, append(append([]string{"migrate"}, refs...), "oci-archive:"+tarFile)...).AssertSuccess(t)
	layout := filepath.Join(dir, "layout")
	cli.RunDocker(t, append(append([]string{"migrate"}, refs...), "oci:"+layout)...).AssertSuccess(t)

	t.Run("ctr images import", func(t *testing.T) {
		t.Parallel()
		c := startContainerd(t)
		plain := filepath.Join(t.TempDir(), "images.tar")
		runTool(t, nil, "zstd", "-q", "-d", tarFile, "-o", plain)
		c.ctr(t, "k8s.io", "images", "import", "--all-platforms", plain)
		got := c.images(t, "k8s.io")
		for i, ref := range refs {
			im, ok := got[ref]
			if !ok {
				t.Errorf("%s not imported; containerd has %v", ref, got)
				continue
			}
			if im.digest != digests[i] {
				t.Errorf("%s imported as %s, want %s", ref, im.digest, digests[i])
			}
			if fixtureCases[i].single {
				continue
			}
			wantPlatforms := len(fixtureCases[i].opts.Platforms)
			if n := len(strings.Split(im.platforms, ",")); n < wantPlatforms {
				t.Errorf("%s imported with platforms %s, want %d", ref, im.platforms, wantPlatforms)
			}
			check := c.ctr(t, "k8s.io", "images", "check", "name=="+ref)
			if !strings.Contains(check, "complete") || strings.Contains(check, "incomplete") {
				t.Errorf("ctr images check %s:\n%s", ref, check)
			}
		}
	})

	t.Run("skopeo", func(t *testing.T) {
		t.Parallel()
		needTool(t, "skopeo", "skopeo")
		for i, ref := range refs {
			if fixtureCases[i].opts.Docker {
				// skopeo (containers/image) looks only at OCI media types in
				// index.json; a Docker manifest list stays byte for byte.
				continue
			}
			want := fetchRaw(t, src, ref)
			for _, where := range []string{"oci-archive:" + tarFile + ":" + tagOf(ref), "oci:" + layout + ":" + tagOf(ref)} {
				raw := runTool(t, nil, "skopeo", "inspect", "--raw", where)
				if raw != string(want) {
					t.Errorf("skopeo inspect --raw %s:\n%s\nwant\n%s", where, raw, want)
				}
				runTool(t, nil, "skopeo", "inspect", where)
			}
		}
	})

	t.Run("docker load", func(t *testing.T) {
		t.Parallel()
		engine := NewCLI(t).WithEngine(startEngine(t))
		single := filepath.Join(t.TempDir(), "single.tar")
		cli.RunDocker(t, "migrate", refs[2], "docker-archive:"+single).AssertSuccess(t)
		res := engine.RunDocker(t, "load", "-i", single).AssertSuccess(t)
		if !strings.Contains(res.Stdout, "Loaded image: "+refs[2]) {
			t.Errorf("docker load:\n%s", res.Stdout)
		}
		img := fixtureImage(t, fixtureCases[2].opts, 0, true)
		assertLoaded(t, engine, refs[2], img)

		// One platform of an index, as --platform picks it.
		arm := filepath.Join(t.TempDir(), "arm64.tar.gz")
		cli.RunDocker(t, "migrate", "--platform", "linux/arm64", refs[0], "docker-archive:"+arm).AssertSuccess(t)
		engine.RunDocker(t, "load", "-i", arm).AssertSuccess(t)
		assertLoaded(t, engine, refs[0], fixtureImage(t, fixtureCases[0].opts, 1, false))

		// The OCI archive's manifest.json: the host's platform of each image.
		plain := filepath.Join(t.TempDir(), "images.tar")
		runTool(t, nil, "zstd", "-q", "-d", tarFile, "-o", plain)
		engine.RunDocker(t, "rmi", refs[0], refs[2]).AssertSuccess(t)
		engine.RunDocker(t, "load", "-i", plain).AssertSuccess(t)
		assertLoaded(t, engine, refs[0], fixtureImage(t, fixtureCases[0].opts, 0, false))
		assertLoaded(t, engine, refs[1], fixtureImage(t, fixtureCases[1].opts, 0, false))
		engine.RunDocker(t, "rmi", refs[0], refs[1], refs[2]).AssertSuccess(t)
	})
}

// fixtureImage is platform i of a fixture (or the single image).
func fixtureImage(t testing.TB, opts fixture.Options, i int, single bool) v1.Image {
	t.Helper()
	if single {
		img, err := fixture.NewImage(opts)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	idx, err := fixture.NewIndex(opts)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[i].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// assertLoaded checks that the engine has ref as img: its ID is img's config
// digest.
func assertLoaded(t testing.TB, engine *CLI, ref string, img v1.Image) {
	t.Helper()
	cfg, _ := img.ConfigName()
	res := engine.RunDocker(t, "image", "inspect", "--format", "{{.Id}} {{.Architecture}}", ref).AssertSuccess(t)
	id, arch, _ := strings.Cut(strings.TrimSpace(res.Stdout), " ")
	cf, _ := img.ConfigFile()
	if id != cfg.String() || arch != cf.Architecture {
		t.Errorf("%s loaded as %s %s, want %s %s", ref, id, arch, cfg, cf.Architecture)
	}
}

// TestArchiveBadInput gives the plugin archives that are wrong: each is one
// sentence naming the file, exit 125 before anything moves, nothing pushed and
// no file left behind.
func TestArchiveBadInput(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	refs, _ := archiveSources(t, src, "bad")
	cli := NewCLI(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	cli.RunDocker(t, "migrate", refs[0], "oci-archive:"+good).AssertSuccess(t)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing", []string{"oci-archive:" + filepath.Join(dir, "missing.tar"), dst.Host + "/m"}, filepath.Join(dir, "missing.tar") + " does not exist"},
		{"truncated", []string{"oci-archive:" + file("truncated.tar", goodBytes[:len(goodBytes)/2]), dst.Host + "/m"}, "truncated.tar is truncated"},
		{"not a tar", []string{"oci-archive:" + file("text.tar", bytes.Repeat([]byte("text\n"), 300)), dst.Host + "/m"}, "text.tar is not a tar archive"},
		{"xz", []string{"docker-archive:" + file("images.tar.xz", []byte("\xfd7zXZ\x00\x00\x04rest")), dst.Host + "/m"}, "images.tar.xz is compressed with xz"},
		{"no target directory", []string{refs[0], "oci-archive:" + filepath.Join(dir, "nodir", "x.tar")}, "directory " + filepath.Join(dir, "nodir") + " does not exist"},
		{"target exists", []string{refs[0], "oci-archive:" + good}, good + " exists: pass --force to replace it"},
		{"same file", []string{"oci-archive:" + good, "docker-archive:" + good}, good},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := cli.RunDocker(t, append([]string{"migrate"}, c.args...)...).AssertExit(t, 125)
			if !strings.Contains(res.Stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, res.Stderr)
			}
			if res.Stdout != "" {
				t.Errorf("stdout is not empty: %q", res.Stdout)
			}
		})
	}
	if repos := catalogOf(t, dst); len(repos) != 0 {
		t.Errorf("bad input pushed %v", repos)
	}
	names := []string{"good.tar", "truncated.tar", "text.tar", "images.tar.xz"}
	assertFiles(t, dir, names...)
	if after, _ := os.ReadFile(good); !bytes.Equal(after, goodBytes) {
		t.Error("good.tar changed")
	}

	// A layer whose bytes do not match its digest: found while streaming,
	// before the tag is written.
	t.Run("damaged blob", func(t *testing.T) {
		layout := filepath.Join(t.TempDir(), "layout")
		cli.RunDocker(t, "migrate", refs[2], "oci:"+layout).AssertSuccess(t)
		img := fixtureImage(t, fixtureCases[2].opts, 0, true)
		layers, _ := img.Layers()
		d, _ := layers[1].Digest()
		p := filepath.Join(layout, "blobs", "sha256", d.Hex)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o644)
		res := cli.RunDocker(t, "migrate", "oci:"+layout, dst.Host+"/damaged").AssertExit(t, 1)
		if !strings.Contains(res.Stderr, d.String()) {
			t.Errorf("stderr does not name the blob %s:\n%s", d, res.Stderr)
		}
		path := strings.TrimPrefix(refs[2], src.Host+"/")
		assertAbsent(t, dst, dst.Host+"/damaged/"+path)
	})
}

// TestArchiveEntriesJSON keeps the index.json entry shape containerd, skopeo
// and docker 25 agree on: the full name in io.containerd.image.name, the tag in
// org.opencontainers.image.ref.name.
func TestArchiveEntriesJSON(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	refs, digests := archiveSources(t, src, "entries")
	layout := filepath.Join(t.TempDir(), "layout")
	NewCLI(t).RunDocker(t, append(append([]string{"migrate"}, refs...), "oci:"+layout)...).AssertSuccess(t)
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	byName := map[string]v1.Descriptor{}
	for _, m := range index.Manifests {
		byName[m.Annotations[archive.AnnotationImageName]] = m
	}
	for i, ref := range refs {
		m, ok := byName[ref]
		if !ok {
			t.Errorf("no entry named %s in %s", ref, b)
			continue
		}
		if m.Digest != digests[i] || m.Annotations[archive.AnnotationRefName] != tagOf(ref) {
			t.Errorf("entry %s: %s %v", ref, m.Digest, m.Annotations)
		}
	}
}

// TestArchiveInterrupted stops an export with Ctrl-C part way: exit 130, and
// nothing is left beside the target, neither a file that looks finished nor
// the temporary archive.
func TestArchiveInterrupted(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "arch-int/app", 8, 16<<10)
	slow := startQuirkProxy(t, src, quirk.Options{Delay: 25 * time.Millisecond})
	var refs []string
	for _, im := range images {
		refs = append(refs, slow.Ref(im.ref))
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "images.tar.zst")
	run := NewCLI(t).StartDocker(t, append(append([]string{"migrate", "-j", "1"}, refs...), "oci-archive:"+target)...)
	// Blobs go into the temporary archive as they arrive.
	if !waitFor(30*time.Second, func() bool { return tempArchiveSize(target) > 32<<10 }) {
		t.Fatalf("no blob arrived in the temporary archive:\n%s", run.Stderr())
	}
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	run.Wait(t, 30*time.Second).AssertExit(t, 130)
	assertFiles(t, dir)
}
