package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// The docker-daemon tests copy images into and out of real engines: the
// run's Debian dockerd 20.10 (the classic image store), and, where it is
// installed, Docker 29 with the containerd image store, reached over an ssh
// context. What arrived is read back with the docker CLI itself.

var daemonPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}

// engineImage is what `docker image inspect` says of an image.
type engineImage struct {
	ID           string
	RepoTags     []string
	Architecture string
	Os           string
	RootFS       struct{ Layers []string }
}

func inspectEngineImage(t testing.TB, c *CLI, ref string) (engineImage, bool) {
	t.Helper()
	res := c.RunDocker(t, "image", "inspect", ref)
	if res.ExitCode != 0 {
		return engineImage{}, false
	}
	var out []engineImage
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("docker image inspect %s: %v\n%s", ref, err, res.Stdout)
	}
	return out[0], true
}

// sourceDiffIDs reads the diff_ids of one platform of the index ref in r.
func sourceDiffIDs(t *testing.T, r *Registry, ref string, p v1.Platform) []string {
	t.Helper()
	return hashStrings(diffIDs(t, r, ref)[p.String()])
}

// TestDaemonFromRegistry loads a two-platform index from a registry into the
// classic-store engine: as a place (the image keeps its name), under a name,
// and for another platform; each time the engine's layers are the source's.
func TestDaemonFromRegistry(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("daemon/app:v1")
	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2101}, false)
	cli := NewCLI(t).WithEngine(startEngine(t))

	t.Run("place", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", ref, "docker-daemon:").AssertSuccess(t)
		if !strings.Contains(res.Stderr, "linux/amd64") {
			t.Errorf("stderr does not say which platform was loaded:\n%s", res.Stderr)
		}
		got, ok := inspectEngineImage(t, cli, ref)
		if !ok {
			t.Fatalf("%s is not in the engine", ref)
		}
		if want := sourceDiffIDs(t, reg, ref, daemonPlatforms[0]); !slices.Equal(got.RootFS.Layers, want) || got.Architecture != "amd64" {
			t.Errorf("engine holds %s %v, want amd64 %v", got.Architecture, got.RootFS.Layers, want)
		}
	})
	t.Run("named", func(t *testing.T) {
		cli.RunDocker(t, "migrate", ref, "docker-daemon:daemon-named:v2").AssertSuccess(t)
		if _, ok := inspectEngineImage(t, cli, "daemon-named:v2"); !ok {
			t.Fatalf("daemon-named:v2 is not in the engine")
		}
	})
	t.Run("platform", func(t *testing.T) {
		cli.RunDocker(t, "migrate", "--platform", "linux/arm64", ref, "docker-daemon:daemon-arm:v1").AssertSuccess(t)
		got, ok := inspectEngineImage(t, cli, "daemon-arm:v1")
		if !ok {
			t.Fatalf("daemon-arm:v1 is not in the engine")
		}
		if want := sourceDiffIDs(t, reg, ref, daemonPlatforms[1]); !slices.Equal(got.RootFS.Layers, want) || got.Architecture != "arm64" {
			t.Errorf("engine holds %s %v, want arm64 %v", got.Architecture, got.RootFS.Layers, want)
		}
	})
	t.Run("single-platform image of another platform", func(t *testing.T) {
		// As docker pull takes it: the engine's platform is only picked from an index.
		armRef := reg.Ref("daemon/arm-only:v1")
		pushFixture(t, reg, armRef, fixture.Options{Platforms: daemonPlatforms[1:], Seed: 2107}, true)
		cli.RunDocker(t, "migrate", armRef, "docker-daemon:").AssertSuccess(t)
		if got, ok := inspectEngineImage(t, cli, armRef); !ok || got.Architecture != "arm64" {
			t.Errorf("engine holds %+v", got)
		}
	})
	t.Run("two platforms refused", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--platform", "linux/amd64,linux/arm64", ref, "docker-daemon:daemon-two:v1").AssertExit(t, 125)
		if !strings.Contains(res.Stderr, "one platform") {
			t.Errorf("stderr:\n%s", res.Stderr)
		}
		if _, ok := inspectEngineImage(t, cli, "daemon-two:v1"); ok {
			t.Errorf("daemon-two:v1 is in the engine")
		}
	})
}

