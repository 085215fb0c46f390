package e2e

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// Out of an engine into a registry, the save stream is read once: each layer
// is compressed and uploaded as it streams, nothing of it is spooled to
// $TMPDIR, and the tag is written last. These tests run the real docker CLI
// against Debian's dockerd 20.10 (a classic save: manifest.json last, layers
// uncompressed) and Docker 29 (the containerd store: an OCI layout, layers
// as the store holds them).

// streamCounts is the part of a --format json line these tests read.
type streamCounts struct {
	Blobs    struct{ Copied, Skipped int64 }
	Bytes    struct{ Copied, Skipped int64 }
	UpToDate bool
}

func jsonCounts(t *testing.T, res Result) streamCounts {
	t.Helper()
	var c streamCounts
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &c); err != nil {
		t.Fatalf("--format json: %v\n%s", err, res)
	}
	return c
}

// runWatchingTemp runs docker with TMPDIR an empty directory, and returns
// the run and the most the directory held at any time during it.
func runWatchingTemp(t *testing.T, cli *CLI, args ...string) (Result, int64) {
	t.Helper()
	tmp := t.TempDir()
	cli.SetEnv("TMPDIR", tmp)
	run := cli.StartDocker(t, args...)
	var peak atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			var n int64
			_ = filepath.WalkDir(tmp, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := d.Info(); err == nil {
						n += fi.Size()
					}
				}
				return nil
			})
			if n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	res := run.Wait(t, 5*time.Minute)
	close(stop)
	<-watched
	return res, peak.Load()
}

// streamOut copies an engine image to dst and checks what a streamed copy
// promises: exit 0, the image pullable, its diff_ids the source's, nothing in
// $TMPDIR, and every layer counted as copied with its bytes.
func streamOut(t *testing.T, cli *CLI, reg *Registry, proxy *quirk.Proxy, src, dst string, want []string, layers int) {
	t.Helper()
	res, peak := runWatchingTemp(t, cli, "migrate", "--format", "json", src, dst)
	res.AssertSuccess(t)
	pullableThrough(t, res, reg, proxy)
	if _, cf := registryImage(t, reg, dst); !slices.Equal(hashStrings(cf.RootFS.DiffIDs), want) {
		t.Errorf("diff_ids %v, want %v", cf.RootFS.DiffIDs, want)
	}
	// The configs are kept in memory: nothing at all is written there.
	if peak > 0 {
		t.Errorf("$TMPDIR held %d bytes during the run; the save should not be spooled", peak)
	}
	c := jsonCounts(t, res)
	if c.Blobs.Copied != int64(layers+1) || c.Bytes.Copied <= int64(layers)<<20 {
		t.Errorf("counts %+v; want %d blobs copied (the layers and the config), with their bytes", c, layers+1)
	}
}

// pullableThrough checks the images a run wrote through proxy, in reg.
func pullableThrough(t *testing.T, res Result, reg *Registry, proxy *quirk.Proxy) {
	t.Helper()
	res.Stdout = strings.ReplaceAll(res.Stdout, proxy.Host, reg.Host)
	assertPullableOutput(t, res, reg)
}

// runAgain copies src to repoTag through proxy when the repository holds
// every blob of the image already: nothing is uploaded, nothing counted as
// copied, and (when blobs is not -1) that many blobs counted as there.
func runAgain(t *testing.T, cli *CLI, reg *Registry, proxy *quirk.Proxy, src, repoTag string, blobs int64) {
	t.Helper()
	before := proxy.Stats()
	res := cli.RunDocker(t, "migrate", "--format", "json", src, proxy.Ref(repoTag)).AssertSuccess(t)
	pullableThrough(t, res, reg, proxy)
	after := proxy.Stats()
	if sent := after.UploadedBytes - before.UploadedBytes; sent > 64<<10 {
		t.Errorf("a run again uploaded %d bytes; the registry had every blob", sent)
	}
	if opened := after.UploadsOpened - before.UploadsOpened; opened > 0 {
		t.Errorf("a run again opened %d uploads; every blob was there", opened)
	}
	if c := jsonCounts(t, res); c.Blobs.Copied != 0 || (blobs >= 0 && c.Blobs.Skipped != blobs) {
		t.Errorf("counts %+v; want nothing copied, %d blobs there", c, blobs)
	}
}

