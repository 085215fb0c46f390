package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImages are what the tests write: an OCI index of two platforms with
// their attestation manifests, a Docker manifest list, and a single image.
type testImages struct {
	index, list v1.ImageIndex
	single      v1.Image
}

func newTestImages(t testing.TB, seed int64) testImages {
	t.Helper()
	two := fixture.EightPlatforms()[:2]
	index, err := fixture.NewIndex(fixture.Options{Platforms: two, Attestations: true, LayerSize: 3000, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	list, err := fixture.NewIndex(fixture.Options{Platforms: fixture.EightPlatforms()[2:4], Docker: true, LayerSize: 3000, Seed: seed + 1})
	if err != nil {
		t.Fatal(err)
	}
	single, err := fixture.NewImage(fixture.Options{LayerSize: 3000, Seed: seed + 2})
	if err != nil {
		t.Fatal(err)
	}
	return testImages{index: index, list: list, single: single}
}

func mustRepo(t testing.TB, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loc(t testing.TB, transport location.Transport, path string) location.Location {
	t.Helper()
	l, err := location.Parse(string(transport) + ":" + path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func openArchive(t testing.TB, l location.Location, write bool, opts Options) *Archive {
	t.Helper()
	a, err := Open(context.Background(), l, write, opts)
	if err != nil {
		t.Fatalf("open %s (write %v): %v", l, write, err)
	}
	return a.(*Archive)
}

// putImage writes an image's blobs and its manifest under ref, as the index
// strategy does.
func putImage(t testing.TB, s store.Store, ref string, img v1.Image) {
	t.Helper()
	ctx := context.Background()
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBlob(ctx, cfg, int64(len(raw)), bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutBlob(ctx, d, size, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	body, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	if ref == "" {
		d, _ := img.Digest()
		ref = d.String()
	}
	if err := s.PutManifest(ctx, ref, mt, body); err != nil {
		t.Fatal(err)
	}
}

// putIndex writes an index: children by digest, then the index under tag.
func putIndex(t testing.TB, s store.Store, tag string, idx v1.ImageIndex) {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		putImage(t, s, "", img)
	}
	body, _ := idx.RawManifest()
	mt, _ := idx.MediaType()
	if err := s.PutManifest(context.Background(), tag, mt, body); err != nil {
		t.Fatal(err)
	}
}

// checkImage reads an image back by digest and compares every byte.
func checkImage(t testing.TB, s store.Store, img v1.Image) {
	t.Helper()
	ctx := context.Background()
	d, _ := img.Digest()
	want, _ := img.RawManifest()
	got, desc, err := s.GetManifest(ctx, d.String())
	if err != nil {
		t.Fatalf("manifest %s: %v", d, err)
	}
	mt, _ := img.MediaType()
	if !bytes.Equal(got, want) || desc.MediaType != mt || desc.Digest != d {
		t.Errorf("manifest %s read back as %s %s, %d bytes", d, desc.MediaType, desc.Digest, len(got))
	}
	raw, _ := img.RawConfigFile()
	cfg, _ := img.ConfigName()
	checkBlob(t, s, cfg, raw)
	layers, _ := img.Layers()
	for _, l := range layers {
		ld, _ := l.Digest()
		rc, _ := l.Compressed()
		b, _ := io.ReadAll(rc)
		rc.Close()
		checkBlob(t, s, ld, b)
	}
}

func checkBlob(t testing.TB, s store.Store, d v1.Hash, want []byte) {
	t.Helper()
	ctx := context.Background()
	if ok, err := s.BlobExists(ctx, d); err != nil || !ok {
		t.Errorf("blob %s: exists %v, %v", d, ok, err)
		return
	}
	rc, err := s.GetBlob(ctx, d)
	if err != nil {
		t.Errorf("blob %s: %v", d, err)
		return
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("blob %s read back with %d bytes (%v), want %d", d, len(got), err, len(want))
	}
}

func checkIndex(t testing.TB, s store.Store, tag string, idx v1.ImageIndex) {
	t.Helper()
	ctx := context.Background()
	d, _ := idx.Digest()
	mt, _ := idx.MediaType()
	head, err := s.HeadManifest(ctx, tag)
	if err != nil {
		t.Fatalf("HEAD %s: %v", tag, err)
	}
	if head.Digest != d || head.MediaType != mt {
		t.Errorf("HEAD %s: %s %s, want %s %s", tag, head.MediaType, head.Digest, mt, d)
	}
	want, _ := idx.RawManifest()
	got, _, err := s.GetManifest(ctx, tag)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("GET %s: %d bytes, %v", tag, len(got), err)
	}
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		img, _ := idx.Image(m.Digest)
		checkImage(t, s, img)
	}
}

var nginx = "docker.io/library/nginx"

// writeAll writes the test images into an archive location.
func writeAll(t testing.TB, l location.Location, imgs testImages, opts Options) {
	t.Helper()
	a := openArchive(t, l, true, opts)
	defer a.Close()
	putIndex(t, a.Repository(mustRepo(t, "rancher/klipper-lb")), "v0.3.4", imgs.index)
	putIndex(t, a.Repository(mustRepo(t, "127.0.0.1:5000/team/list")), "v1", imgs.list)
	putImage(t, a.Repository(mustRepo(t, nginx)), "1.27", imgs.single)
	if err := a.Commit(context.Background()); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 11)
	for _, tc := range []struct {
		transport location.Transport
		file      string
		magic     []byte
	}{
		{location.OCIDir, "layout", nil},
		{location.OCIArchive, "images.tar", nil},
		{location.OCIArchive, "images.tar.gz", []byte{0x1f, 0x8b}},
		{location.OCIArchive, "images.tgz", []byte{0x1f, 0x8b}},
		{location.OCIArchive, "images.tar.zst", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := loc(t, tc.transport, filepath.Join(dir, tc.file))
			writeAll(t, l, imgs, Options{})
			if tc.magic != nil {
				head := make([]byte, len(tc.magic))
				f, _ := os.Open(l.Path)
				io.ReadFull(f, head)
				f.Close()
				if !bytes.Equal(head, tc.magic) {
					t.Errorf("%s starts with %x, want %x", tc.file, head, tc.magic)
				}
			}
			assertOnly(t, dir, tc.file)

			a := openArchive(t, l, false, Options{})
			defer a.Close()
			names, _ := a.Images(context.Background())
			var got []string
			for _, n := range names {
				got = append(got, n.Name())
			}
			want := []string{"127.0.0.1:5000/team/list:v1", "index.docker.io/library/nginx:1.27", "index.docker.io/rancher/klipper-lb:v0.3.4"}
			if !slices.Equal(got, want) {
				t.Errorf("images %v, want %v", got, want)
			}
			checkIndex(t, a.Repository(mustRepo(t, "rancher/klipper-lb")), "v0.3.4", imgs.index)
			checkIndex(t, a.Repository(mustRepo(t, "127.0.0.1:5000/team/list")), "v1", imgs.list)
			checkImage(t, a.Repository(mustRepo(t, "nginx")), imgs.single)
			if _, err := a.Repository(mustRepo(t, "nginx")).HeadManifest(context.Background(), "1.26"); !errdefs.Is(err, errdefs.NotFound) {
				t.Errorf("HEAD of a missing tag: %v, want NotFound", err)
			}
			if _, err := a.Repository(mustRepo(t, "other/nginx")).HeadManifest(context.Background(), "1.27"); !errdefs.Is(err, errdefs.NotFound) {
				t.Errorf("HEAD of a tag of another repository: %v, want NotFound", err)
			}
		})
	}
}

// assertOnly fails unless dir holds exactly the given names: no temporary
// file or directory is left behind.
func assertOnly(t testing.TB, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// TestLayoutFiles checks what index.json, manifest.json and oci-layout say,
// as containerd, skopeo and docker load read them.
func TestLayoutFiles(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 21)
	dir := filepath.Join(t.TempDir(), "layout")
	writeAll(t, loc(t, location.OCIDir, dir), imgs, Options{Platforms: []v1.Platform{{OS: "linux", Architecture: "arm64"}}})

	layout, _ := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if string(layout) != layoutFile {
		t.Errorf("oci-layout %s", layout)
	}
	var index v1.IndexManifest
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if index.MediaType != types.OCIImageIndex || index.SchemaVersion != 2 || len(index.Manifests) != 3 {
		t.Fatalf("index.json %s", b)
	}
	klipper := index.Manifests[2]
	wantDigest, _ := imgs.index.Digest()
	if klipper.Digest != wantDigest || klipper.MediaType != types.OCIImageIndex ||
		klipper.Annotations[AnnotationImageName] != "docker.io/rancher/klipper-lb:v0.3.4" || klipper.Annotations[AnnotationRefName] != "v0.3.4" {
		t.Errorf("klipper-lb entry %+v", klipper)
	}
	if n := index.Manifests[1].Annotations[AnnotationImageName]; n != "docker.io/library/nginx:1.27" {
		t.Errorf("nginx entry named %q", n)
	}

	var manifest []saveImage
	b, _ = os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 3 {
		t.Fatalf("manifest.json %s", b)
	}
	// The index's arm64 image (Options.Platforms) is the one docker load gets.
	im, _ := imgs.index.IndexManifest()
	arm, _ := imgs.index.Image(im.Manifests[1].Digest)
	cfg, _ := arm.ConfigName()
	if got := manifest[2]; got.Config != "blobs/sha256/"+cfg.Hex || !slices.Equal(got.RepoTags, []string{"rancher/klipper-lb:v0.3.4"}) || len(got.Layers) != 2 {
		t.Errorf("manifest.json entry for klipper-lb: %+v", got)
	}
	if got := manifest[1].RepoTags; !slices.Equal(got, []string{"nginx:1.27"}) {
		t.Errorf("manifest.json nginx RepoTags %v", got)
	}
	for _, m := range manifest {
		for _, f := range append([]string{m.Config}, m.Layers...) {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("manifest.json names %s: %v", f, err)
			}
		}
	}
}

// TestDirAgain exports twice into one directory: the second run adds only what
// is new, replaces an image of the same name and keeps the others.
func TestDirAgain(t *testing.T) {
	t.Parallel()
	first, second := newTestImages(t, 31), newTestImages(t, 41)
	dir := filepath.Join(t.TempDir(), "layout")
	l := loc(t, location.OCIDir, dir)
	writeAll(t, l, first, Options{})
	before, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))

	a := openArchive(t, l, true, Options{})
	klipper := a.Repository(mustRepo(t, "rancher/klipper-lb"))
	// Already there: the planner would skip it.
	d, _ := first.index.Digest()
	if head, err := klipper.HeadManifest(context.Background(), "v0.3.4"); err != nil || head.Digest != d {
		t.Errorf("HEAD of an image already in the directory: %v, %v", head, err)
	}
	putIndex(t, klipper, "v0.3.4", second.index)                          // replaced
	putImage(t, a.Repository(mustRepo(t, "busybox")), "1", second.single) // added
	if err := a.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Close()

	r := openArchive(t, l, false, Options{})
	defer r.Close()
	var got []string
	for _, e := range r.Entries() {
		got = append(got, e.Name.Name())
	}
	want := []string{"127.0.0.1:5000/team/list:v1", "index.docker.io/library/nginx:1.27", "index.docker.io/rancher/klipper-lb:v0.3.4", "index.docker.io/library/busybox:1"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	checkIndex(t, r.Repository(mustRepo(t, "rancher/klipper-lb")), "v0.3.4", second.index)
	checkIndex(t, r.Repository(mustRepo(t, "127.0.0.1:5000/team/list")), "v1", first.list)
	after, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if len(after) <= len(before) {
		t.Errorf("%d blobs before, %d after", len(before), len(after))
	}
	assertNoTemps(t, dir)
}