// registryImage reads the manifest and config of ref in r (one platform).
func registryImage(t testing.TB, r *Registry, ref string) (*v1.Manifest, *v1.ConfigFile) {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatalf("read %s: %v", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return m, cf
}

func hashStrings(hs []v1.Hash) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.String())
	}
	return out
}

// TestDaemonToRegistry reads an image that `docker pull` put into the
// classic-store engine and pushes it to a registry and into an archive: the
// layers arrive compressed, and their diff_ids are the source's.
func TestDaemonToRegistry(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("daemon/out-src:v1")
	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2102, LayersPerImage: 3, LayerSize: 1 << 20}, false)
	cli := NewCLI(t).WithEngine(startEngine(t))
	cli.RunDocker(t, "pull", ref).AssertSuccess(t)
	want := sourceDiffIDs(t, reg, ref, daemonPlatforms[0])

	t.Run("registry", func(t *testing.T) {
		dst := reg.Ref("daemon/out:v1")
		res := cli.RunDocker(t, "migrate", "docker-daemon:"+ref, dst).AssertSuccess(t)
		if !strings.HasPrefix(res.Stdout, dst+"@sha256:") {
			t.Errorf("stdout %q", res.Stdout)
		}
		m, cf := registryImage(t, reg, dst)
		if got := hashStrings(cf.RootFS.DiffIDs); !slices.Equal(got, want) {
			t.Errorf("diff_ids %v, want %v", got, want)
		}
		for _, l := range m.Layers {
			if !strings.Contains(string(l.MediaType), "gzip") && !strings.HasSuffix(string(l.MediaType), "tar.gzip") {
				t.Errorf("layer %s is %s, not compressed", l.Digest, l.MediaType)
			}
		}
	})
	t.Run("archive", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "out.tar")
		cli.RunDocker(t, "migrate", "docker-daemon:"+ref, "oci-archive:"+file).AssertSuccess(t)
		a := openArchiveT(t, "oci-archive:"+file)
		entries := a.Entries()
		if len(entries) != 1 || entries[0].Name.Name() != ref {
			t.Fatalf("archive holds %v", entries)
		}
		s := a.Repository(entries[0].Name.Context())
		m := checkImageBlobs(t, s, entries[0].Descriptor.Digest)
		rc, err := s.GetBlob(context.Background(), m.Config.Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		cf, err := v1.ParseConfigFile(rc)
		if err != nil {
			t.Fatal(err)
		}
		if got := hashStrings(cf.RootFS.DiffIDs); !slices.Equal(got, want) {
			t.Errorf("diff_ids %v, want %v", got, want)
		}
	})
	t.Run("list", func(t *testing.T) {
		list := filepath.Join(t.TempDir(), "images.txt")
		if err := os.WriteFile(list, []byte("docker-daemon:"+ref+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cli.RunDocker(t, "migrate", "-f", list, reg.Ref("listed")).AssertSuccess(t)
		if _, cf := registryImage(t, reg, reg.Ref("listed/daemon/out-src:v1")); !slices.Equal(hashStrings(cf.RootFS.DiffIDs), want) {
			t.Errorf("diff_ids %v, want %v", cf.RootFS.DiffIDs, want)
		}
	})
	t.Run("missing image", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "docker-daemon:daemon/none:v1", reg.Ref("daemon/none:v1")).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "has no image daemon/none:v1") {
			t.Errorf("stderr:\n%s", res.Stderr)
		}
	})
}

// farEngineBinary is the engine behind the ssh context: Docker 29 with the
// containerd image store when it is installed, else Debian's 20.10.
func farEngineBinary() string {
	if _, err := exec.LookPath("dockerd-29"); err == nil {
		return "dockerd-29"
	}
	return "dockerd"
}

