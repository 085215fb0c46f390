package commands

import (
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/strategy"
)

// buildxOptions are the flags of the buildx strategy.
type buildxOptions struct{}

func addBuildxFlags(_ *pflag.FlagSet, _ *buildxOptions) {}

// newBuildxStrategy returns nil until the buildx strategy is built.
func newBuildxStrategy(_ strategyEnv, _ buildxOptions) (strategy.Strategy, error) {
	return nil, nil
}
