package commands

import (
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/strategy"
)

// manifestOptions are the flags of the manifest strategy.
type manifestOptions struct{}

func addManifestFlags(_ *pflag.FlagSet, _ *manifestOptions) {}

// newManifestStrategy returns nil until the manifest strategy is built.
func newManifestStrategy(_ strategyEnv, _ manifestOptions) (strategy.Strategy, error) {
	return nil, nil
}