// TestDaemonContexts copies into an engine reached only through an ssh
// docker context (docker-daemon@edge:), from a registry and from the local
// engine, and checks the sentences of a context that does not exist, an ssh
// login refused, and no engine at an address.
func TestDaemonContexts(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("daemon/ctx:v1")
	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2103, LayerSize: 64 << 10}, false)
	host := startSSHHost(t)
	farSock := startEngineBinary(t, farEngineBinary())
	cli := NewCLI(t).WithEngine(startEngine(t))
	cli.UseSSH(host)
	cli.RunDocker(t, "context", "create", "edge", "--docker", fmt.Sprintf("host=ssh://root@127.0.0.1:%d%s", host.Port, farSock)).AssertSuccess(t)
	cli.RunDocker(t, "context", "create", "refused", "--docker", fmt.Sprintf("host=ssh://nobody@127.0.0.1:%d%s", host.Port, farSock)).AssertSuccess(t)
	cli.RunDocker(t, "context", "create", "gone", "--docker", "host=unix:///nonexistent/gone.sock").AssertSuccess(t)
	far := func(args ...string) Result {
		return cli.RunDocker(t, append([]string{"--context", "edge"}, args...)...)
	}

	t.Run("registry to far engine", func(t *testing.T) {
		cli.RunDocker(t, "migrate", ref, "docker-daemon@edge:").AssertSuccess(t)
		if strings.Contains(far("info", "--format", "{{json .DriverStatus}}").AssertSuccess(t).Stdout, "io.containerd.snapshotter") {
			// The containerd store takes every platform: the source's index, byte for byte.
			got := strings.TrimSpace(far("image", "inspect", "--format", "{{.Descriptor.Digest}}", ref).AssertSuccess(t).Stdout)
			if want := registryDigest(t, reg, ref); got != want {
				t.Errorf("far engine holds %s, want the source's index %s", got, want)
			}
		}
		res := far("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).AssertSuccess(t)
		want := sourceDiffIDs(t, reg, ref, daemonPlatforms[0])
		var got []string
		if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil || !slices.Equal(got, want) {
			t.Errorf("far engine holds layers %s, want %v", res.Stdout, want)
		}
	})
	t.Run("current context over ssh", func(t *testing.T) {
		cli.RunDocker(t, "--context", "edge", "migrate", ref, "docker-daemon:daemon-current:v1").AssertSuccess(t)
		far("image", "inspect", "daemon-current:v1").AssertSuccess(t)
	})
	t.Run("engine to engine", func(t *testing.T) {
		cli.RunDocker(t, "pull", ref).AssertSuccess(t)
		cli.RunDocker(t, "migrate", "docker-daemon:"+ref, "docker-daemon@edge:daemon-copied:v1").AssertSuccess(t)
		res := far("image", "inspect", "--format", "{{json .RootFS.Layers}}", "daemon-copied:v1").AssertSuccess(t)
		want := sourceDiffIDs(t, reg, ref, daemonPlatforms[0])
		var got []string
		if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil || !slices.Equal(got, want) {
			t.Errorf("far engine holds layers %s, want %v", res.Stdout, want)
		}
		// And back, from the far engine into the local one under a new name.
		cli.RunDocker(t, "migrate", "docker-daemon@edge:daemon-copied:v1", "docker-daemon:daemon-back:v1").AssertSuccess(t)
		if got, ok := inspectEngineImage(t, cli, "daemon-back:v1"); !ok || !slices.Equal(got.RootFS.Layers, want) {
			t.Errorf("local engine holds %v, want %v", got.RootFS.Layers, want)
		}
	})
	for _, c := range []struct {
		name, dst string
		code      int
		want      string
	}{
		{"no such context", "docker-daemon@nosuch:", 125, `docker context "nosuch" does not exist`},
		{"ssh refused", "docker-daemon@refused:", 1, "ssh refused the connection"},
		{"no engine", "docker-daemon@gone:", 1, "no Docker engine answers at unix:///nonexistent/gone.sock"},
		{"bad context name", "docker-daemon@a/b:", 125, "no valid docker context"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := cli.RunDocker(t, "migrate", ref, c.dst).AssertExit(t, c.code)
			if !strings.Contains(res.Stderr, c.want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") > 0 {
				t.Errorf("stderr is not the one sentence %q:\n%s", c.want, res.Stderr)
			}
		})
	}
}