func assertNoTemps(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// TestInterrupted closes archives without a Commit: nothing that looks
// finished is left, and no temporary file.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 51)
	for _, file := range []string{"images.tar", "images.tar.zst", "images.docker.tar"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			transport := location.OCIArchive
			if strings.Contains(file, "docker") {
				transport = location.DockerArchive
			}
			a := openArchive(t, loc(t, transport, filepath.Join(dir, file)), true, Options{})
			putImage(t, a.Repository(mustRepo(t, nginx)), "", imgs.single)
			// A blob cut short: the stream fails halfway.
			err := a.Repository(mustRepo(t, nginx)).PutBlob(context.Background(), v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, 100,
				io.MultiReader(strings.NewReader("half"), failingReader{}))
			if err == nil {
				t.Error("a broken stream was stored")
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			assertOnly(t, dir)
		})
	}
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "layout")
		a := openArchive(t, loc(t, location.OCIDir, dir), true, Options{})
		putImage(t, a.Repository(mustRepo(t, nginx)), "1.27", imgs.single)
		a.Close()
		// Whole blobs stay for a re-run; no index.json claims an image.
		if _, err := os.Stat(filepath.Join(dir, "index.json")); !os.IsNotExist(err) {
			t.Errorf("index.json after an interrupted run: %v", err)
		}
		assertNoTemps(t, dir)
		// The directory can be written again, and the blobs are found.
		a = openArchive(t, loc(t, location.OCIDir, dir), true, Options{})
		defer a.Close()
		cfg, _ := imgs.single.ConfigName()
		if ok, _ := a.Repository(mustRepo(t, nginx)).BlobExists(context.Background(), cfg); !ok {
			t.Error("a blob of the interrupted run is not found again")
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, fmt.Errorf("connection reset") }

