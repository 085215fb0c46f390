package plan_test

import (
	"context"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// holder is a destination that keeps images under names but no manifests
// (as a Docker engine): it holds root under the tag, or another image, or
// nothing.
type holder struct {
	*memstore.Store
	held *store.Held
	same v1.Hash
}

func (h holder) HeldImage(_ context.Context, _ string, root v1.Descriptor, _ []byte) (store.Held, error) {
	if h.held == nil {
		return store.Held{}, errdefs.New(errdefs.NotFound, "no image")
	}
	return store.Held{ID: h.held.ID, Same: root.Digest == h.same}, nil
}

// TestBuildHeldImage plans a copy into a place that can only say whether it
// holds the planned image: the same one is up to date with nothing to copy,
// another is what the tag points at.
func TestBuildHeldImage(t *testing.T) {
	src := memstore.New("src.test/app")
	layer := src.AddBlob(types.OCILayer, []byte("payload"))
	d := src.Manifest2(types.OCIConfigJSON, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`), layer)
	body, _ := src.Manifest(d.Digest.String())
	src.Put("v1", d.MediaType, body)
	other := v1.Hash{Algorithm: "sha256", Hex: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	im := copyopts.Image{Source: srcRef, Destination: dstRef}

	for _, tc := range []struct {
		name     string
		dst      holder
		upToDate bool
		tag      v1.Hash
	}{
		{"same", holder{held: &store.Held{ID: other}, same: d.Digest}, true, d.Digest},
		{"another", holder{held: &store.Held{ID: other}}, false, other},
		{"none", holder{}, false, v1.Hash{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.dst.Store = memstore.New("dst.test/app")
			p, err := plan.Build(context.Background(), src, tc.dst, im, copyopts.Shared{Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if p.UpToDate != tc.upToDate || p.DestinationTag != tc.tag {
				t.Errorf("up to date %v, tag %s; want %v, %s", p.UpToDate, p.DestinationTag, tc.upToDate, tc.tag)
			}
			copies := 0
			for _, b := range p.Blobs {
				if b.Action != plan.Skip {
					copies++
				}
			}
			if tc.upToDate && (copies != 0 || p.Root.Action != plan.Skip) {
				t.Errorf("an up-to-date plan copies %d blobs, root %s", copies, p.Root.Action)
			}
			if !tc.upToDate && copies != 2 {
				t.Errorf("%d blobs to copy, want 2", copies)
			}
		})
	}
}
