package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A registry that answers a manifest HEAD without Docker-Content-Digest:
// HeadManifest says so with store.ErrNoDigest in its chain (no caller reads
// the error's text), and the repository, a store.Describer, finds the digest
// by a GET.
func TestHeadManifestWithoutDigest(t *testing.T) {
	inner := quiet()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				if k != "Docker-Content-Digest" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := repoOf(t, hostOf(s), "a").Tag("v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	ctx := context.Background()
	r, err := New().Repository(ctx, ref.Context(), Pull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.HeadManifest(ctx, "v1"); !errors.Is(err, store.ErrNoDigest) {
		t.Fatalf("HeadManifest: %v; want store.ErrNoDigest in its chain", err)
	}
	var _ store.Describer = r
	d, err := store.Describe(ctx, r, "v1")
	if err != nil || d.Digest != want {
		t.Fatalf("Describe = %v, %v; want %s", d.Digest, err, want)
	}
}
