package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// cutReader gives the first n bytes of r, then fails as a dropped connection.
type cutReader struct {
	r io.Reader
	n int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, fmt.Errorf("connection reset")
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

func randomBlob(seed uint64, size int) ([]byte, v1.Hash) {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	sum := sha256.Sum256(b)
	return b, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// TestStreamRetry writes, into each kind of archive file, several large blobs
// at once (more than the read-ahead pool holds), one of them cut off half way
// and one with the wrong bytes before each is written again: the cut-off
// entries are gone, every blob reads back whole, and the archive is valid.
func TestStreamRetry(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".tar", ".tar.gz", ".tar.zst"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "images"+ext))
			a := openArchive(t, l, true, Options{})
			s := a.Repository(mustRepo(t, "stream/retry"))
			var layers []v1.Descriptor
			var bodies [][]byte
			for i := range 6 {
				b, d := randomBlob(uint64(i+1), 3<<20+i*1000)
				bodies = append(bodies, b)
				layers = append(layers, v1.Descriptor{MediaType: types.OCILayer, Digest: d, Size: int64(len(b))})
			}
			// A broken download and a corrupt one fail, and leave nothing.
			err := s.PutBlob(ctx, layers[0].Digest, layers[0].Size, &cutReader{r: bytes.NewReader(bodies[0]), n: 2 << 20})
			if err == nil || !strings.Contains(err.Error(), "connection reset") {
				t.Fatalf("cut-off blob: %v", err)
			}
			bad := bytes.Clone(bodies[1])
			bad[len(bad)-1] ^= 1
			if err := s.PutBlob(ctx, layers[1].Digest, layers[1].Size, bytes.NewReader(bad)); !errdefs.Is(err, errdefs.DigestMismatch) {
				t.Fatalf("corrupt blob: %v", err)
			}
			if ok, _ := s.BlobExists(ctx, layers[1].Digest); ok {
				t.Fatal("a corrupt blob is listed")
			}
			var wg sync.WaitGroup
			for i := range layers {
				wg.Go(func() {
					if err := s.PutBlob(ctx, layers[i].Digest, layers[i].Size, bytes.NewReader(bodies[i])); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			// Random bytes are not compressed: each layer's diff_id is its digest.
			var diffIDs []string
			for _, l := range layers {
				diffIDs = append(diffIDs, `"`+l.Digest.String()+`"`)
			}
			cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[` + strings.Join(diffIDs, ",") + `]}}`)
			cd, cs, _ := v1.SHA256(bytes.NewReader(cfg))
			if err := s.PutBlob(ctx, cd, cs, bytes.NewReader(cfg)); err != nil {
				t.Fatal(err)
			}
			m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[`,
				types.OCIManifestSchema1, types.OCIConfigJSON, cd, cs)
			for i, l := range layers {
				if i > 0 {
					m = append(m, ',')
				}
				m = fmt.Appendf(m, `{"mediaType":%q,"digest":%q,"size":%d}`, l.MediaType, l.Digest, l.Size)
			}
			m = append(m, "]}"...)
			if err := s.PutManifest(ctx, "v1", types.OCIManifestSchema1, m); err != nil {
				t.Fatal(err)
			}
			if err := a.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			a.Close()
			assertOnly(t, filepath.Dir(l.Path), "images"+ext)

			r := openArchive(t, l, false, Options{})
			defer r.Close()
			rs := r.Repository(mustRepo(t, "stream/retry"))
			for i, l := range layers {
				checkBlob(t, rs, l.Digest, bodies[i])
			}
			if _, _, err := rs.GetManifest(ctx, "v1"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSweep removes what a killed run left beside the target, and leaves a
// temporary file a live run holds.
func TestSweep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "images.tar.zst")
	for _, n := range []string{".images.tar.zst.tmp-123", ".images.tar.zst.part-9", ".other.tar.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".images.tar.zst.tmp-456"), 0o755); err != nil {
		t.Fatal(err)
	}
	live, err := openStream(target, zstandard)
	if err != nil {
		t.Fatal(err)
	}
	defer live.discard()
	var notes []string
	a, err := Open(context.Background(), loc(t, location.OCIArchive, target), true, Options{Notef: func(f string, args ...any) {
		notes = append(notes, fmt.Sprintf(f, args...))
	}})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if len(notes) != 3 || !strings.Contains(notes[0], "removed .images.tar.zst.") {
		t.Errorf("notes %q", notes)
	}
	assertOnly(t, dir, ".other.tar.tmp-1", filepath.Base(live.f.Name()))
}

// eofReader records that it was read to its end.
type eofReader struct {
	r    io.Reader
	seen bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.seen = true
	}
	return n, err
}

// TestStreamSameBlobTwice puts a blob already in the archive: its body is
// still read to the end (the copy engine trusts a store only then) and
// checked, and the tar holds it once.
func TestStreamSameBlobTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "images.tar"))
	a := openArchive(t, l, true, Options{})
	defer a.Close()
	s := a.Repository(mustRepo(t, "stream/twice"))
	b, d := randomBlob(9, 2<<20)
	if err := s.PutBlob(ctx, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	again := &eofReader{r: bytes.NewReader(b)}
	if err := s.PutBlob(ctx, d, int64(len(b)), again); err != nil || !again.seen {
		t.Errorf("second put: %v, read to the end %v", err, again.seen)
	}
	bad := bytes.Clone(b)
	bad[0] ^= 1
	if err := s.PutBlob(ctx, d, int64(len(b)), bytes.NewReader(bad)); !errdefs.Is(err, errdefs.DigestMismatch) {
		t.Errorf("a corrupt copy of a blob present: %v", err)
	}
	if st, _ := os.Stat(a.w.stream.f.Name()); st.Size() > 3<<20 {
		t.Errorf("the tar is %d bytes: the blob went in twice", st.Size())
	}
}
