package indexstrategy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// flakySource serves one blob whose n-th download breaks off after cuts[n]
// bytes of the body (unexpected EOF); with ranges set it honours Range.
type flakySource struct {
	data   []byte
	cuts   []int64
	ranges bool
	// opens records the offset each download started at.
	opens []int64
}

func (s *flakySource) body(off int64) io.ReadCloser {
	rest := s.data[off:]
	if n := len(s.opens); n <= len(s.cuts) && n > 0 && s.cuts[n-1] >= 0 && s.cuts[n-1] < int64(len(rest)) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(rest[:s.cuts[n-1]]), errReader{io.ErrUnexpectedEOF}))
	}
	return io.NopCloser(bytes.NewReader(rest))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (s *flakySource) GetBlob(_ context.Context, _ v1.Hash) (io.ReadCloser, error) {
	s.opens = append(s.opens, 0)
	return s.body(0), nil
}

func (s *flakySource) GetBlobAt(_ context.Context, _ v1.Hash, off, _ int64) (io.ReadCloser, int64, error) {
	if !s.ranges {
		off = 0
	}
	s.opens = append(s.opens, off)
	return s.body(off), off, nil
}

func (s *flakySource) String() string { return "flaky" }
func (s *flakySource) HeadManifest(context.Context, string) (v1.Descriptor, error) {
	return v1.Descriptor{}, errors.ErrUnsupported
}
func (s *flakySource) GetManifest(context.Context, string) ([]byte, v1.Descriptor, error) {
	return nil, v1.Descriptor{}, errors.ErrUnsupported
}
func (s *flakySource) PutManifest(context.Context, string, types.MediaType, []byte) error {
	return errors.ErrUnsupported
}
func (s *flakySource) BlobExists(context.Context, v1.Hash) (bool, error) { return true, nil }
func (s *flakySource) PutBlob(context.Context, v1.Hash, int64, io.Reader) error {
	return errors.ErrUnsupported
}

var _ store.Store = (*flakySource)(nil)

func blobOf(t *testing.T, n int) ([]byte, v1.Hash) {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	d, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return data, d
}

func newTestReader(src store.Store, d v1.Hash, size int64) *blobReader {
	nop := func(string, ...any) {}
	return newBlobReader(context.Background(), src, d, size, progress.Discard().Task("g", "blob", size), nop, nop)
}

