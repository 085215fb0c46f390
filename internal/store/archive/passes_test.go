package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// streamImage is one image as the files of an OCI layout, its layers large
// enough to be read from the stream rather than kept by the first pass.
type streamImage struct {
	files  map[string][]byte
	blobs  []string // the layers' file names
	layers []v1.Hash
	digest v1.Hash
}

func newStreamImage(t testing.TB, seed int64, layerSize int64) streamImage {
	t.Helper()
	img, err := fixture.NewImage(fixture.Options{LayerSize: layerSize, LayersPerImage: 3, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	si := streamImage{files: map[string][]byte{"oci-layout": []byte(layoutFile)}}
	raw, _ := img.RawManifest()
	si.digest, _ = img.Digest()
	si.files["blobs/sha256/"+si.digest.Hex] = raw
	cfg, _ := img.RawConfigFile()
	cfgName, _ := img.ConfigName()
	si.files["blobs/sha256/"+cfgName.Hex] = cfg
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		rc, _ := l.Compressed()
		b, _ := io.ReadAll(rc)
		name := "blobs/sha256/" + d.Hex
		si.files[name] = b
		si.blobs = append(si.blobs, name)
		si.layers = append(si.layers, d)
	}
	mt, _ := img.MediaType()
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
		MediaType: mt, Digest: si.digest, Size: int64(len(raw)),
		Annotations: map[string]string{"io.containerd.image.name": "docker.io/library/app:v1", "org.opencontainers.image.ref.name": "v1"},
	}}}
	si.files["index.json"], _ = json.Marshal(idx)
	return si
}

// writeOrdered writes files as a tar in order, compressed as c, and returns
// the file's path.
func writeOrdered(t testing.TB, dir, name string, c compression, order []string, files map[string][]byte) string {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, n := range order {
		b := files[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: int64(len(b)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	var out bytes.Buffer
	switch c {
	case gzipped:
		zw := gzip.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	case zstandard:
		zw, _ := zstd.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	default:
		out = raw
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// orderWith puts index.json after the first `before` layers, the other
// small files first.
func (si streamImage) orderWith(before int) []string {
	var order []string
	for n := range si.files {
		if !strings.HasPrefix(n, "blobs/") || !isLayer(si, n) {
			if n != "index.json" {
				order = append(order, n)
			}
		}
	}
	order = append(order, si.blobs[:before]...)
	order = append(order, "index.json")
	return append(order, si.blobs[before:]...)
}

func isLayer(si streamImage, n string) bool {
	for _, b := range si.blobs {
		if b == n {
			return true
		}
	}
	return false
}

func openStreamed(t testing.TB, file, tmp string) (*Archive, *streamFiles) {
	t.Helper()
	a := openArchive(t, loc(t, location.OCIArchive, file), false, Options{TempDir: tmp, Debugf: t.Logf})
	s, ok := a.files.(*streamFiles)
	if !ok {
		t.Fatalf("%s is read as %T, not as a stream", file, a.files)
	}
	return a, s
}

// readBlob reads blob d whole through the store and checks its digest.
func readBlob(ctx context.Context, s store.Store, d v1.Hash) error {
	rc, err := s.GetBlob(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, _, err := v1.SHA256(rc)
	if err != nil {
		return err
	}
	if got != d {
		return fmt.Errorf("blob %s read as %s", d, got)
	}
	return nil
}

// passesSoFar is how many passes after the first ran.
func passesSoFar(s *streamFiles) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.passes
}

// waitIdle waits (bounded) for the running pass to end: no goroutine left.
func waitIdle(t testing.TB, s *streamFiles) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a pass is still running 10 s after nothing more was wanted")
	}
}

// TestStreamedArchive reads a compressed archive with layers before and after
// index.json, gzip and zstd: opening it reads the stream once, and a copy
// that says which blobs it reads gets them all in one more pass, whatever
// order its readers ask in (here the reverse of the stream's, one at a time:
// the first blobs wait in TMPDIR), with temporary space within the
// archive's size and nothing left in TMPDIR.
func TestStreamedArchive(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 401, 1<<20)
	for _, c := range []compression{gzipped, zstandard} {
		for _, before := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s/%d-layers-before-index", c, before), func(t *testing.T) {
				t.Parallel()
				tmp := t.TempDir()
				file := writeOrdered(t, t.TempDir(), "images.tar."+string(c), c, si.orderWith(before), si.files)
				a, s := openStreamed(t, file, tmp)
				defer a.Close()
				s.stall = 20 * time.Millisecond
				repo := a.Repository(mustRepo(t, "app"))
				if _, _, err := repo.GetManifest(context.Background(), "v1"); err != nil {
					t.Fatal(err)
				}
				if n := passesSoFar(s); n != 0 {
					t.Fatalf("opening and reading the manifest took %d more passes, want none", n)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				repo.(store.Streamed).Expect(ctx, si.layers)
				for i := len(si.layers) - 1; i >= 0; i-- {
					if err := readBlob(ctx, repo, si.layers[i]); err != nil {
						t.Fatal(err)
					}
				}
				if n := passesSoFar(s); n != 1 {
					t.Errorf("the blobs took %d passes, want 1", n)
				}
				if s.peak == 0 || s.peak > s.budget {
					t.Errorf("%d bytes of temporary space, want some and no more than the archive's %d", s.peak, s.budget)
				}
				a.Close()
				assertOnly(t, tmp)
			})
		}
	}
}