// TestDaemonInterrupted stops a load of several images with Ctrl-C part
// way: exit 130, and the engine holds none of the names, not even those of
// images whose blobs had all arrived (the names are the stream's last entry).
func TestDaemonInterrupted(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "daemon-int/app", 6, 16<<10)
	slow := startQuirkProxy(t, src, quirk.Options{Delay: 25 * time.Millisecond})
	var refs []string
	for _, im := range images {
		refs = append(refs, slow.Ref(im.ref))
	}
	cli := NewCLI(t).WithEngine(startEngine(t))
	run := cli.StartDocker(t, append(append([]string{"migrate", "-j", "1", "--progress", "plain"}, refs...), "docker-daemon:")...)
	if !waitFor(30*time.Second, func() bool { return strings.Count(run.Stderr(), " copied (") >= 4 }) {
		t.Fatalf("no blob arrived:\n%s", run.Stderr())
	}
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	run.Wait(t, 30*time.Second).AssertExit(t, 130)
	for _, r := range refs {
		if _, ok := inspectEngineImage(t, cli, r); ok {
			t.Errorf("%s is in the engine after an interrupted load", r)
		}
	}
}

// TestDaemonDryRunCheck: --dry-run says what would be loaded and loads
// nothing; --check tells an image that is in the engine with the source's
// layers from one that is not; --format json gives one object per image.
func TestDaemonDryRunCheck(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("daemon/check:v1")
	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2104}, false)
	cli := NewCLI(t).WithEngine(startEngine(t))

	res := cli.RunDocker(t, "migrate", "--dry-run", ref, "docker-daemon:daemon-dry:v1").AssertSuccess(t)
	if !strings.Contains(res.Stdout, "linux/amd64") {
		t.Errorf("the dry run does not say which platform would be loaded:\n%s", res.Stdout)
	}
	if _, ok := inspectEngineImage(t, cli, "daemon-dry:v1"); ok {
		t.Errorf("--dry-run loaded daemon-dry:v1")
	}
	res = cli.RunDocker(t, "migrate", "--check", ref, "docker-daemon:daemon-dry:v1").AssertExit(t, 1)
	if !strings.Contains(res.Stdout, "missing") {
		t.Errorf("--check of an absent image:\n%s", res.Stdout)
	}
	res = cli.RunDocker(t, "migrate", "--format", "json", ref, "docker-daemon:daemon-dry:v1").AssertSuccess(t)
	var out struct{ Destination, DestinationDigest string }
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || !strings.HasSuffix(out.Destination, "daemon-dry:v1") {
		t.Errorf("--format json: %v\n%s", err, res.Stdout)
	}
	res = cli.RunDocker(t, "migrate", "--check", ref, "docker-daemon:daemon-dry:v1").AssertSuccess(t)
	if !strings.Contains(res.Stdout, "same-content") && !strings.Contains(res.Stdout, "equal") {
		t.Errorf("--check of a loaded image:\n%s", res.Stdout)
	}
}

