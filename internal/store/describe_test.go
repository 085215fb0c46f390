package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
)

func TestDescribe(t *testing.T) {
	s := memstore.New("mem")
	want := s.Index("v1", s.Image("linux/amd64", 10))
	var gets int
	s.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		switch op {
		case memstore.HeadManifest:
			return fmt.Errorf("HEAD %s gave no Docker-Content-Digest: %w", ref, store.ErrNoDigest)
		case memstore.GetManifest:
			gets++
		}
		return nil
	}
	got, err := store.Describe(context.Background(), s, "v1")
	if err != nil || got.Digest != want.Digest || gets != 1 {
		t.Fatalf("Describe after a HEAD with no digest = %v, %v after %d GETs; want %s by one GET", got.Digest, err, gets, want.Digest)
	}

	s.Hook = nil
	if got, err := store.Describe(context.Background(), s, "v1"); err != nil || got.Digest != want.Digest {
		t.Errorf("Describe = %v, %v; want %s", got.Digest, err, want.Digest)
	}
	if _, err := store.Describe(context.Background(), s, "v2"); !errdefs.Is(err, errdefs.NotFound) || errors.Is(err, store.ErrNoDigest) {
		t.Errorf("Describe of a missing tag: %v; want NotFound", err)
	}
}