// readAll reads b in odd-sized pieces, as a transport would.
func readAll(b *blobReader) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 7919)
	for {
		n, err := b.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// A download cut off twice resumes where it broke, with a Range request, or
// from the start (skipping what it had) where the source ignores Range; the
// bytes handed on are the blob's, once, and its digest checks out.
func TestBlobReaderResumes(t *testing.T) {
	data, d := blobOf(t, 5<<20+123)
	for _, ranges := range []bool{true, false} {
		src := &flakySource{data: data, cuts: []int64{1<<20 + 5, 2 << 20}, ranges: ranges}
		b := newTestReader(src, d, int64(len(data)))
		got, err := readAll(b)
		if err != nil {
			t.Fatalf("ranges %v: %v", ranges, err)
		}
		if !bytes.Equal(got, data) || b.Verified() != nil {
			t.Fatalf("ranges %v: handed on %d bytes (verified: %v), want the blob's %d", ranges, len(got), b.Verified(), len(data))
		}
		want := []int64{0, 1<<20 + 5, 3<<20 + 5}
		if !ranges {
			want = []int64{0, 0, 0}
		}
		if !slices.Equal(src.opens, want) {
			t.Errorf("ranges %v: downloads started at %v, want %v", ranges, src.opens, want)
		}
	}
}

// Rewinding to an offset the destination holds hands on the blob from there;
// the hash goes back to the state kept at or before it and reads forward.
func TestBlobReaderRewind(t *testing.T) {
	data, d := blobOf(t, 4<<20+77)
	src := &flakySource{data: data, ranges: true}
	b := newTestReader(src, d, int64(len(data)))
	first := make([]byte, 3<<20+11)
	if _, err := io.ReadFull(b, first); err != nil {
		t.Fatal(err)
	}
	held := int64(1<<20 + 500_000)
	if err := b.Rewind(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	rest, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rest, data[held:]) || b.Verified() != nil {
		t.Fatalf("after a rewind to %d: %d bytes (verified: %v), want the %d after it", held, len(rest), b.Verified(), len(data)-int(held))
	}
	if want := []int64{0, 1 << 20}; !slices.Equal(src.opens, want) {
		t.Errorf("downloads started at %v, want %v (the kept hash state at 1 MiB)", src.opens, want)
	}
	// Rewinding to the end of a verified blob is nothing to do.
	if err := b.Rewind(context.Background(), int64(len(data))); err != nil || b.Verified() != nil {
		t.Errorf("rewind to the end: %v, verified %v", err, b.Verified())
	}
}

// A source that breaks off at the same byte every time is given up, with a
// sentence; one whose bytes are wrong says it holds a corrupt blob.
func TestBlobReaderGivesUp(t *testing.T) {
	data, d := blobOf(t, 1<<20)
	src := &flakySource{data: data, ranges: true, cuts: []int64{1000, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	_, err := readAll(newTestReader(src, d, int64(len(data))))
	if !errdefs.Is(err, errdefs.Unreachable) || !strings.Contains(err.Error(), "broke off") {
		t.Errorf("a source that brings nothing more: %v", err)
	}
	if len(src.opens) != maxIdleReadBreaks+2 {
		t.Errorf("%d downloads, want %d", len(src.opens), maxIdleReadBreaks+2)
	}

	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	_, err = readAll(newTestReader(&flakySource{data: bad}, d, int64(len(data))))
	if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(err.Error(), "the source registry holds a corrupt blob") {
		t.Errorf("a corrupt blob: %v", err)
	}
}

// stallingSource sends every download's first every bytes and then stalls
// (a *registry.StallError of idle): a broken proxy.
type stallingSource struct {
	flakySource
	every int64
	idle  time.Duration
}

func (s *stallingSource) GetBlobAt(_ context.Context, _ v1.Hash, off, _ int64) (io.ReadCloser, int64, error) {
	s.opens = append(s.opens, off)
	end := min(off+s.every, int64(len(s.data)))
	stall := &registry.StallError{Registry: "proxy.lan", Phase: registry.PhaseDownload, Idle: s.idle, Bytes: end - off}
	return io.NopCloser(io.MultiReader(bytes.NewReader(s.data[off:end]), errReader{stall})), off, nil
}

// A source that stalls on every answer, each bringing a little, is resumed
// once: a stall soon after a resume ends the blob. Stalls far apart are
// resumed while the blob's size allows (twice for a small blob).
func TestBlobReaderStallsEveryTime(t *testing.T) {
	data, d := blobOf(t, 1<<20)
	for _, tc := range []struct {
		name string
		idle time.Duration
		want string
	}{
		{"in a row", time.Hour, "every time it was asked (2 times)"},
		{"far apart", time.Nanosecond, "3 times: run again later"},
	} {
		src := &stallingSource{flakySource: flakySource{data: data}, every: 64 << 10, idle: tc.idle}
		_, err := readAll(newTestReader(src, d, int64(len(data))))
		if !errdefs.Is(err, errdefs.Unreachable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		want := []int64{0, 64 << 10}
		if tc.idle < time.Second {
			want = append(want, 128<<10)
		}
		if !slices.Equal(src.opens, want) {
			t.Errorf("%s: downloads started at %v, want %v", tc.name, src.opens, want)
		}
	}
	if got := stallResumes(2 << 30); got != maxReadBreaks {
		t.Errorf("a 2 GiB blob gets %d stall resumes, want %d", got, maxReadBreaks)
	}
}

// fileSource is a source on this machine (an archive): no ranged reads, and
// its reader may fail with a sentence of its own about the file.
type fileSource struct {
	store.Store // a *flakySource, seen without its ranged reads
	data        []byte
	fail        error
	opens       int
}

func newFileSource(data []byte, fail error) *fileSource {
	return &fileSource{Store: &flakySource{data: data}, data: data, fail: fail}
}

func (s *fileSource) GetBlob(_ context.Context, _ v1.Hash) (io.ReadCloser, error) {
	s.opens++
	if s.fail != nil {
		return io.NopCloser(io.MultiReader(bytes.NewReader(s.data[:1000]), errReader{s.fail})), nil
	}
	return io.NopCloser(bytes.NewReader(s.data)), nil
}

// A file's damage is the file's, not a registry's: no advice to report it to
// an operator, and a sentence the file gave is not read again for.
func TestBlobReaderLocalFile(t *testing.T) {
	data, d := blobOf(t, 1<<20)
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	_, err := readAll(newTestReader(newFileSource(bad, nil), d, int64(len(data))))
	if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(err.Error(), "is damaged") || strings.Contains(err.Error(), "registry") {
		t.Errorf("a corrupt blob in a file: %v", err)
	}

	damaged := errdefs.New(errdefs.DigestMismatch, "x.tar is damaged: layer L uncompresses to A, but the image's config says B")
	src := newFileSource(data, damaged)
	_, err = readAll(newTestReader(src, d, int64(len(data))))
	if !errors.Is(err, damaged) {
		t.Errorf("a file that says what is wrong with it: %v, want its own sentence", err)
	}
	if src.opens != 1 {
		t.Errorf("%d reads of a file that said what is wrong with it, want 1", src.opens)
	}

	src = newFileSource(data, errors.New("input/output error"))
	_, err = readAll(newTestReader(src, d, int64(len(data))))
	if err == nil || strings.Contains(err.Error(), "later") {
		t.Errorf("a file that cannot be read: %v, want no advice to try later", err)
	}
}