// TestDaemonStreamOut is a classic-store engine (20.10) into a registry:
// streamed, then again (nothing uploaded), then interrupted mid-stream (no
// tag).
func TestDaemonStreamOut(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("stream/src:v1")
	// Incompressible layers of 2 MiB: a spool would show in $TMPDIR.
	pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2111, LayersPerImage: 3, LayerSize: 2 << 20, Base: "stream-base"}, false)
	cli := NewCLI(t).WithEngine(startEngine(t))
	cli.SetEnv("XDG_CACHE_HOME", t.TempDir())
	cli.RunDocker(t, "pull", ref).AssertSuccess(t)
	want := sourceDiffIDs(t, reg, ref, daemonPlatforms[0])

	proxy := startQuirkProxy(t, reg, quirk.Options{})
	dst := proxy.Ref("stream/out:v1")
	streamOut(t, cli, reg, proxy, "docker-daemon:"+ref, dst, want, 3)
	uploaded := proxy.Stats().UploadedBytes
	if uploaded < 3*2<<20 {
		t.Errorf("%d bytes uploaded for three 2 MiB layers", uploaded)
	}

	t.Run("again", func(t *testing.T) {
		// Another tag: the image is not up to date there, but every layer is.
		runAgain(t, cli, reg, proxy, "docker-daemon:"+ref, "stream/out:v2", 4)
	})

	t.Run("shared base", func(t *testing.T) {
		// Another image on the same base: only its own layers are sent.
		other := reg.Ref("stream/src2:v1")
		pushFixture(t, reg, other, fixture.Options{Platforms: daemonPlatforms, Seed: 2113, LayersPerImage: 3, LayerSize: 2 << 20, Base: "stream-base"}, false)
		cli.RunDocker(t, "pull", other).AssertSuccess(t)
		before := proxy.Stats()
		res := cli.RunDocker(t, "migrate", "--format", "json", "docker-daemon:"+other, proxy.Ref("stream/out2:v1")).AssertSuccess(t)
		pullableThrough(t, res, reg, proxy)
		sent := proxy.Stats().UploadedBytes - before.UploadedBytes
		if sent < 2*2<<20 || sent > 2*2<<20+256<<10 {
			t.Errorf("%d bytes uploaded for an image whose two own layers are 2 MiB each", sent)
		}
		if c := jsonCounts(t, res); c.Blobs.Copied != 3 || c.Blobs.Skipped != 1 {
			t.Errorf("counts %+v; want two layers and the config copied, the base there", c)
		}
	})

	t.Run("after docker push", func(t *testing.T) {
		// No record (another cache), but the tag holds the image docker
		// pushed, compressed its own way: its layers are found by the
		// config's diff_ids, and nothing is sent.
		pushed := reg.Ref("stream/pushed:v1")
		cli.RunDocker(t, "tag", ref, pushed).AssertSuccess(t)
		cli.RunDocker(t, "push", pushed).AssertSuccess(t)
		cli2 := NewCLI(t).WithEngine(startEngine(t))
		cli2.SetEnv("XDG_CACHE_HOME", t.TempDir())
		before := proxy.Stats()
		res := cli2.RunDocker(t, "migrate", "--format", "json", "docker-daemon:"+ref, proxy.Ref("stream/pushed:v1")).AssertSuccess(t)
		pullableThrough(t, res, reg, proxy)
		if sent := proxy.Stats().UploadedBytes - before.UploadedBytes; sent > 64<<10 {
			t.Errorf("%d bytes uploaded over the image docker pushed", sent)
		}
	})

	t.Run("stalled upload", func(t *testing.T) {
		// A streamed layer cannot be resumed: the image fails with a
		// sentence that says to run again, nothing is tagged, and a run
		// again (the registry well) completes.
		stall := startQuirkProxy(t, reg, quirk.Options{StallUploadAt: 1 << 20, StallUploadCount: 1})
		cli2 := NewCLI(t).WithEngine(startEngine(t))
		cli2.SetEnv("XDG_CACHE_HOME", t.TempDir())
		cli2.SetEnv("DOCKER_MIGRATE_STALL_TIMEOUT", "2s")
		target := stall.Ref("stream/stall:v1")
		res := cli2.RunDocker(t, "migrate", "docker-daemon:"+ref, target).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "a streamed upload cannot be resumed: run the command again") {
			t.Errorf("stderr does not say to run again:\n%s", res.Stderr)
		}
		if _, ok := headDigest(t, reg, reg.Ref("stream/stall:v1")); ok {
			t.Errorf("%s is tagged after a failed run", target)
		}
		res = cli2.RunDocker(t, "migrate", "docker-daemon:"+ref, target).AssertSuccess(t)
		pullableThrough(t, res, reg, stall)
	})

	t.Run("interrupted", func(t *testing.T) {
		cli2 := NewCLI(t).WithEngine(startEngine(t))
		interruptStream(t, cli2, reg, "docker-daemon:"+ref, "stream/int:v1")
	})

	t.Run("no clobber", func(t *testing.T) {
		// -n over a tag that holds another image is refused before the
		// save streams: no upload opened, the tag unchanged. Over the
		// same image it goes through, sending nothing.
		tagged, ok := headDigest(t, reg, reg.Ref("stream/out:v1"))
		if !ok {
			t.Fatal("stream/out:v1 is not tagged")
		}
		other := reg.Ref("stream/nc:v1")
		pushFixture(t, reg, other, fixture.Options{Platforms: daemonPlatforms, Seed: 2117, LayersPerImage: 2, LayerSize: 1 << 20}, false)
		cli.RunDocker(t, "pull", other).AssertSuccess(t)
		watch := startQuirkProxy(t, reg, quirk.Options{})
		res := cli.RunDocker(t, "migrate", "-n", "docker-daemon:"+other, watch.Ref("stream/out:v1")).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "--no-clobber") {
			t.Errorf("the refusal does not name -n:\n%s", res.Stderr)
		}
		if n := watch.Stats().UploadsOpened; n != 0 {
			t.Errorf("a refused -n run opened %d uploads", n)
		}
		if d, _ := headDigest(t, reg, reg.Ref("stream/out:v1")); d != tagged {
			t.Errorf("stream/out:v1 is %s after a refused run; want %s", d, tagged)
		}
		cli.RunDocker(t, "migrate", "-n", "docker-daemon:"+ref, watch.Ref("stream/out:v1")).AssertSuccess(t)
		if sent := watch.Stats().UploadedBytes; sent > 64<<10 {
			t.Errorf("-n over the same image uploaded %d bytes", sent)
		}
	})
}

