package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// counting counts the requests a handler gets, and those that are not reads.
type counting struct {
	h             http.Handler
	all, nonReads atomic.Int32
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.all.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.nonReads.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// TestMirrorOrder: a source handle reads from the mirrors in order, passing
// over one that cannot be reached and one that lacks the image, then the
// registry; it says which served.
// A destination handle never asks a mirror.
func TestMirrorOrder(t *testing.T) {
	ctx := context.Background()
	empty := &counting{h: quiet()}
	emptySrv := httptest.NewServer(empty)
	defer emptySrv.Close()
	full := &counting{h: quiet()}
	fullSrv := httptest.NewServer(full)
	defer fullSrv.Close()
	origin := httptest.NewServer(quiet())
	defer origin.Close()

	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(hostOf(fullSrv) + "/library/app:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	full.nonReads.Store(0) // the push above

	mirror := func(s *httptest.Server) Endpoint {
		e, err := ValidateMirror(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	gone := httptest.NewServer(quiet())
	closed := mirror(gone)
	gone.Close() // a mirror that refuses connections
	originHost := hostOf(origin)
	self, _ := ValidateMirror(origin.URL)
	self.Mirror = false
	var notes []string
	c := New(
		WithEndpoints(func(host string) ([]Endpoint, error) {
			if host != originHost {
				return nil, nil
			}
			return []Endpoint{closed, mirror(emptySrv), mirror(fullSrv), self}, nil
		}),
		WithNotify(func(f string, a ...any) { notes = append(notes, f) }),
	)
	repo := repoOf(t, originHost, "library/app")
	src, err := c.Repository(ctx, repo, PullSource)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := src.HeadManifest(ctx, "1")
	if err != nil {
		t.Fatalf("HEAD through the mirrors: %v", err)
	}
	if desc.Digest != want {
		t.Errorf("digest %s, want %s", desc.Digest, want)
	}
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	rc, err := src.GetBlob(ctx, d)
	if err != nil {
		t.Fatalf("blob through the mirror that served the manifest: %v", err)
	}
	rc.Close()
	if got := src.ServedBy("1"); got != fullSrv.URL {
		t.Errorf("ServedBy = %q, want %s", got, fullSrv.URL)
	}
	if len(notes) != 1 {
		t.Errorf("notes = %v, want one 'via mirror' line", notes)
	}

	// Absent everywhere: one sentence naming each endpoint.
	_, err = src.HeadManifest(ctx, "2")
	msg := errdefs.Message(err)
	for _, w := range []string{"cannot reach mirror " + gone.URL + ": connection refused", "not found at mirror " + emptySrv.URL, "not found at mirror " + fullSrv.URL, "not found at registry " + originHost} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
	if !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("kind %v, want NotFound", errdefs.KindOf(err))
	}

	// Reads of a destination and pushes go to the registry alone.
	before := empty.all.Load() + full.all.Load()
	dst, err := c.Repository(ctx, repo, Push)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.HeadManifest(ctx, "1"); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("the registry itself has no app:1, got %v", err)
	}
	if _, _, err := dst.StartUpload(ctx, want, nil); err != nil {
		t.Fatal(err)
	}
	if got := empty.all.Load() + full.all.Load(); got != before {
		t.Errorf("a push handle sent %d requests to the mirrors", got-before)
	}
	if n := empty.nonReads.Load() + full.nonReads.Load(); n != 0 {
		t.Errorf("mirrors got %d requests that are not reads", n)
	}
}