// TestPutBlobChecks refuses blobs that are short, long or not what their
// digest says, and leaves nothing under their names.
func TestPutBlobChecks(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "layout")
	a := openArchive(t, loc(t, location.OCIDir, dir), true, Options{})
	defer a.Close()
	s := a.Repository(mustRepo(t, nginx))
	body := []byte("some layer bytes")
	d, size, _ := v1.SHA256(bytes.NewReader(body))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int64
		body []byte
	}{
		{"short", size + 1, body},
		{"long", size - 1, body},
		{"other content", size, bytes.ToUpper(body)},
	} {
		err := s.PutBlob(ctx, d, tc.size, bytes.NewReader(tc.body))
		if !errdefs.Is(err, errdefs.DigestMismatch) {
			t.Errorf("%s: %v, want a digest mismatch", tc.name, err)
		}
		if ok, _ := s.BlobExists(ctx, d); ok {
			t.Fatalf("%s: the blob was stored", tc.name)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.PutBlob(cctx, d, size, bytes.NewReader(body)); err == nil {
		t.Error("a cancelled PutBlob succeeded")
	}
	if err := s.PutBlob(ctx, d, size, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	checkBlob(t, s, d, body)
	if err := s.PutManifest(ctx, d.String(), types.OCIManifestSchema1, []byte(`{}`)); !errdefs.Is(err, errdefs.DigestMismatch) {
		t.Errorf("a manifest under another digest: %v", err)
	}
	assertNoTemps(t, dir)
}

// verifiedReader is a body that checks itself, as the copy engine's is: the
// store trusts its Verified.
type verifiedReader struct {
	io.Reader
	err error
}

func (v verifiedReader) Verified() error { return v.err }

func TestPutBlobTrustsVerifier(t *testing.T) {
	t.Parallel()
	a := openArchive(t, loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "x.tar")), true, Options{})
	defer a.Close()
	s := a.Repository(mustRepo(t, nginx))
	body := []byte("layer")
	d, size, _ := v1.SHA256(bytes.NewReader(body))
	bad := errdefs.New(errdefs.DigestMismatch, "digest mismatch: from the verifier")
	if err := s.PutBlob(context.Background(), d, size, verifiedReader{bytes.NewReader(body), bad}); err != bad {
		t.Errorf("PutBlob with a failing verifier: %v", err)
	}
	if ok, _ := s.BlobExists(context.Background(), d); ok {
		t.Error("stored although the verifier failed")
	}
	if err := s.PutBlob(context.Background(), d, size, verifiedReader{bytes.NewReader(body), nil}); err != nil {
		t.Fatal(err)
	}
}

