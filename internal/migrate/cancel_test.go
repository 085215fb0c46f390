package migrate_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestRunCancelled: however a copy is cancelled, Run returns the
// cancellation and claims nothing at the destination, so that no caller can
// report it as done.
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
				Image: copyopts.Image{Source: name.MustParseReference("src.test/app:v1"), Destination: name.MustParseReference("dst.test/app:v1"),
					SourceStore: src, DestinationStore: dst},
				Shared: copyopts.Shared{Jobs: 1, Progress: progress.Discard()},
			}
			var reads atomic.Int32
			switch stage {
			case "waiting for a slot":
				// A batch's other copy holds the one large slot.
				o.Slots = copyopts.NewSlots(1)
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
			// What moved may be said; that the image is at DST may not.
			if !errors.Is(err, context.Canceled) || (res != nil && res.DestinationDigest != "") {
				t.Errorf("Run after a cancel = %+v, %v; want context.Canceled and no destination digest", res, err)
			}
			if _, ok := dst.Manifest("v1"); ok {
				t.Error("a cancelled run wrote the tag")
			}
		})
	}
}

// TestRunStoresNoStrategyHint: a copy between stores (an archive's, say)
// that gave no --strategy and is refused is not told to run "without
// --strategy".
func TestRunStoresNoStrategyHint(t *testing.T) {
	src := memstore.New("src.test/app")
	src.Index("v1", src.Image("linux/amd64", 10))
	dst := memstore.New("dst.test/app")
	u, _ := url.Parse("http://dst.test/v2/app/manifests/v1")
	dst.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		if op == memstore.PutManifest {
			return &registry.ManifestPutError{MediaType: types.OCIManifestSchema1, Ref: ref, Err: &transport.Error{
				StatusCode: http.StatusBadRequest, Request: &http.Request{URL: u},
				Errors: []transport.Diagnostic{{Code: transport.ManifestInvalidErrorCode, Message: "manifest invalid"}}}}
		}
		return nil
	}
	_, _, err := migrate.Run(context.Background(), migrate.Options{
		Image: copyopts.Image{Source: name.MustParseReference("src.test/app:v1"), Destination: name.MustParseReference("dst.test/app:v1"),
			SourceStore: src, DestinationStore: dst},
		Shared: copyopts.Shared{Jobs: 1, Progress: progress.Discard()},
	})
	if err == nil || strings.Contains(errdefs.Message(err), "--strategy") {
		t.Errorf("Run = %v; want a failure that does not mention --strategy", err)
	}
}