// TestStreamedInOrder reads the blobs in the stream's order, one after the
// other, as the copy engine dispatches them: nothing waits in TMPDIR.
func TestStreamedInOrder(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 402, 300<<10)
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(len(si.layers)), si.files)
	a, s := openStreamed(t, file, t.TempDir())
	defer a.Close()
	repo := a.Repository(mustRepo(t, "app"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo.(store.Streamed).Expect(ctx, si.layers)
	for _, d := range si.layers {
		if err := readBlob(ctx, repo, d); err != nil {
			t.Fatal(err)
		}
	}
	if s.peak != 0 || passesSoFar(s) != 1 {
		t.Errorf("read in order: %d bytes of temporary space and %d passes, want 0 and 1", s.peak, passesSoFar(s))
	}
}

// TestStreamedLateRequest asks for a blob after the stream passed it, with
// nothing expected: another pass reads it.
func TestStreamedLateRequest(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 403, 300<<10)
	file := writeOrdered(t, t.TempDir(), "images.tar.gz", gzipped, si.orderWith(1), si.files)
	a, s := openStreamed(t, file, t.TempDir())
	defer a.Close()
	repo := a.Repository(mustRepo(t, "app"))
	ctx := context.Background()
	if err := readBlob(ctx, repo, si.layers[2]); err != nil {
		t.Fatal(err)
	}
	if err := readBlob(ctx, repo, si.layers[0]); err != nil {
		t.Fatal(err)
	}
	if n := passesSoFar(s); n != 2 {
		t.Errorf("%d passes, want 2: one per blob, the second asked for after the first pass went by it", n)
	}
	waitIdle(t, s)
}

// TestStreamedCancel cancels a copy in the middle of a pass: the reader says
// so, and no pass goes on for expectations nobody has any more.
func TestStreamedCancel(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 404, 2<<20)
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(0), si.files)
	tmp := t.TempDir()
	a, s := openStreamed(t, file, tmp)
	defer a.Close()
	repo := a.Repository(mustRepo(t, "app"))
	ctx, cancel := context.WithCancel(context.Background())
	repo.(store.Streamed).Expect(ctx, si.layers)
	rc, err := repo.GetBlob(ctx, si.layers[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a read after the cancel: %v, want context.Canceled", err)
	}
	rc.Close()
	waitIdle(t, s)
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		t.Error("a pass runs on after the cancel")
	}
}

