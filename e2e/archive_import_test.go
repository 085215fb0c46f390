package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// tempInUse is the temporary space held under dir: its files, and the files
// a docker-migrate process holds open there after unlinking them (what a
// compressed archive spools is unlinked at once, so that a killed run leaves
// nothing, and takes its room all the same).
func tempInUse(dir string) int64 {
	n := dirSize(dir)
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		comm, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "docker-migrate" {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			link := filepath.Join("/proc", p.Name(), "fd", fd.Name())
			target, err := os.Readlink(link)
			if err != nil || !strings.HasPrefix(target, dir+"/") || !strings.HasSuffix(target, " (deleted)") {
				continue
			}
			if st, err := os.Stat(link); err == nil {
				n += st.Size()
			}
		}
	}
	return n
}

// peakTempInUse polls tempInUse(dir) until the returned stop is called,
// which returns the peak.
func peakTempInUse(dir string) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if n := tempInUse(dir); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-polled
		return peak.Load()
	}
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
// (the peak of what the plugin holds under the $TMPDIR it is given, unlinked
// files included) against the archive's size and the uncompressed tar's, and
// checks what docs/archives.md promises: none for a .tar, at most the
// archive's size for a .tar.gz or .tar.zst, and nothing left once the run is
// over.
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
			stop := peakTempInUse(tmp)
			prefix := dst.Host + "/" + strings.ReplaceAll(ext[1:], ".", "-")
			start := time.Now()
			res := cli.RunDocker(t, "migrate", "oci-archive:"+file, prefix).AssertSuccess(t)
			took := time.Since(start)
			peak := stop()
			assertPullableOutput(t, res, dst)
			size := fileSize(t, file)
			t.Logf("%s: archive %d B, uncompressed tar %d B, peak temporary %d B (%.2f× the archive, %.2f× the tar), %s",
				ext, size, tarSize, peak, float64(peak)/float64(size), float64(peak)/float64(tarSize), took.Round(time.Millisecond))
			switch {
			case ext == ".tar" && peak != 0:
				t.Errorf("a plain tar used %d bytes of $TMPDIR, want none", peak)
			case peak > size:
				t.Errorf("%s used %d bytes of $TMPDIR, more than the archive's %d", ext, peak, size)
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
// docs/archives.md gives for a compressed archive with a filesystem limit: a
// .tar.zst and a .tar.gz import whole with a $TMPDIR of 64 KiB, a small part
// of the archive (what waits is kept in memory or read again), and leave
// nothing there.
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
	zst, gz := compressed(t, plain)
	const room = 64 << 10
	tmp := withTempDir(t, cli)
	for _, file := range []string{zst, gz} {
		repo := strings.ReplaceAll(strings.TrimPrefix(filepath.Base(file), "images.tar."), ".", "-")
		res := runWithSmallTempDir(t, cli, tmp, room, "migrate", "oci-archive:"+file, dst.Host+"/"+repo).AssertSuccess(t)
		assertPullableOutput(t, res, dst)
		assertDigest(t, dst, dst.Ref(repo+"/small-tmp/app:v1"), digest)
		t.Logf("%s: tar %d B, archive %d B: imported with a %d B $TMPDIR", filepath.Base(file), fileSize(t, plain), fileSize(t, file), room)
	}
}

