package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// getting is a store that resolves references by a GET, as a registry does
// when its HEAD gave no digest (store.Describer).
type getting struct{ *memstore.Store }

func (g getting) Describe(ctx context.Context, ref string) (v1.Descriptor, error) {
	_, d, err := g.GetManifest(ctx, ref)
	return d, err
}

func TestDescribe(t *testing.T) {
	s := memstore.New("mem")
	want := s.Index("v1", s.Image("linux/amd64", 10))
	var heads, gets int
	s.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		switch op {
		case memstore.HeadManifest:
			heads++
			return fmt.Errorf("HEAD %s gave no Docker-Content-Digest: %w", ref, store.ErrNoDigest)
		case memstore.GetManifest:
			gets++
		}
		return nil
	}
	got, err := store.Describe(context.Background(), getting{s}, "v1")
	if err != nil || got.Digest != want.Digest || heads != 0 || gets != 1 {
		t.Fatalf("Describe of a Describer = %v, %v after %d HEADs and %d GETs; want %s by its own Describe", got.Digest, err, heads, gets, want.Digest)
	}
	// A store that is no Describer answers by its HEAD, whatever that says.
	if _, err := store.Describe(context.Background(), s, "v1"); !errors.Is(err, store.ErrNoDigest) || gets != 1 {
		t.Fatalf("Describe of a plain store = %v after %d GETs; want its HEAD's error and no GET", err, gets)
	}

	s.Hook = nil
	if got, err := store.Describe(context.Background(), s, "v1"); err != nil || got.Digest != want.Digest {
		t.Errorf("Describe = %v, %v; want %s", got.Digest, err, want.Digest)
	}
	if _, err := store.Describe(context.Background(), s, "v2"); !errdefs.Is(err, errdefs.NotFound) || errors.Is(err, store.ErrNoDigest) {
		t.Errorf("Describe of a missing tag: %v; want NotFound", err)
	}
}