// interruptStream starts a copy of src into repoTag of reg behind a slow
// link, interrupts it while the save streams, and checks that it exits 130
// with no tag written, saying that layers were being sent.
func interruptStream(t *testing.T, cli *CLI, reg *Registry, src, repoTag string) {
	t.Helper()
	slow := startQuirkProxy(t, reg, quirk.Options{Delay: 1500 * time.Millisecond})
	cli.SetEnv("XDG_CACHE_HOME", t.TempDir())
	target := slow.Ref(repoTag)
	run := cli.StartDocker(t, "migrate", "--progress", "plain", src, target)
	// Interrupted once a layer's upload has begun: mid-stream.
	if !waitFor(60*time.Second, func() bool { return slow.Stats().UploadsOpened > 0 }) {
		t.Fatalf("no upload began:\n%s", run.Stderr())
	}
	if !strings.Contains(run.Stderr(), "straight into") {
		t.Errorf("the layers were not streamed:\n%s", run.Stderr())
	}
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	res := run.Wait(t, 60*time.Second).AssertExit(t, 130)
	// The layers went up before any plan: the run says so, not that it
	// was being planned.
	if !strings.Contains(res.Stderr, "interrupted while its layers were being sent") || !strings.Contains(res.Stderr, "nothing is tagged at") {
		t.Errorf("the interrupt is not said as layers being sent:\n%s", res.Stderr)
	}
	if _, ok := headDigest(t, reg, reg.Ref(repoTag)); ok {
		t.Errorf("%s is tagged after an interrupted run", target)
	}
}

