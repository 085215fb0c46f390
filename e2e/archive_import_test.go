package e2e

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/shaper"
)

// withTempDir makes the plugin's $TMPDIR dir (the last TMPDIR in the
// environment wins) and returns dir.
func withTempDir(t testing.TB, cli *CLI) string {
	t.Helper()
	dir := t.TempDir()
	cli.env = append(cli.env, "TMPDIR="+dir)
	return dir
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}

// writeTarInOrder writes the OCI layout at layout as a tar at file with
// index.json placed after the first blob, so that one blob comes before the
// index and the rest after it (the order tools other than ours may use). It
// returns the names in the order written.
func writeTarInOrder(t testing.TB, layout, file string) []string {
	t.Helper()
	blobs, err := filepath.Glob(filepath.Join(layout, "blobs", "sha256", "*"))
	if err != nil || len(blobs) < 2 {
		t.Fatalf("layout %s has blobs %v (%v), want at least 2", layout, blobs, err)
	}
	var names []string
	for _, b := range blobs {
		rel, _ := filepath.Rel(layout, b)
		names = append(names, filepath.ToSlash(rel))
	}
	slices.Sort(names)
	order := append([]string{"oci-layout", names[0], "index.json"}, names[1:]...)

	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, n := range order {
		src, err := os.Open(filepath.Join(layout, n))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := src.Stat()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: info.Size(), Mode: 0o644, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return order
}

// TestArchiveImportIndexMidTar imports archives whose tar holds a blob before
// index.json and the others after it, plain and compressed by the gzip and
// zstd tools: every image arrives whole at DST with the source's digest.
func TestArchiveImportIndexMidTar(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "mid/app", 2, 32<<10)
	cli := NewCLI(t)
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	cli.RunDocker(t, "migrate", src.Ref(images[0].ref), src.Ref(images[1].ref), "oci:"+layout).AssertSuccess(t)
	plain := filepath.Join(dir, "images.tar")
	order := writeTarInOrder(t, layout, plain)
	t.Logf("tar order: %s", strings.Join(order, " "))
	zst, gz := compressed(t, plain)

	for _, file := range []string{plain, gz, zst} {
		ext := strings.TrimPrefix(filepath.Base(file), "images")
		t.Run(ext, func(t *testing.T) {
			prefix := dst.Host + "/" + strings.ReplaceAll(ext[1:], ".", "-")
			res := cli.RunDocker(t, "migrate", "oci-archive:"+file, prefix).AssertSuccess(t)
			if n := assertPullableOutput(t, res, dst); n != len(images) {
				t.Errorf("%d images pulled, want %d:\n%s", n, len(images), res)
			}
			for _, im := range images {
				assertDigest(t, dst, prefix+"/"+im.ref, im.digest)
			}
		})
	}
}

// TestArchiveImportInterruptedThenRerun interrupts (SIGINT, as Ctrl-C does)
// an import half way, while its blobs crawl to a slow destination, and runs it
// again: exit 130 with no tag at DST and no decompressed copy left in
// $TMPDIR, then exit 0 with every image whole.
func TestArchiveImportInterruptedThenRerun(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	opts := fixture.Options{LayerSize: 2 << 20, LayersPerImage: 3, Seed: 221}
	digest := pushFixture(t, src, src.Ref("imp-int/app:v1"), opts, true)
	cli := NewCLI(t)
	for _, ext := range []string{".tar", ".tar.zst"} {
		t.Run(ext, func(t *testing.T) {
			// A registry of its own: the re-run has to upload, not mount.
			dst := startRegistry(t, registryOptions{})
			file := filepath.Join(t.TempDir(), "images"+ext)
			cli.RunDocker(t, "migrate", src.Ref("imp-int/app:v1"), "oci-archive:"+file).AssertSuccess(t)
			tmp := withTempDir(t, cli)
			link := shaper.Start(t, dst.Host, shaper.Options{Rate: shaper.Mbit(8)})
			slow := &Registry{Host: link.Host}
			repo := "int" + strings.ReplaceAll(ext, ".", "-")
			run := cli.StartDocker(t, "migrate", "-j", "1", "oci-archive:"+file, slow.Host+"/"+repo)
			if !waitFor(60*time.Second, func() bool { return link.Stats().Up > 3<<20 }) { // half of the 6 MiB
				t.Fatalf("the upload never got going:\n%s", run.Stderr())
			}
			if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			res := run.Wait(t, 30*time.Second).AssertExit(t, 130)
			if strings.TrimSpace(res.Stdout) != "" {
				t.Errorf("an interrupted import printed %q on stdout", res.Stdout)
			}
			to := dst.Ref(repo + "/imp-int/app:v1")
			if _, found := headDigest(t, dst, to); found {
				t.Errorf("an interrupted import tagged %s", to)
			}
			if n := dirSize(tmp); n != 0 {
				t.Errorf("an interrupted import left %d bytes in $TMPDIR", n)
			}

			res = cli.RunDocker(t, "migrate", "oci-archive:"+file, dst.Host+"/"+repo).AssertSuccess(t)
			assertPullableOutput(t, res, dst)
			assertDigest(t, dst, to, digest)
		})
	}
}

