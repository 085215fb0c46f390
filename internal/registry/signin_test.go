package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
)

// A registry that asks for no sign-in gets the first request beside its
// ping, not after it: the ping here is answered only once that request has
// arrived, so a client that waited for the ping would wait it out.
func TestSignInFirstRequestBesidePing(t *testing.T) {
	inner := quiet()
	arrived := make(chan struct{})
	var once sync.Once
	var overlapped atomic.Bool
	var heads atomic.Int32
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			select {
			case <-arrived:
				overlapped.Store(true)
			case <-time.After(5 * time.Second):
			}
		}
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
			heads.Add(1)
			once.Do(func() { close(arrived) })
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	host := hostOf(s)
	c := New(WithInsecure(func(h string) bool { return h == host }))
	r, err := c.Repository(context.Background(), repoOf(t, host, "a"), Pull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.HeadManifest(context.Background(), "v1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("HEAD of a missing tag: %v", err)
	}
	if !overlapped.Load() {
		t.Error("the first request waited for the ping")
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("the HEAD was sent %d times, want once: an open registry's unsigned answer stands", n)
	}
}

// A registry that wants a bearer token may answer 404 to an unsigned request
// for what it would show a signed one (a private repository): that answer is
// never kept, the request goes again with the token.
func TestSignInUnsignedAnswerNotKept(t *testing.T) {
	inner := quiet()
	var s *httptest.Server
	s = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token":"t0ken"}`))
			return
		case r.Header.Get("Authorization") != "Bearer t0ken":
			if r.URL.Path == "/v2/" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.URL+`/token",service="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusNotFound)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	host := hostOf(s)
	c := New(WithInsecure(func(h string) bool { return h == host }))
	r, err := c.Repository(context.Background(), repoOf(t, host, "a"), Push)
	if err != nil {
		t.Fatal(err)
	}
	d, size, rc := randomBlob(t, 100)
	if err := r.PutBlob(context.Background(), d, size, rc); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.BlobExists(context.Background(), d); err != nil || !ok {
		t.Fatalf("a blob that is there: exists %v, %v (the unsigned 404 was kept)", ok, err)
	}
}

// A small blob goes in the committing PUT: no PATCH, one round trip less.
func TestPutSmallBlobInOnePut(t *testing.T) {
	inner := quiet()
	var patches, bodies atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			patches.Add(1)
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength > 0 {
			bodies.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	ctx := context.Background()
	r, err := openRepo(ctx, New(), repoOf(t, hostOf(s), "a"), Push)
	if err != nil {
		t.Fatal(err)
	}
	d, size, rc := randomBlob(t, 1000)
	if err := r.PutBlob(ctx, d, size, rc); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := r.BlobSize(ctx, d); err != nil || !ok || got != size {
		t.Fatalf("blob reads back as %d (%v, %v), want %d", got, ok, err, size)
	}
	if patches.Load() != 0 || bodies.Load() != 1 {
		t.Errorf("%d PATCHes and %d PUTs with a body; want none and one", patches.Load(), bodies.Load())
	}
}

// fixedKeychain hands out the same credentials for every registry.
type fixedKeychain struct{ auth authn.Authenticator }

func (k fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// A registry that asks for no sign-in at its ping, for a user who has
// credentials for it: they go with every request, so an unsigned answer (a
// 404 here, as for a private repository) is not kept either.
func TestSignInCredentialsAlwaysSent(t *testing.T) {
	inner := quiet()
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok && r.URL.Path != "/v2/" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	host := hostOf(s)
	newClient := func() *Client {
		return New(WithInsecure(func(h string) bool { return h == host }),
			WithKeychain(fixedKeychain{authn.FromConfig(authn.AuthConfig{Username: "u", Password: "p"})}))
	}
	ctx := context.Background()
	r, err := newClient().Repository(ctx, repoOf(t, host, "a"), Push)
	if err != nil {
		t.Fatal(err)
	}
	d, size, rc := randomBlob(t, 100)
	if err := r.PutBlob(ctx, d, size, rc); err != nil {
		t.Fatal(err)
	}
	// A new handle's first request is the one tried unsigned.
	again, err := newClient().Repository(ctx, repoOf(t, host, "a"), Pull)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := again.BlobExists(ctx, d); err != nil || !ok {
		t.Fatalf("a blob that is there: exists %v, %v (the unsigned 404 was kept)", ok, err)
	}
}