// TestStreamedStalledReader has the reader of an early blob stop reading
// while another waits for a later one (two blobs written into one archive
// take turns): the pass spools the rest of the first and goes on.
func TestStreamedStalledReader(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 405, 2<<20)
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(0), si.files)
	a, s := openStreamed(t, file, t.TempDir())
	s.stall = 20 * time.Millisecond
	defer a.Close()
	repo := a.Repository(mustRepo(t, "app"))
	ctx := context.Background()
	first, err := repo.GetBlob(ctx, si.layers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := readBlob(ctx, repo, si.layers[2]); err != nil {
		t.Fatal(err)
	}
	got, _, err := v1.SHA256(first)
	if err != nil || got != si.layers[0] {
		t.Fatalf("the stalled blob read as %s, %v", got, err)
	}
	if s.peak == 0 || passesSoFar(s) != 1 {
		t.Errorf("%d bytes spooled in %d passes, want some in 1", s.peak, passesSoFar(s))
	}
}

// TestStreamedBudget reads an archive whose blobs compress to almost nothing
// (docker save's uncompressed layers are like that) in the worst order: what
// would have to wait is more than the archive's size, so the rest is read in
// more passes, and temporary space stays within the archive's size.
func TestStreamedBudget(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{"oci-layout": []byte(layoutFile)}
	var names []string
	var ds []v1.Hash
	for i := range 4 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 1<<20)
		d, _, _ := v1.SHA256(bytes.NewReader(b))
		files["blobs/sha256/"+d.Hex] = b
		names = append(names, "blobs/sha256/"+d.Hex)
		ds = append(ds, d)
	}
	files["index.json"] = []byte(`{"schemaVersion":2,"manifests":[]}`)
	file := writeOrdered(t, t.TempDir(), "zeros.tar.zst", zstandard, append([]string{"oci-layout", "index.json"}, names...), files)
	tmp := t.TempDir()
	a, s := openStreamed(t, file, tmp)
	defer a.Close()
	s.stall = 20 * time.Millisecond
	repo := a.Repository(mustRepo(t, "app"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo.(store.Streamed).Expect(ctx, ds)
	for i := len(ds) - 1; i >= 0; i-- {
		if err := readBlob(ctx, repo, ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	if s.peak > s.budget {
		t.Errorf("%d bytes of temporary space, more than the archive's %d", s.peak, s.budget)
	}
	t.Logf("archive %d B, 4 MiB of blobs read in reverse: %d passes, peak temporary %d B", s.budget, passesSoFar(s), s.peak)
	a.Close()
	assertOnly(t, tmp)
}

// TestStreamedDamagedLayer reads a compressed archive one of whose layers is
// not its digest's bytes: the first pass found it, and reading it says so in
// one sentence.
func TestStreamedDamagedLayer(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 406, 300<<10)
	bad := bytes.Clone(si.files[si.blobs[1]])
	bad[len(bad)/2] ^= 0xff
	si.files[si.blobs[1]] = bad
	file := writeOrdered(t, t.TempDir(), "images.tar.gz", gzipped, si.orderWith(1), si.files)
	a, _ := openStreamed(t, file, t.TempDir())
	defer a.Close()
	repo := a.Repository(mustRepo(t, "app"))
	if _, _, err := repo.GetManifest(context.Background(), "v1"); err != nil {
		t.Fatal(err)
	}
	err := readBlob(context.Background(), repo, si.layers[1])
	msg := errdefs.Message(err)
	if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(msg, file) || !strings.Contains(msg, "is damaged") || strings.Contains(msg, "\n") {
		t.Errorf("reading the damaged layer: %v (kind %s), want one sentence that %s is damaged", err, errdefs.KindOf(err), file)
	}
	if err := readBlob(context.Background(), repo, si.layers[2]); err != nil {
		t.Errorf("a good layer after the damaged one: %v", err)
	}
}

// TestStreamedDockerSave reads a zstd docker save archive with layers large
// enough to be read from the stream, one of them gzip: its digest and
// diff_id are found by the first pass.
func TestStreamedDockerSave(t *testing.T) {
	t.Parallel()
	img, _ := fixture.NewImage(fixture.Options{LayerSize: 200 << 10, Seed: 407, Docker: true})
	b := saveTar(t, []v1.Image{img}, [][]string{{"app:v1"}}, true)
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	file := filepath.Join(t.TempDir(), "save.tar.zst")
	os.WriteFile(file, z.Bytes(), 0o644)
	a, _ := openStreamed(t, file, t.TempDir())
	defer a.Close()
	s := a.Repository(mustRepo(t, "app"))
	body, _, err := s.GetManifest(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	checkSaveManifest(t, body, img)
	m, _ := v1.ParseManifest(bytes.NewReader(body))
	layers, _ := img.Layers()
	for j, l := range layers {
		rc, _ := l.Uncompressed()
		if j == 1 {
			rc, _ = l.Compressed()
		}
		want, _ := io.ReadAll(rc)
		checkBlob(t, s, m.Layers[j].Digest, want)
	}
}

// TestStreamedCloseWhileReading closes the archive while a reader is in the
// middle of a blob: Close returns (no pass left running) and the reader
// fails rather than waits.
func TestStreamedCloseWhileReading(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 408, 2<<20)
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(0), si.files)
	tmp := t.TempDir()
	a, _ := openStreamed(t, file, tmp)
	rc, err := a.Repository(mustRepo(t, "app")).GetBlob(context.Background(), si.layers[1])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a reader in the middle of a blob")
	}
	if _, err := io.Copy(io.Discard, rc); err == nil {
		t.Error("a blob read on after its archive was closed")
	}
	assertOnly(t, tmp)
}

