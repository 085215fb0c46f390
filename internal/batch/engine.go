package batch

import (
	"context"

	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// onePlatform is a DST that holds one platform per image (an engine with the
// classic image store), and the platform it takes by default (its own).
type onePlatform interface {
	OnePlatform() (v1.Platform, bool)
}

// defaultPlatforms gives every image bound for a one-platform DST without a
// --platform the engine's own platform, as `docker pull` picks it from an
// index; a source that is a single-platform image is taken whatever its
// platform, as `docker pull` takes it. It asks each source what it is (a
// HEAD); one it cannot ask is given the engine's platform, and the copy
// reports what is wrong with it.
func defaultPlatforms(ctx context.Context, images []Image, reg *registry.Client) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range images {
		im := &images[i]
		if !im.defaultPlatform {
			continue
		}
		g.Go(func() error {
			src := im.SourceStore
			if src == nil && reg != nil {
				repo, err := reg.Repository(gctx, im.Source.Context(), registry.Pull)
				if err == nil {
					src = repo
				}
			}
			if src != nil && isImage(gctx, src, im.Source.Identifier()) {
				im.Platforms = nil
			}
			return nil
		})
	}
	_ = g.Wait()
}

func isImage(ctx context.Context, s store.Store, ref string) bool {
	d, err := s.HeadManifest(ctx, ref)
	return err == nil && d.MediaType.IsImage()
}
