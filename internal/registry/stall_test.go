package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const testStall = 300 * time.Millisecond

// A port that accepts connections and never answers ends the connect within
// about one stall timeout, with a sentence that says what it did.
func TestBlackHoleConnect(t *testing.T) {
	hole := quirk.StartBlackHole(t)
	start := time.Now()
	_, err := openRepo(context.Background(), New(WithStallTimeout(testStall)), repoOf(t, hole.Host, "a"), Pull)
	took := time.Since(start)
	if err == nil {
		t.Fatal("a black hole answered")
	}
	want := "registry " + hole.Host + " accepted the connection but sent nothing for 300ms"
	if !errdefs.Is(err, errdefs.Unreachable) || err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if took > 4*testStall {
		t.Errorf("took %s, want about %s", took, testStall)
	}
}

// A body that stops is given up after the stall timeout, not before, however
// long the whole read takes while bytes keep coming.
func TestBodyStall(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		// Slow but moving: one byte every stall/3, for longer than a stall.
		for range 6 {
			_, _ = w.Write([]byte("x"))
			http.NewResponseController(w).Flush()
			time.Sleep(testStall / 3)
		}
		<-r.Context().Done()
	}))
	defer s.Close()
	r, err := New(WithStallTimeout(testStall)).Repository(context.Background(), repoOf(t, hostOf(s), "a"), Pull)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := r.GetBlob(context.Background(), mustHash(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	se, ok := errors.AsType[*StallError](err)
	if !ok || len(b) != 6 || se.Phase != PhaseDownload {
		t.Fatalf("read %d bytes, then %v; want 6 and a download stall", len(b), err)
	}
}

// A manifest body cut short is read again; a lost answer to a manifest PUT
// is settled with a HEAD, not a failure.
func TestManifestRetries(t *testing.T) {
	backend := strings.TrimPrefix(httptest.NewServer(quiet()).URL, "http://")
	p := quirk.Start(t, backend, quirk.Options{})
	ctx := context.Background()
	img, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, p.Ref("m/img:v1"))
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	r, err := New().Repository(ctx, repoOf(t, p.Host, "m/img"), Push)
	if err != nil {
		t.Fatal(err)
	}
	p.Set(quirk.Options{TruncateManifests: 1, FlakyMaxInARow: 2})
	body, desc, err := r.GetManifest(ctx, "v1")
	if err != nil {
		t.Fatalf("GET through truncation: %v", err)
	}
	if s := p.Stats(); s.Truncated != 2 {
		t.Errorf("%d manifests cut, want 2", s.Truncated)
	}
	p.Set(quirk.Options{LoseAnswers: 1, FlakyMaxInARow: 1})
	if err := r.PutManifest(ctx, "v2", desc.MediaType, body); err != nil {
		t.Fatalf("PUT with its answer lost: %v", err)
	}
	if s := p.Stats(); s.LostAnswers != 1 || s.ManifestPuts[string(desc.MediaType)] != 1 {
		t.Errorf("%d answers lost, %v PUTs; want 1 of each (the HEAD tells it landed)", s.LostAnswers, s.ManifestPuts)
	}
}

func mustHash(t *testing.T) v1.Hash {
	t.Helper()
	h, err := v1.NewHash("sha256:" + strings.Repeat("1", 64))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
