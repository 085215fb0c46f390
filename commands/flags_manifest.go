package commands

import (
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/manifest"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// manifestOptions are the flags of the manifest strategy.
type manifestOptions struct {
	tagSuffix string
}

func addManifestFlags(flags *pflag.FlagSet, opts *manifestOptions) {
	flags.StringVar(&opts.tagSuffix, "tag-suffix", manifest.DefaultTagSuffix,
		"Strategy manifest: suffix of the per-platform tags pushed beside DST (a Go template over .OS, .Arch and .Variant)")
}

// newManifestStrategy builds the manifest strategy over the engine of the
// current context. The engine is only contacted when the strategy runs.
func newManifestStrategy(env strategyEnv, opts manifestOptions) (strategy.Strategy, error) {
	s, err := manifest.New(manifest.Config{
		Engine:       env.dockerCli.Client(),
		EngineDesc:   plugin.EngineDesc(env.dockerCli),
		RegistryAuth: plugin.RegistryAuth(env.dockerCli),
		TagSuffix:    opts.tagSuffix,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
