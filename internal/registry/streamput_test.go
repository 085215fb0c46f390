package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// onlyReader hides every other method of a body (Seek, WriteTo, Len): the
// upload sees a stream it can read once.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// brokenBody gives n bytes, then fails.
type brokenBody struct {
	r io.Reader
	n int64
}

func (f *brokenBody) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errdefs.New(errdefs.DigestMismatch, "layer does not match its diff_id")
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

// A blob of unknown digest is streamed (chunked PATCH for a large one, the
// PUT alone for a small one), its digest counted on the way and given in the
// commit; the registry then holds it under that digest. A body that fails
// mid-way commits nothing, and its session is cancelled.
func TestPutBlobStream(t *testing.T) {
	var chunked, puts atomic.Int64
	inner := quiet()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && r.ContentLength < 0 {
			chunked.Add(1)
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			puts.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	ctx := context.Background()
	repo, err := openRepo(ctx, New(), repoOf(t, hostOf(s), "streamed"), Push)
	if err != nil {
		t.Fatal(err)
	}
	var _ store.StreamPutter = repo

	for _, tc := range []struct {
		name    string
		size    int
		chunked int64
	}{
		{"large", 3<<20 + 17, 1},
		{"small", 1000, 0},
		{"empty", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunked.Store(0)
			data := make([]byte, tc.size)
			_, _ = rand.Read(data)
			want, _, _ := v1.SHA256(bytes.NewReader(data))
			d, err := repo.PutBlobStream(ctx, types.DockerLayer, onlyReader{bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest != want || d.Size != int64(tc.size) || d.MediaType != types.DockerLayer {
				t.Fatalf("descriptor %+v; want %s, %d bytes", d, want, tc.size)
			}
			if got := chunked.Load(); got != tc.chunked {
				t.Errorf("%d chunked PATCHes; want %d", got, tc.chunked)
			}
			rc, err := repo.GetBlob(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(back, data) {
				t.Fatalf("the registry holds %d other bytes", len(back))
			}
		})
	}

	t.Run("failing body", func(t *testing.T) {
		puts.Store(0)
		data := make([]byte, 2<<20)
		_, _ = rand.Read(data)
		_, err := repo.PutBlobStream(ctx, types.DockerLayer, &brokenBody{r: bytes.NewReader(data), n: 1 << 20})
		if !errdefs.Is(err, errdefs.DigestMismatch) {
			t.Fatalf("err = %v; want the body's digest mismatch", err)
		}
		if puts.Load() != 0 {
			t.Fatalf("%d commits after a failed body", puts.Load())
		}
		half, _, _ := v1.SHA256(bytes.NewReader(data[:1<<20]))
		if ok, _ := repo.BlobExists(ctx, half); ok {
			t.Fatal("what was sent before the failure was committed")
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write(make([]byte, 1<<20))
			cancel()
			_, _ = pw.Write(make([]byte, 1<<20))
			pw.Close()
		}()
		_, err := repo.PutBlobStream(cctx, types.DockerLayer, pr)
		pr.Close()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
	})

	t.Run("broken PATCH", func(t *testing.T) {
		var deletes atomic.Int64
		broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPatch:
				_, _ = io.CopyN(io.Discard, r.Body, 1<<20)
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
			case http.MethodDelete:
				deletes.Add(1)
			}
			inner.ServeHTTP(w, r)
		}))
		defer broken.Close()
		br, err := openRepo(ctx, New(), repoOf(t, hostOf(broken), "streamed"), Push)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 3<<20)
		_, _ = rand.Read(data)
		_, err = br.PutBlobStream(ctx, types.DockerLayer, onlyReader{bytes.NewReader(data)})
		if err == nil || !strings.Contains(errdefs.Message(err), "a streamed upload cannot be resumed: run the command again") {
			t.Fatalf("err = %v; want a sentence that says to run again", err)
		}
		if deletes.Load() == 0 {
			t.Error("the session was not cancelled")
		}
	})
}