// TestStreamedIntoArchive copies the layers of a compressed archive into
// another archive file: the writer takes one blob at a time into its tar, and
// here the last blob of the stream takes that turn first and waits for the
// stream, while the stream reaches the others first and their readers wait
// for the turn. The stream spools what waits, and every blob arrives.
func TestStreamedIntoArchive(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 409, 10<<20)
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(0), si.files)
	a, s := openStreamed(t, file, t.TempDir())
	defer a.Close()
	s.stall = 20 * time.Millisecond
	src := a.Repository(mustRepo(t, "app"))
	out := openArchive(t, loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "out.tar")), true, Options{})
	defer out.Close()
	dst := out.Repository(mustRepo(t, "app"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src.(store.Streamed).Expect(ctx, si.layers)
	errs := make([]error, len(si.layers))
	done := make(chan int)
	copyLayer := func(i int, reading chan<- struct{}) {
		defer func() { done <- i }()
		rc, err := src.GetBlob(ctx, si.layers[i])
		if err != nil {
			errs[i] = err
			return
		}
		defer rc.Close()
		var body io.Reader = rc
		if reading != nil {
			body = &firstRead{r: rc, first: reading}
		}
		errs[i] = dst.PutBlob(ctx, si.layers[i], int64(len(si.files[si.blobs[i]])), body)
	}
	last := len(si.layers) - 1
	reading := make(chan struct{})
	go copyLayer(last, reading)
	<-reading // it holds the writer's turn: its first read comes under it
	for i := range last {
		go copyLayer(i, nil)
	}
	for range si.layers {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, d := range si.layers {
		checkBlob(t, dst, d, si.files[si.blobs[i]])
	}
	if s.peak == 0 || s.peak > s.budget {
		t.Errorf("%d bytes spooled, want some, and no more than the archive's %d", s.peak, s.budget)
	}
}

// firstRead closes first on its first Read.
type firstRead struct {
	r     io.Reader
	first chan<- struct{}
	once  sync.Once
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.first) })
	return f.r.Read(p)
}