// TestEngine29StreamOut is a containerd-store engine (Docker 29) into a
// registry: its save is an OCI layout whose blobs go across as they are.
func TestEngine29StreamOut(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ref := reg.Ref("stream/c8d:v1")
	digest := pushFixture(t, reg, ref, fixture.Options{Platforms: daemonPlatforms, Seed: 2112, LayersPerImage: 3, LayerSize: 2 << 20}, false)
	sock := startEngineBinary(t, "dockerd-29")
	cli := NewCLI(t)
	cli.SetEnv("XDG_CACHE_HOME", t.TempDir())
	cli.RunDocker(t, "context", "create", "c8d", "--docker", "host=unix://"+sock).AssertSuccess(t)
	cli.RunDocker(t, "--context", "c8d", "pull", "--platform", "linux/amd64", ref).AssertSuccess(t)
	want := sourceDiffIDs(t, reg, ref, daemonPlatforms[0])

	proxy := startQuirkProxy(t, reg, quirk.Options{})
	dst := proxy.Ref("stream/c8d-out:v1")
	streamOut(t, cli, reg, proxy, "docker-daemon@c8d:"+ref, dst, want, 3)

	t.Run("whole index", func(t *testing.T) {
		cli.RunDocker(t, "--context", "c8d", "pull", "--platform", "linux/arm64", ref).AssertSuccess(t)
		res, peak := runWatchingTemp(t, cli, "migrate", "docker-daemon@c8d:"+ref, proxy.Ref("stream/c8d-all:v1"))
		res.AssertSuccess(t)
		if want := proxy.Ref("stream/c8d-all:v1") + "@" + digest.String(); strings.TrimSpace(res.Stdout) != want {
			t.Errorf("stdout %q, want %q (the index byte for byte)", res.Stdout, want)
		}
		pullableThrough(t, res, reg, proxy)
		if peak > 0 {
			t.Errorf("$TMPDIR held %d bytes during the run", peak)
		}
	})
	t.Run("again", func(t *testing.T) {
		// Both platforms are in the engine now, and in stream/c8d-all.
		// The children are there whole: their blobs are not counted.
		runAgain(t, cli, reg, proxy, "docker-daemon@c8d:"+ref, "stream/c8d-all:v2", -1)
	})
	t.Run("interrupted", func(t *testing.T) {
		interruptStream(t, cli, reg, "docker-daemon@c8d:"+ref, "stream/c8d-int:v1")
	})
}

// Out of a Docker 29 engine (an OCI layout save, its blobs named by digest),
// several images on one base into one registry in one run: their saves
// stream at once, the base blob they share is claimed by digest in the
// batch's ledger and sent once, the others wait for it (and say so), then
// mount it.
func TestEngine29StreamOutBatch(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "stream/batch", 4, 16<<10)
	sock := startEngineBinary(t, "dockerd-29")
	cli := NewCLI(t)
	cli.SetEnv("XDG_CACHE_HOME", t.TempDir())
	cli.RunDocker(t, "context", "create", "c8d", "--docker", "host=unix://"+sock).AssertSuccess(t)
	var lines []string
	for _, im := range images {
		ref := src.Ref(im.ref)
		cli.RunDocker(t, "--context", "c8d", "pull", "--platform", "linux/amd64", ref).AssertSuccess(t)
		lines = append(lines, "docker-daemon@c8d:"+ref)
	}
	dst := startRegistry(t, registryOptions{})
	proxy := startQuirkProxy(t, dst, quirk.Options{})
	res := cli.RunDocker(t, "migrate", "--progress", "plain", "--format", "json", "-f", writeList(t, "out.txt", lines...), proxy.Host+"/out").AssertSuccess(t)
	if copied := blobsCopied(t, res.Stdout); copied != 1+2*len(images) {
		t.Errorf("%d blobs copied out of the engine for %d images sharing a base layer, want %d\n%s", copied, len(images), 1+2*len(images), res.Stdout)
	}
	// Five layers of 16 KiB (random: gzip does not shrink them) and four
	// configs; the base sent twice would be 16 KiB more.
	if sent := proxy.Stats().UploadedBytes; sent > 5*(16<<10)+12<<10 {
		t.Errorf("%d bytes uploaded; the shared base was sent more than once\n%s", sent, res.Stderr)
	}
	// Each image that waited said so (the saves start at once, so they
	// usually all wait for the first; one that comes after finds the base).
	n := strings.Count(res.Stderr, ": waiting for its upload into "+proxy.Host+"/out/stream/batch")
	if n > len(images)-1 {
		t.Errorf("%d images said they wait for another's upload of the base, want at most %d\n%s", n, len(images)-1, res.Stderr)
	}
	t.Logf("%d of %d images waited for another's upload of the base", n, len(images))
}