// TestDaemonContainerd copies into and out of Docker 29 with the containerd
// image store: every platform in one load (the image keeps the source's
// index digest), --platform for a subset, and back out to a registry, where
// the index arrives byte for byte.
func TestDaemonContainerd(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("daemon/c8d:v1")
	digest := pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2106}, false)
	sock := startEngineBinary(t, "dockerd-29")
	cli := NewCLI(t)
	cli.RunDocker(t, "context", "create", "c8d", "--docker", "host=unix://"+sock).AssertSuccess(t)
	c8d := func(args ...string) Result { return cli.RunDocker(t, append([]string{"--context", "c8d"}, args...)...) }
	descriptor := func(ref string) string {
		return strings.TrimSpace(c8d("image", "inspect", "--format", "{{.Descriptor.Digest}}", ref).AssertSuccess(t).Stdout)
	}

	t.Run("every platform", func(t *testing.T) {
		cli.RunDocker(t, "migrate", ref, "docker-daemon@c8d:").AssertSuccess(t)
		if got := descriptor(ref); got != digest.String() {
			t.Errorf("engine holds %s, want the source's index %s", got, digest)
		}
		for _, p := range []string{"linux/amd64", "linux/arm64"} {
			c8d("save", "--platform", p, "-o", filepath.Join(t.TempDir(), "x.tar"), ref).AssertSuccess(t)
		}
	})
	t.Run("platform", func(t *testing.T) {
		cli.RunDocker(t, "migrate", "--platform", "linux/arm64", ref, "docker-daemon@c8d:daemon-c8d-arm:v1").AssertSuccess(t)
		c8d("save", "--platform", "linux/arm64", "-o", filepath.Join(t.TempDir(), "x.tar"), "daemon-c8d-arm:v1").AssertSuccess(t)
		if got := descriptor("daemon-c8d-arm:v1"); got == digest.String() {
			t.Errorf("a one-platform load kept the two-platform index %s", got)
		}
	})
	t.Run("out with one platform pulled", func(t *testing.T) {
		// docker pull fetches one platform of an index: the save gives that one.
		part := reg.Ref("daemon/c8d-part:v1")
		pushFixture(t, reg, part, fixture.Options{Platforms: daemonPlatforms, Seed: 2108}, false)
		c8d("pull", "--platform", "linux/arm64", part).AssertSuccess(t)
		dst := reg.Ref("daemon/c8d-part-out:v1")
		cli.RunDocker(t, "migrate", "docker-daemon@c8d:"+part, dst).AssertSuccess(t)
		_, cf := registryImage(t, reg, dst)
		if cf.Architecture != "arm64" || !slices.Equal(hashStrings(cf.RootFS.DiffIDs), sourceDiffIDs(t, reg, part, daemonPlatforms[1])) {
			t.Errorf("%s holds %s %v", dst, cf.Architecture, cf.RootFS.DiffIDs)
		}
	})
	t.Run("out to a registry", func(t *testing.T) {
		dst := reg.Ref("daemon/c8d-out:v1")
		res := cli.RunDocker(t, "migrate", "docker-daemon@c8d:"+ref, dst).AssertSuccess(t)
		if want := dst + "@" + digest.String(); strings.TrimSpace(res.Stdout) != want {
			t.Errorf("stdout %q, want %q (the index byte for byte)", res.Stdout, want)
		}
	})
}

// registryDigest is the digest ref points to in r.
func registryDigest(t testing.TB, r *Registry, ref string) string {
	t.Helper()
	d, ok := headDigest(t, r, ref)
	if !ok {
		t.Fatalf("%s is not in the registry", ref)
	}
	return d.String()
}

// TestDaemonBadNames: a docker-daemon location that cannot be right is one
// sentence and exit 125, before any engine or registry is asked.
func TestDaemonBadNames(t *testing.T) {
	t.Parallel()
	cli := NewCLI(t) // DOCKER_HOST points nowhere: nothing may be reached
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"engine SRC without a name", []string{"docker-daemon:", "localhost:5000/x"}, "names no image"},
		{"invalid DST name", []string{"localhost:5000/x:v1", "docker-daemon:Bad/Name"}, "invalid image name in DST"},
		{"DST digest", []string{"localhost:5000/x:v1", "docker-daemon:x@sha256:" + strings.Repeat("a", 64)}, "give a tag, not a digest"},
		{"context without a name part", []string{"localhost:5000/x:v1", "docker-daemon@edge"}, "names no image after the context"},
		{"list line without a name", []string{"-f", "-", "docker-daemon:"}, "names no image"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var res Result
			if c.args[0] == "-f" {
				res = cli.RunDockerStdin(t, "docker-daemon:\n", append([]string{"migrate"}, c.args...)...)
			} else {
				res = cli.RunDocker(t, append([]string{"migrate"}, c.args...)...)
			}
			res.AssertExit(t, 125)
			if !strings.Contains(res.Stderr, c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, res.Stderr)
			}
		})
	}
}

