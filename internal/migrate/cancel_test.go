package migrate_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
)

// TestRunCancelled: however a copy is cancelled, Run returns the
// cancellation and no result, so that no caller can report it as done.
func TestRunCancelled(t *testing.T) {
	const large = 400 << 10
	for _, stage := range []string{"waiting for a slot", "mid-blob"} {
		t.Run(stage, func(t *testing.T) {
			src := memstore.New("src.test/app")
			src.Index("v1", src.Image("linux/amd64", large, large), src.Image("linux/arm64", large))
			dst := memstore.New("dst.test/app")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := migrate.Options{
				Source: name.MustParseReference("src.test/app:v1"), Destination: name.MustParseReference("dst.test/app:v1"),
				Jobs: 1, Progress: progress.Discard(), SourceStore: src, DestinationStore: dst,
			}
			var reads atomic.Int32
			switch stage {
			case "waiting for a slot":
				// A batch's other copy holds the one large slot.
				o.Slots = strategy.NewSlots(1)
				if _, err := o.Slots.Acquire(ctx, large); err != nil {
					t.Fatal(err)
				}
				src.Hook = func(ctx context.Context, op memstore.Op, _ string) error {
					if op == memstore.ReadBlob {
						cancel() // as the small blobs arrive, Ctrl-C
					}
					return nil
				}
			case "mid-blob":
				src.Hook = func(ctx context.Context, op memstore.Op, _ string) error {
					if op == memstore.ReadBlob && reads.Add(1) == 5 {
						cancel()
						return ctx.Err()
					}
					return nil
				}
			}
			res, _, err := migrate.Run(ctx, o)
			if !errors.Is(err, context.Canceled) || res != nil {
				t.Errorf("Run after a cancel = %v, %v; want no result and context.Canceled", res, err)
			}
			if _, ok := dst.Manifest("v1"); ok {
				t.Error("a cancelled run wrote the tag")
			}
		})
	}
}