// TestArchiveImportTempSpace measures the temporary disk an import uses
// (the peak size of what the plugin writes under the $TMPDIR it is given)
// against the archive's size and the uncompressed tar's, and checks what
// docs/archives.md promises: none for a .tar, at most the uncompressed tar for
// a .tar.gz or .tar.zst, and nothing left once the run is over.
func TestArchiveImportTempSpace(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "tmp/app", 4, 1<<20)
	var refs []string
	for _, im := range images {
		refs = append(refs, src.Ref(im.ref))
	}
	cli := NewCLI(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "images.tar")
	cli.RunDocker(t, append(append([]string{"migrate"}, refs...), "oci-archive:"+plain)...).AssertSuccess(t)
	zst, gz := compressed(t, plain)
	tarSize := fileSize(t, plain)

	for _, file := range []string{plain, gz, zst} {
		ext := strings.TrimPrefix(filepath.Base(file), "images")
		t.Run(ext, func(t *testing.T) {
			// A registry of its own: every blob is uploaded, none mounted.
			dst := startRegistry(t, registryOptions{})
			tmp := withTempDir(t, cli)
			var peak atomic.Int64
			stop := make(chan struct{})
			polled := make(chan struct{})
			go func() {
				defer close(polled)
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					if n := dirSize(tmp); n > peak.Load() {
						peak.Store(n)
					}
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			prefix := dst.Host + "/" + strings.ReplaceAll(ext[1:], ".", "-")
			start := time.Now()
			res := cli.RunDocker(t, "migrate", "oci-archive:"+file, prefix).AssertSuccess(t)
			took := time.Since(start)
			close(stop)
			<-polled
			assertPullableOutput(t, res, dst)
			size := fileSize(t, file)
			t.Logf("%s: archive %d B, uncompressed tar %d B, peak temporary %d B (%.2f× the archive, %.2f× the tar), %s",
				ext, size, tarSize, peak.Load(), float64(peak.Load())/float64(size), float64(peak.Load())/float64(tarSize), took.Round(time.Millisecond))
			switch {
			case ext == ".tar" && peak.Load() != 0:
				t.Errorf("a plain tar used %d bytes of $TMPDIR, want none", peak.Load())
			case peak.Load() > tarSize:
				t.Errorf("%s used %d bytes of $TMPDIR, more than the uncompressed tar's %d", ext, peak.Load(), tarSize)
			}
			if n := dirSize(tmp); n != 0 {
				t.Errorf("%d bytes left in $TMPDIR after the run", n)
			}
		})
	}
}

func fileSize(t testing.TB, file string) int64 {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// runWithSmallTempDir runs docker with args in a mount namespace of its own
// where $TMPDIR (tmp) is a tmpfs of size bytes: the limit ends with the
// process, nothing is left mounted on the machine. What the run leaves in
// the tmpfs (visible only inside) fails it with exit 99.
func runWithSmallTempDir(t testing.TB, cli *CLI, tmp string, size int64, args ...string) Result {
	t.Helper()
	script := `mount -t tmpfs -o size="$1" tmpfs "$TMPDIR" || exit 98
shift; "$@"; rc=$?
left=$(ls -A "$TMPDIR"); if [ -n "$left" ]; then echo "left in \$TMPDIR: $left" >&2; exit 99; fi
exit $rc`
	return cli.run(t, "unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", fmt.Sprint(size), dockerBinary}, args...), "")
}

// TestArchiveImportSmallTempDir checks the temporary-space bound
// docs/archives.md gives for a compressed archive with a filesystem limit:
// with a $TMPDIR smaller than the uncompressed tar the import fails (exit 1),
// says where space ran out, tags nothing and leaves nothing; with room for the
// tar (and no more) it succeeds.
func TestArchiveImportSmallTempDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	needTool(t, "unshare", "util-linux")
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	opts := fixture.Options{LayerSize: 1 << 20, LayersPerImage: 3, Seed: 222}
	digest := pushFixture(t, src, src.Ref("small-tmp/app:v1"), opts, true)
	cli := NewCLI(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "images.tar")
	cli.RunDocker(t, "migrate", src.Ref("small-tmp/app:v1"), "oci-archive:"+plain).AssertSuccess(t)
	zst, _ := compressed(t, plain)
	tarSize := fileSize(t, plain)
	const page = 4096
	roomForTar := (tarSize + page - 1) / page * page

	tmp := withTempDir(t, cli)
	res := runWithSmallTempDir(t, cli, tmp, roomForTar/2, "migrate", "oci-archive:"+zst, dst.Host+"/half").AssertExit(t, 1)
	if !strings.Contains(res.Stderr, "no space left on device") || !strings.Contains(res.Stderr, tmp) || !strings.Contains(res.Stderr, "point TMPDIR at a file system with more room") {
		t.Errorf("the failure does not say that %s is full:\n%s", tmp, res.Stderr)
	}
	if _, found := headDigest(t, dst, dst.Ref("half/small-tmp/app:v1")); found {
		t.Error("an import that ran out of temporary space tagged its image")
	}

	res = runWithSmallTempDir(t, cli, tmp, roomForTar, "migrate", "oci-archive:"+zst, dst.Host+"/whole").AssertSuccess(t)
	assertPullableOutput(t, res, dst)
	assertDigest(t, dst, dst.Ref("whole/small-tmp/app:v1"), digest)
	t.Logf("tar %d B, archive %d B: a %d B $TMPDIR fails, a %d B one is enough", tarSize, fileSize(t, zst), roomForTar/2, roomForTar)
}
