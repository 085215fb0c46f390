package commands

import (
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/buildx"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// buildxOptions are the flags of the buildx strategy.
type buildxOptions struct {
	builder      string
	buildkitAddr string
	provenance   string
	sbom         string
}

func addBuildxFlags(flags *pflag.FlagSet, opts *buildxOptions) {
	flags.StringVar(&opts.builder, "builder", "", "Strategy buildx: the buildx builder to rebuild with (default: the current one, as 'docker buildx build' picks it)")
	flags.StringVar(&opts.buildkitAddr, "buildkit-addr", "", "Strategy buildx: rebuild with the BuildKit daemon at this address (unix:///PATH, tcp://HOST:PORT, docker-container://NAME) instead of a buildx builder")
	flags.StringVar(&opts.provenance, "provenance", "false", `Strategy buildx: add provenance attestations, as buildx's --provenance takes them ("true", "mode=max"); none by default`)
	flags.Lookup("provenance").NoOptDefVal = "true"
	flags.StringVar(&opts.sbom, "sbom", "false", `Strategy buildx: add SBOM attestations, as buildx's --sbom takes them ("true", "generator=IMAGE"); none by default`)
	flags.Lookup("sbom").NoOptDefVal = "true"
}

// newBuildxStrategy builds the buildx strategy over the docker CLI that
// launched the plugin. Nothing runs until the strategy is picked.
func newBuildxStrategy(env strategyEnv, opts buildxOptions) (strategy.Strategy, error) {
	d := plugin.Docker(env.dockerCli)
	s, err := buildx.New(buildx.Config{
		Docker:       buildx.Docker{Path: d.Path, Args: d.Args, Env: d.Env},
		Builder:      opts.builder,
		BuildKitAddr: opts.buildkitAddr,
		Provenance:   opts.provenance,
		SBOM:         opts.sbom,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