// writeDockerSave writes a docker save archive (dockerd 20.10's layout: a
// directory per layer holding layer.tar, uncompressed) of one image under
// repoTag, whose layers each hold layerSize bytes of text: they compress
// well, so the archive compressed is much smaller than its tar.
func writeDockerSave(t testing.TB, file, repoTag string, layers int, layerSize int) v1.Hash {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	var diffIDs []string
	var paths []string
	for i := range layers {
		var layer bytes.Buffer
		lw := tar.NewWriter(&layer)
		var text bytes.Buffer
		for j := 0; text.Len() < layerSize; j++ {
			fmt.Fprintf(&text, "layer %d line %d: the quick brown fox jumps over the lazy dog\n", i, j)
		}
		lw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("file%d.txt", i), Size: int64(text.Len()), Mode: 0o644, ModTime: time.Unix(0, 0)})
		lw.Write(text.Bytes())
		lw.Close()
		sum := sha256.Sum256(layer.Bytes())
		hexSum := hex.EncodeToString(sum[:])
		diffIDs = append(diffIDs, "sha256:"+hexSum)
		paths = append(paths, hexSum+"/layer.tar")
		add(hexSum+"/VERSION", []byte("1.0"))
		add(hexSum+"/layer.tar", layer.Bytes())
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	sum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	add(cfgName, cfg)
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{repoTag}, "Layers": paths}})
	add("manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// TestArchiveImportTempSpaceDockerSave imports a docker save archive of
// uncompressed layers that compress well, as .tar.gz and .tar.zst: the whole
// tar is many times the archive, and the temporary space the import holds is
// at most the archive's size.
func TestArchiveImportTempSpaceDockerSave(t *testing.T) {
	t.Parallel()
	cli := NewCLI(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "save.tar")
	writeDockerSave(t, plain, "tools/text:v1", 4, 4<<20)
	zst, gz := compressed(t, plain)
	tarSize := fileSize(t, plain)
	for _, file := range []string{gz, zst} {
		ext := strings.TrimPrefix(filepath.Base(file), "save")
		t.Run(ext, func(t *testing.T) {
			dst := startRegistry(t, registryOptions{})
			tmp := withTempDir(t, cli)
			stop := peakTempInUse(tmp)
			start := time.Now()
			res := cli.RunDocker(t, "migrate", "docker-archive:"+file, dst.Host+"/text").AssertSuccess(t)
			took := time.Since(start)
			peak := stop()
			assertPullableOutput(t, res, dst)
			size := fileSize(t, file)
			t.Logf("%s: archive %d B, uncompressed tar %d B, peak temporary %d B (%.2f× the archive), %s",
				ext, size, tarSize, peak, float64(peak)/float64(size), took.Round(time.Millisecond))
			if peak > size {
				t.Errorf("%s used %d bytes of $TMPDIR, more than the archive's %d", ext, peak, size)
			}
			if n := tempInUse(tmp); n != 0 {
				t.Errorf("%d bytes left in $TMPDIR after the run", n)
			}
		})
	}
	// --dry-run reads the first pass only.
	dst := startRegistry(t, registryOptions{})
	res := cli.RunDocker(t, "-D", "migrate", "--dry-run", "docker-archive:"+zst, dst.Host+"/dry").AssertSuccess(t)
	if !strings.Contains(res.Stderr, "passes over its stream: 1;") {
		t.Errorf("a dry run read the archive more than once:\n%s", res.Stderr)
	}
}

// TestArchiveImportDamagedBlob imports a .tar.gz whose uncompressed layer
// (docker save's kind, whose digest only the copy checks, as it streams in
// the second pass) is not its digest's bytes: exit 1, one sentence that
// names the blob, no tag.
func TestArchiveImportDamagedBlob(t *testing.T) {
	t.Parallel()
	cli := NewCLI(t)
	dst := startRegistry(t, registryOptions{})
	dir := t.TempDir()
	plain := filepath.Join(dir, "save.tar")
	writeDockerSave(t, plain, "tools/bad:v1", 2, 1<<20)
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	// The second layer's text, changed in place: the tar stays whole.
	at := bytes.LastIndex(b, []byte("layer 1 line 9000:"))
	if at < 0 {
		t.Fatal("no line to damage in the second layer")
	}
	b[at] = 'L'
	os.WriteFile(plain, b, 0o644)
	_, gz := compressed(t, plain)
	res := cli.RunDocker(t, "migrate", "docker-archive:"+gz, dst.Host+"/bad").AssertExit(t, 1)
	if !strings.Contains(res.Stderr, "digest") || !strings.Contains(res.Stderr, "save.tar.gz") {
		t.Errorf("the failure does not name the archive and the digest:\n%s", res.Stderr)
	}
	if _, found := headDigest(t, dst, dst.Ref("bad/tools/bad:v1")); found {
		t.Error("an import of a damaged archive tagged its image")
	}
	t.Logf("stderr:\n%s", res.Stderr)
}