func TestForce(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 61)
	dir := t.TempDir()
	file := filepath.Join(dir, "images.tar.gz")
	os.WriteFile(file, []byte("an older archive"), 0o644)
	l := loc(t, location.OCIArchive, file)
	_, err := Open(context.Background(), l, true, Options{})
	if !errdefs.Is(err, errdefs.InvalidArgument) || err.Error() != file+" exists: pass --force to replace it" {
		t.Errorf("open an existing target: %v", err)
	}
	writeAll(t, l, imgs, Options{Force: true})
	a := openArchive(t, l, false, Options{})
	defer a.Close()
	checkImage(t, a.Repository(mustRepo(t, nginx)), imgs.single)
	assertOnly(t, dir, "images.tar.gz")
}

// TestDockerArchive writes single-platform images only.
func TestDockerArchive(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 71)
	dir := t.TempDir()
	l := loc(t, location.DockerArchive, filepath.Join(dir, "images.tar"))
	a := openArchive(t, l, true, Options{})
	im, _ := imgs.index.IndexManifest()
	for _, m := range im.Manifests {
		child, _ := imgs.index.Image(m.Digest)
		putImage(t, a.Repository(mustRepo(t, "indexed")), "", child)
	}
	// The index itself is refused under its tag, with a sentence that says why.
	idx, _ := imgs.index.RawManifest()
	err := a.Repository(mustRepo(t, "indexed")).PutManifest(context.Background(), "1", types.OCIImageIndex, idx)
	if err == nil {
		t.Fatal("an index went into a docker-archive")
	}
	if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "--platform") {
		t.Errorf("index into a docker-archive: %v", err)
	}
	putImage(t, a.Repository(mustRepo(t, nginx)), "1.27", imgs.single)
	putImage(t, a.Repository(mustRepo(t, nginx)), "latest", imgs.single)
	if err := a.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Close()

	r := openArchive(t, l, false, Options{})
	defer r.Close()
	checkImage(t, r.Repository(mustRepo(t, nginx)), imgs.single)
	rc, _ := r.files.open("manifest.json")
	var manifest []saveImage
	json.NewDecoder(rc).Decode(&manifest)
	rc.Close()
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{"nginx:1.27", "nginx:latest"}) {
		t.Errorf("manifest.json %+v", manifest)
	}
	// Blobs of the index's children, never named by an entry, are not in the tar.
	if r.hasBlob(im.Manifests[0].Digest) {
		t.Error("an orphan manifest went into the tar")
	}
}

