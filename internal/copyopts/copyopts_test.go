package copyopts

import (
	"context"
	"errors"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/store"
)

// A small blob does not wait behind large ones, and a wait ends with its
// context.
func TestSlots(t *testing.T) {
	s := NewSlots(1)
	ctx := context.Background()
	release, err := s.Acquire(ctx, store.SmallBlobSize+1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := s.Acquire(ctx, store.SmallBlobSize); err != nil {
			t.Fatalf("small blob %d: %v", i, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Acquire(cancelled, store.SmallBlobSize+1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a large blob while the one large slot is taken: %v; want the context's end", err)
	}
	if _, err := s.Acquire(cancelled, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a fifth small blob with 4 small slots taken: %v; want the context's end", err)
	}
	release()
	if _, err := s.Acquire(ctx, store.SmallBlobSize+1); err != nil {
		t.Fatalf("a large blob after the release: %v", err)
	}
}
