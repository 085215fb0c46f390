package indexstrategy

import (
	"cmp"
	"context"
	"slices"

	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// streamOrder tells a source read as one stream (a compressed archive)
// which blobs this copy reads from it, and puts the large ones (blobs is
// sorted small first) in the order the stream passes them: each is then
// handed over as it passes, and none waits in a temporary file for a reader
// still busy with another.
func streamOrder(ctx context.Context, s store.Streamed, blobs []*plan.Blob, p *plan.Plan) {
	var reads []v1.Hash
	for _, b := range p.Blobs {
		if b.Action == plan.Copy {
			reads = append(reads, b.Digest)
		}
	}
	s.Expect(ctx, reads)
	large := slices.IndexFunc(blobs, func(b *plan.Blob) bool { return b.Size > store.SmallBlobSize })
	if large < 0 {
		return
	}
	slices.SortStableFunc(blobs[large:], func(x, y *plan.Blob) int {
		px, okx := s.StreamOrder(x.Digest)
		py, oky := s.StreamOrder(y.Digest)
		switch {
		case okx && oky:
			return cmp.Compare(px, py)
		case okx:
			return -1 // from the stream first: kept ones can wait
		case oky:
			return 1
		}
		return 0
	})
}