// TestConcurrentWrites writes many blobs and manifests at once, several of them
// the same, as a batch does (run it with -race).
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 81)
	l := loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "images.tar"))
	a := openArchive(t, l, true, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			repo := a.Repository(mustRepo(t, fmt.Sprintf("team/app%d", i%4)))
			putIndex(t, repo, fmt.Sprintf("v%d", i), imgs.index)
			putImage(t, repo, "single", imgs.single)
			a.Images(context.Background())
			repo.HeadManifest(context.Background(), "single")
		})
	}
	wg.Wait()
	if err := a.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Close()
	r := openArchive(t, l, false, Options{})
	defer r.Close()
	if n := len(r.Entries()); n != 12 {
		t.Errorf("%d entries, want 12", n)
	}
	for i := range 8 {
		checkIndex(t, r.Repository(mustRepo(t, fmt.Sprintf("team/app%d", i%4))), fmt.Sprintf("v%d", i), imgs.index)
	}
}

// TestSparse reads an index whose children are only partly in the archive, as
// `ctr images export --platform` writes it.
func TestSparse(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 91)
	l := loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "sparse.tar"))
	a := openArchive(t, l, true, Options{})
	s := a.Repository(mustRepo(t, "rancher/klipper-lb"))
	im, _ := imgs.index.IndexManifest()
	amd, _ := imgs.index.Image(im.Manifests[0].Digest)
	putImage(t, s, "", amd)
	body, _ := imgs.index.RawManifest()
	if err := s.PutManifest(context.Background(), "v1", types.OCIImageIndex, body); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Close()

	// For the merge store: the upstream index as it is.
	r := openArchive(t, l, false, Options{WholeIndexes: true})
	defer r.Close()
	s = r.Repository(mustRepo(t, "rancher/klipper-lb"))
	if got, _, err := s.GetManifest(context.Background(), "v1"); err != nil || !bytes.Equal(got, body) {
		t.Errorf("the upstream index: %v", err)
	}
	checkImage(t, s, amd)
	_, err := s.HeadManifest(context.Background(), im.Manifests[1].Digest.String())
	if !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("a child that is not there: %v, want NotFound", err)
	}

	// Alone: an index of the platform present, with a note that says so.
	var notes []string
	alone := openArchive(t, l, false, Options{Notef: func(f string, args ...any) { notes = append(notes, fmt.Sprintf(f, args...)) }})
	defer alone.Close()
	s = alone.Repository(mustRepo(t, "rancher/klipper-lb"))
	got, desc, err := s.GetManifest(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(got))
	if err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != im.Manifests[0].Digest {
		t.Errorf("served %s, want an index of %s alone (%v)", got, im.Manifests[0].Digest, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], desc.Digest.String()) || !strings.Contains(notes[0], "linux/amd64") {
		t.Errorf("notes %q", notes)
	}
	checkImage(t, s, amd)
}

