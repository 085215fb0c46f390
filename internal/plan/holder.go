package plan

import (
	"context"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// askHolder asks a destination that keeps no manifest under a tag (a Docker
// engine, store.ImageHolder) what the tag names: the planned image whole
// makes the plan up to date, with nothing to copy; another image is what the
// tag points at (DestinationTag), which --no-clobber refuses to replace.
func askHolder(ctx context.Context, dst store.Store, p *Plan, im copyopts.Image) error {
	h, ok := dst.(store.ImageHolder)
	if !ok || p.UpToDate || im.Destination == nil || strings.HasPrefix(im.Destination.Identifier(), "sha256:") {
		return nil
	}
	root := v1.Descriptor{MediaType: p.Root.MediaType, Digest: p.Root.Digest, Size: p.Root.Size}
	held, err := h.HeldImage(ctx, im.Destination.Identifier(), root, p.Root.Body)
	switch {
	case errdefs.Is(err, errdefs.NotFound):
		p.DestinationTag = v1.Hash{}
		return nil
	case err != nil:
		return err
	case !held.Same:
		p.DestinationTag = held.ID
		return nil
	}
	p.DestinationTag, p.UpToDate = p.Root.Digest, true
	p.Root.Action = Skip
	for _, m := range p.Manifests {
		m.Action = Skip
	}
	for _, b := range p.Blobs {
		if b.Action == Copy || b.Action == Mount {
			b.Action = Skip
		}
	}
	return nil
}
