package commands

// The places a run opens as stores besides registries: archives (one, or
// several as one) and the engines of docker contexts.

import (
	"context"

	"github.com/docker/cli/cli/command"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/store/engine"
	"github.com/docker-migrate/docker-migrate/internal/store/merge"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// openArchive opens an archive SRC (write false) or DST (write true).
// --platform also says which platform manifest.json (what `docker load`
// reads) names for a multi-platform image. notef is told what a reader should
// know (an index served with the platforms the archive holds), and what
// a writer cleaned up (a killed run's temporary file).
func openArchive(ctx context.Context, loc location.Location, write, force bool, plats []v1.Platform, notef func(string, ...any)) (store.Archive, error) {
	return archive.Open(ctx, loc, write, archive.Options{Force: force, Platforms: plats, Notef: notef})
}

// openArchives opens several archive SRCs as one, grouping their images by
// name: k3s's per-architecture airgap archives become multi-arch images.
func openArchives(notef func(string, ...any), plats []v1.Platform) func(ctx context.Context, locs []location.Location) (store.Archive, error) {
	return func(ctx context.Context, locs []location.Location) (store.Archive, error) {
		var parts []store.Archive
		closeAll := func() {
			for _, p := range parts {
				_ = p.Close()
			}
		}
		for _, loc := range locs {
			// Each index as it is: merge completes it from the other archives.
			a, err := archive.Open(ctx, loc, false, archive.Options{Platforms: plats, WholeIndexes: true, Notef: notef})
			if err != nil {
				closeAll()
				return nil, err
			}
			parts = append(parts, a)
		}
		m, err := merge.Open(ctx, parts, notef)
		if err != nil {
			closeAll()
			return nil, err
		}
		return m, nil
	}
}

// openEngine opens a docker-daemon location: the engine of the current
// docker context, or of the context docker-daemon@CONTEXT: names. As the DST
// (target) it streams images into one load; as a SRC it reads one image
// through the engine's save endpoint. Engines of one context share a client.
func openEngine(dockerCli command.Cli, plats []v1.Platform, notify func(string, ...any)) func(ctx context.Context, loc location.Location, target, readOnly bool) (store.Archive, error) {
	engines := map[string]*engine.Engine{}
	return func(ctx context.Context, loc location.Location, target, readOnly bool) (store.Archive, error) {
		eng := engines[loc.Context]
		if eng == nil {
			c, desc, err := plugin.ContextEngine(dockerCli, loc.Context)
			if err != nil {
				return nil, err
			}
			eng = engine.New(c, desc, loc.Context)
			engines[loc.Context] = eng
		}
		if target {
			return engine.OpenTarget(ctx, eng, loc, engine.TargetOptions{Platforms: plats, ReadOnly: readOnly})
		}
		return engine.OpenSource(ctx, eng, loc, engine.SourceOptions{Platforms: plats, Notify: notify})
	}
}