// TestStreamedLayerCheckedInItsRead reads a zstd archive whose layers are
// named by their digests: the first pass hashes none of them (decompression
// only), a layer the copy reads is checked in that read, and one it does not
// read (at DST already) is checked by one more pass, which finds the others'
// digests too.
func TestStreamedLayerCheckedInItsRead(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 407, 300<<10)
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(1), si.files)
	a, s := openStreamed(t, file, t.TempDir())
	defer a.Close()
	for _, b := range si.blobs {
		if s.hasDigests(b) {
			t.Errorf("the first pass hashed %s, named by its digest", b)
		}
	}
	repo := a.Repository(mustRepo(t, "app"))
	if _, _, err := repo.GetManifest(context.Background(), "v1"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if err := readBlob(context.Background(), repo, si.layers[i]); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	waitIdle(t, s)
	if s.hasDigests(si.blobs[1]) {
		t.Errorf("layer 1 was hashed before anyone asked")
	}
	before := passesSoFar(s)
	if err := repo.(store.LayerChecker).CheckLayer(context.Background(), si.layers[1]); err != nil {
		t.Fatalf("checking the layer not read: %v", err)
	}
	waitIdle(t, s)
	if got := passesSoFar(s) - before; got != 1 {
		t.Errorf("checking a layer not read took %d passes, want 1", got)
	}
	for _, b := range si.blobs {
		if !s.hasDigests(b) {
			t.Errorf("the pass that checked layer 1 did not hash %s", b)
		}
	}
}

// TestStreamedWrongDiffID reads a zstd archive whose config gives a layer a
// diff_id it does not uncompress to: the read that uploads the layer fails
// before its end, and so does the check of a layer not read, with one
// sentence each.
func TestStreamedWrongDiffID(t *testing.T) {
	t.Parallel()
	si := newStreamImage(t, 408, 300<<10)
	withDiffID(t, &si, 1, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)})
	file := writeOrdered(t, t.TempDir(), "images.tar.zst", zstandard, si.orderWith(1), si.files)
	check := func(name string, read func(store.Store) error) {
		a, _ := openStreamed(t, file, t.TempDir())
		defer a.Close()
		repo := a.Repository(mustRepo(t, "app"))
		if _, _, err := repo.GetManifest(context.Background(), "v1"); err != nil {
			t.Fatal(err)
		}
		err := read(repo)
		msg := errdefs.Message(err)
		if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(msg, "uncompresses to") || strings.Contains(msg, "\n") {
			t.Errorf("%s: %v (kind %s), want one sentence that the layer uncompresses to another diff_id", name, err, errdefs.KindOf(err))
		}
	}
	check("the read", func(repo store.Store) error {
		rc, err := repo.GetBlob(context.Background(), si.layers[1])
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		if err != nil && n >= int64(len(si.files[si.blobs[1]])) {
			t.Errorf("the read handed on every byte (%d) before it failed", n)
		}
		return err
	})
	check("the check of a layer not read", func(repo store.Store) error {
		return repo.(store.LayerChecker).CheckLayer(context.Background(), si.layers[1])
	})
}

// withDiffID gives layer i of si the diff_id d in its config, and renames
// the config, manifest and index after it.
func withDiffID(t *testing.T, si *streamImage, i int, d v1.Hash) {
	t.Helper()
	var m v1.Manifest
	if err := json.Unmarshal(si.files["blobs/sha256/"+si.digest.Hex], &m); err != nil {
		t.Fatal(err)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(si.files["blobs/sha256/"+m.Config.Digest.Hex], &cfg); err != nil {
		t.Fatal(err)
	}
	delete(si.files, "blobs/sha256/"+m.Config.Digest.Hex)
	delete(si.files, "blobs/sha256/"+si.digest.Hex)
	cfg.RootFS.DiffIDs[i] = d
	cb, _ := json.Marshal(cfg)
	m.Config.Digest, m.Config.Size, _ = v1.SHA256(bytes.NewReader(cb))
	si.files["blobs/sha256/"+m.Config.Digest.Hex] = cb
	mb, _ := json.Marshal(m)
	si.digest, _, _ = v1.SHA256(bytes.NewReader(mb))
	si.files["blobs/sha256/"+si.digest.Hex] = mb
	var idx v1.IndexManifest
	if err := json.Unmarshal(si.files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	idx.Manifests[0].Digest, idx.Manifests[0].Size = si.digest, int64(len(mb))
	si.files["index.json"], _ = json.Marshal(idx)
}