// TestDaemonBatch loads several images that share a base layer into the
// engine in one run, from a list: each under its name, the shared layer sent
// once.
func TestDaemonBatch(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "daemon-batch/app", 4, 16<<10)
	var lines []string
	for _, im := range images {
		lines = append(lines, src.Ref(im.ref))
	}
	cli := NewCLI(t).WithEngine(startEngine(t))
	res := cli.RunDocker(t, "migrate", "--format", "json", "-f", writeList(t, "images.txt", lines...), "docker-daemon:").AssertSuccess(t)
	copied := blobsCopied(t, res.Stdout)
	for _, r := range lines {
		if _, ok := inspectEngineImage(t, cli, r); !ok {
			t.Errorf("%s is not in the engine", r)
		}
	}
	// Each image's config and own layer, and the base layer they share once.
	if copied != 1+2*len(images) {
		t.Errorf("%d blobs copied for %d images sharing a base layer, want %d", copied, len(images), 1+2*len(images))
	}
	// Again: every image is in the engine already, and nothing is loaded.
	res = cli.RunDocker(t, "migrate", "--format", "json", "-f", writeList(t, "images.txt", lines...), "docker-daemon:").AssertSuccess(t)
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		var r struct{ UpToDate bool }
		if err := json.Unmarshal([]byte(l), &r); err != nil || !r.UpToDate {
			t.Errorf("a second run's line is not up to date: %v\n%s", err, l)
		}
	}

	t.Run("out", func(t *testing.T) {
		// Out of the engine into a registry, the saves streamed at once:
		// the base layer the images share is sent once (the batch's
		// ledger, then a mount), each image's own layer and config once.
		dst := startRegistry(t, registryOptions{})
		proxy := startQuirkProxy(t, dst, quirk.Options{})
		cli.SetEnv("XDG_CACHE_HOME", t.TempDir())
		var outLines []string
		for _, r := range lines {
			outLines = append(outLines, "docker-daemon:"+r)
		}
		res := cli.RunDocker(t, "migrate", "--format", "json", "-f", writeList(t, "out.txt", outLines...), proxy.Host+"/out").AssertSuccess(t)
		if copied := blobsCopied(t, res.Stdout); copied != 1+2*len(images) {
			t.Errorf("%d blobs copied out of the engine for %d images sharing a base layer, want %d\n%s", copied, len(images), 1+2*len(images), res.Stdout)
		}
		// Five layers of 16 KiB (random: gzip does not shrink them) and
		// four configs; the base sent twice would be 16 KiB more.
		if sent := proxy.Stats().UploadedBytes; sent > 5*(16<<10)+12<<10 {
			t.Errorf("%d bytes uploaded; the shared base was sent more than once", sent)
		}
	})
}

// blobsCopied adds up blobs.copied over the lines of a --format json run.
func blobsCopied(t *testing.T, stdout string) int {
	t.Helper()
	copied := 0
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r struct{ Blobs struct{ Copied int } }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		copied += r.Blobs.Copied
	}
	return copied
}

// loadEvents counts the engine's load events for the image id or the name
// (`docker events`, which every engine keeps for a while): how many times
// the image was loaded.
func loadEvents(t testing.TB, docker func(args ...string) Result, id, name string) int {
	t.Helper()
	until := fmt.Sprint(time.Now().Unix() + 1)
	res := docker("events", "--since", "1", "--until", until, "--filter", "event=load", "--format", "{{json .Actor}}").AssertSuccess(t)
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		var actor struct {
			ID         string
			Attributes map[string]string
		}
		if l == "" || json.Unmarshal([]byte(l), &actor) != nil {
			continue
		}
		if actor.ID == id || strings.Contains(actor.Attributes["name"], name) {
			n++
		}
	}
	return n
}