// TestNames reads entries named every way tools name them.
func TestNames(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 101)
	dir := filepath.Join(t.TempDir(), "My Images")
	a := openArchive(t, loc(t, location.OCIDir, dir), true, Options{})
	putImage(t, a.Repository(mustRepo(t, nginx)), "1.27", imgs.single)
	a.Commit(context.Background())
	a.Close()
	d, _ := imgs.single.Digest()
	desc := func(ann map[string]string) map[string]any {
		return map[string]any{"mediaType": types.OCIManifestSchema1, "digest": d.String(), "size": 100, "annotations": ann}
	}
	index := map[string]any{"schemaVersion": 2, "manifests": []any{
		desc(map[string]string{AnnotationImageName: "docker.io/rancher/klipper-lb:v0.3.4", AnnotationRefName: "v0.3.4"}), // containerd
		desc(map[string]string{AnnotationRefName: "index.docker.io/library/alpine:3.20"}),                                // crane --annotate-ref
		desc(map[string]string{AnnotationRefName: "v2"}),                                                                 // skopeo oci:DIR:v2
		desc(nil), // no name at all
		desc(map[string]string{AnnotationImageName: "docker.io/library/redis:7@sha256:" + d.Hex}),
	}}
	b, _ := json.Marshal(index)
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)

	r := openArchive(t, loc(t, location.OCIDir, dir), false, Options{})
	defer r.Close()
	var got []string
	for _, e := range r.Entries() {
		got = append(got, fmt.Sprintf("%s %v", e.Name.Name(), e.Unnamed))
	}
	want := []string{
		"index.docker.io/rancher/klipper-lb:v0.3.4 false",
		"index.docker.io/library/alpine:3.20 false",
		"localhost/my-images:v2 true",
		"localhost/my-images@" + d.String() + " true",
		"index.docker.io/library/redis:7 false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := r.Repository(mustRepo(t, "localhost/my-images")).HeadManifest(context.Background(), "v2"); err != nil {
		t.Errorf("an entry named by its tag only: %v", err)
	}
}

func TestSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "a.tar")
	os.WriteFile(file, nil, 0o644)
	os.Symlink(file, filepath.Join(dir, "link.tar"))
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"oci-archive:" + file, "docker-archive:" + filepath.Join(dir, "link.tar"), true},
		{"oci-archive:" + file, "oci-archive:" + filepath.Join(dir, ".", "a.tar"), true},
		{"oci-archive:" + filepath.Join(dir, "new.tar"), "oci-archive:" + filepath.Join(dir, "sub", "..", "new.tar"), true},
		{"oci-archive:" + file, "oci-archive:" + filepath.Join(dir, "b.tar"), false},
		{"oci-archive:" + file, file, false},
	} {
		x, _ := location.Parse(tc.a)
		y, _ := location.Parse(tc.b)
		if got := SameFile(x, y); got != tc.want {
			t.Errorf("SameFile(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
