package registry

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func quiet() http.Handler { return ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))) }

func repoOf(t *testing.T, host, path string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// openRepo opens a handle and makes a first request, where a failure to
// connect shows: the sign-in runs beside that request, not before it.
func openRepo(ctx context.Context, c *Client, repo name.Repository, access Access) (*Repository, error) {
	r, err := c.Repository(ctx, repo, access)
	if err != nil {
		return nil, err
	}
	if _, err := r.BlobExists(ctx, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}); err != nil {
		return nil, err
	}
	return r, nil
}

func hostOf(s *httptest.Server) string {
	u, _ := url.Parse(s.URL)
	return u.Host
}

// A registry with a certificate from an unknown CA is refused with a sentence
// that names certs.d and --insecure; the CA in certs.d/HOST/ca.crt, or
// --insecure, makes it work.
func TestTLSTrust(t *testing.T) {
	s := httptest.NewTLSServer(quiet())
	defer s.Close()
	host := hostOf(s)
	ctx := context.Background()

	_, err := openRepo(ctx, New(), repoOf(t, host, "a"), Pull)
	if !errdefs.Is(err, errdefs.Unreachable) || !strings.Contains(err.Error(), "certs.d/"+host+"/ca.crt") || !strings.Contains(err.Error(), "--insecure="+host) {
		t.Fatalf("want an unknown-authority sentence, got %v", err)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, host), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, host, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(WithCertDirs(dir)).Repository(ctx, repoOf(t, host, "a"), Pull)
	if err != nil {
		t.Fatalf("with the CA in certs.d: %v", err)
	}
	if _, err := r.BlobExists(ctx, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}

	if _, err := openRepo(ctx, New(WithInsecure(func(h string) bool { return h == host })), repoOf(t, host, "a"), Pull); err != nil {
		t.Fatalf("with --insecure: %v", err)
	}
}

func TestStatusSentences(t *testing.T) {
	tests := []struct {
		name   string
		status int
		access Access
		kind   errdefs.Kind
		want   string
	}{
		{"401 on push", http.StatusUnauthorized, Push, errdefs.Unauthorized, "unauthorized: run 'docker login HOST'"},
		{"401 on pull", http.StatusUnauthorized, Pull, errdefs.Unauthorized, "or check that the repository exists"},
		{"403", http.StatusForbidden, Push, errdefs.Denied, "denied"},
		{"500", http.StatusInternalServerError, Pull, errdefs.Unavailable, "run again later"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := quiet()
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					inner.ServeHTTP(w, r)
					return
				}
				w.WriteHeader(tc.status)
			}))
			defer s.Close()
			host := hostOf(s)
			r, err := New().Repository(context.Background(), repoOf(t, host, "a"), tc.access)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.HeadManifest(context.Background(), "latest")
			want := strings.ReplaceAll(tc.want, "HOST", host)
			if !errdefs.Is(err, tc.kind) || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want %s containing %q", err, tc.kind, want)
			}
		})
	}
}

// A 429 is waited out as Retry-After asks, a bounded number of times.
func TestRateLimitWaits(t *testing.T) {
	inner := quiet()
	var limited atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" && limited.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	var notes []string
	c := New(WithNotify(func(f string, a ...any) { notes = append(notes, f) }))
	r, err := c.Repository(context.Background(), repoOf(t, hostOf(s), "a"), Pull)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.BlobExists(context.Background(), v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second || len(notes) != 2 {
		t.Fatalf("waited %s with %d notes; want two waits of 1s, each said", d, len(notes))
	}
}

// A blob that reads back with size 0 right after its commit (Aliyun ACR) is
// checked again, and the upload succeeds once it reads back right.
func TestCommitReadBack(t *testing.T) {
	for _, sticky := range []bool{false, true} {
		inner := quiet()
		var committed atomic.Bool
		var lies atomic.Int32
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				committed.Store(true)
			}
			if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/") && committed.Load() && (sticky || lies.Load() == 0) {
				lies.Add(1)
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusOK)
				return
			}
			inner.ServeHTTP(w, r)
		}))
		ctx := context.Background()
		r, err := New().Repository(ctx, repoOf(t, hostOf(s), "a"), Push)
		if err != nil {
			t.Fatal(err)
		}
		d, size, rc := randomBlob(t, 100)
		err = r.PutBlob(ctx, d, size, rc)
		var bc *BlobCommitError
		switch {
		case !sticky && err != nil:
			t.Errorf("a one-off wrong read-back failed the upload: %v", err)
		case sticky && !asBlobCommit(err, &bc):
			t.Errorf("a lasting wrong read-back: want BlobCommitError, got %v", err)
		}
		s.Close()
	}
	_ = remote.Head
}

// randomBlob is a blob of random bytes (a gzipped tar of n of them), to upload.
func randomBlob(t *testing.T, n int64) (v1.Hash, int64, io.ReadCloser) {
	t.Helper()
	l, err := random.Layer(n, "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := l.Digest()
	size, _ := l.Size()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	return d, size, rc
}

func asBlobCommit(err error, target **BlobCommitError) bool {
	e, ok := err.(*BlobCommitError)
	if ok {
		*target = e
	}
	return ok
}