// reRunIntoEngine runs a copy into an engine three times: again, which is up
// to date and loads nothing; with a changed source and -n, refused; then
// without -n, loaded. dst is the location, docker runs the CLI against that
// engine.
func reRunIntoEngine(t *testing.T, cli *CLI, reg *Registry, docker func(args ...string) Result, dst, engineName string, flags ...string) {
	t.Helper()
	migrate := func(args ...string) Result {
		return cli.RunDocker(t, append(append([]string{"migrate"}, flags...), args...)...)
	}
	ref := reg.Ref("daemon/again:v1")
	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2111}, false)
	migrate(ref, dst).AssertSuccess(t)
	id := func() string {
		return strings.TrimSpace(docker("image", "inspect", "--format", "{{.ID}}", engineName).AssertSuccess(t).Stdout)
	}
	first := id()
	loads := loadEvents(t, docker, first, engineName)
	if loads == 0 {
		t.Fatalf("no load event for %s", engineName)
	}

	res := migrate("--format", "json", ref, dst).AssertSuccess(t)
	var out struct {
		UpToDate bool
		Blobs    struct{ Copied int }
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || !out.UpToDate || out.Blobs.Copied != 0 {
		t.Errorf("a second run is not up to date: %v\n%s", err, res.Stdout)
	}
	res = migrate("-n", ref, dst).AssertSuccess(t)
	if !strings.Contains(res.Stderr, "up to date") {
		t.Errorf("the summary does not say up to date:\n%s", res.Stderr)
	}
	res = migrate("--dry-run", ref, dst).AssertSuccess(t)
	if !strings.Contains(res.Stdout, "up to date") {
		t.Errorf("the dry run does not say up to date:\n%s", res.Stdout)
	}
	if n := loadEvents(t, docker, first, engineName); n != loads || id() != first {
		t.Errorf("the second runs loaded the image again (%d loads, were %d)", n, loads)
	}

	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2112}, false)
	res = migrate("-n", ref, dst).AssertExit(t, 1)
	if !strings.Contains(res.Stderr, "--no-clobber") || id() != first {
		t.Errorf("-n replaced %s or did not say why not:\n%s", engineName, res.Stderr)
	}
	migrate(ref, dst).AssertSuccess(t)
	if id() == first {
		t.Errorf("a changed source was not loaded into %s", engineName)
	}
}

// TestDaemonAgain copies the same image into an engine twice: the second
// run finds it there by content and loads nothing; a changed source is
// loaded, and refused by -n.
func TestDaemonAgain(t *testing.T) {
	t.Parallel()
	t.Run("classic store", func(t *testing.T) {
		t.Parallel()
		reg := startRegistry(t, registryOptions{})
		cli := NewCLI(t).WithEngine(startEngine(t))
		docker := func(args ...string) Result { return cli.RunDocker(t, args...) }
		reRunIntoEngine(t, cli, reg, docker, "docker-daemon:daemon-again:v1", "daemon-again:v1")
	})
	t.Run("containerd store", func(t *testing.T) {
		t.Parallel()
		reg := startRegistry(t, registryOptions{})
		sock := startEngineBinary(t, "dockerd-29")
		cli := NewCLI(t)
		cli.RunDocker(t, "context", "create", "c8d", "--docker", "host=unix://"+sock).AssertSuccess(t)
		docker := func(args ...string) Result { return cli.RunDocker(t, append([]string{"--context", "c8d"}, args...)...) }
		reRunIntoEngine(t, cli, reg, docker, "docker-daemon@c8d:daemon-again:v1", "daemon-again:v1")
		t.Run("platform", func(t *testing.T) {
			reRunIntoEngine(t, cli, reg, docker, "docker-daemon@c8d:daemon-again-arm:v1", "daemon-again-arm:v1", "--platform", "linux/arm64")
		})
	})
}
