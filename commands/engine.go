package commands

import (
	"context"

	"github.com/docker/cli/cli/command"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/engine"
	"github.com/docker-migrate/docker-migrate/plugin"
)

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

// oneEngineImage reports a run that copies the one image an engine SRC names
// (docker-daemon:NAME) to a registry reference, which is then the image's
// whole destination, as for a registry SRC.
func oneEngineImage(opts migrateOptions, srcs []string, dst string) bool {
	if len(srcs) != 1 || len(opts.batch.files) > 0 || isArchive(dst) || location.IsRegistryHost(dst) {
		return false
	}
	loc, err := location.Parse(srcs[0])
	return err == nil && loc.IsEngine() && loc.Image != ""
}
