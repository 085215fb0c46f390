package commands

import (
	"fmt"

	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// mirrorOptions are where docker.io sources are read from.
type mirrorOptions struct {
	// mirrors are --registry-mirror URLs: they replace the engine's.
	mirrors []string
	// off is --no-mirrors: read every source from its registry itself.
	off bool
}

func addMirrorFlags(flags *pflag.FlagSet, opts *mirrorOptions) {
	flags.StringArrayVar(&opts.mirrors, "registry-mirror", nil, "Read docker.io sources through this registry mirror first (repeatable; tried in order, then Docker Hub); replaces the engine's registry-mirrors")
	flags.BoolVar(&opts.off, "no-mirrors", false, "Read sources from their registries alone: no mirror from the engine, hosts.toml or --registry-mirror")
}

// checkMirrors validates each --registry-mirror as the engine validates
// its registry-mirrors; an error is bad input.
func checkMirrors(opts mirrorOptions) ([]registry.Endpoint, error) {
	if opts.off && len(opts.mirrors) > 0 {
		return nil, fmt.Errorf("--no-mirrors and --registry-mirror contradict each other: give one of them")
	}
	var out []registry.Endpoint
	for _, m := range opts.mirrors {
		e, err := registry.ValidateMirror(m)
		if err != nil {
			return nil, fmt.Errorf("--registry-mirror: %v", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// registrySettings are the registry client's options that come from the
// engine and the machine: where sources are read from (hosts.toml in
// certs.d, the engine's or --registry-mirror's mirrors for docker.io) and
// which registries the engine lists as insecure. The engine is asked only
// when one of them is needed.
func registrySettings(dockerCli command.Cli, opts mirrorOptions, flagMirrors []registry.Endpoint, debugf func(string, ...any)) []registry.Option {
	engine := plugin.NewEngineRegistry(dockerCli, debugf)
	certDirs := plugin.CertDirs()
	endpoints := func(host string) ([]registry.Endpoint, error) {
		f, err := registry.LoadHostsFile(certDirs, host)
		if err != nil {
			return nil, err
		}
		if opts.off {
			return nil, nil
		}
		if f != nil {
			debugf("%s: endpoints from %s", host, f.Path)
			if len(f.Endpoints) == 1 && !f.Endpoints[0].Mirror {
				return nil, nil
			}
			return f.Endpoints, nil
		}
		if host != name.DefaultRegistry {
			return nil, nil
		}
		mirrors := flagMirrors
		if len(opts.mirrors) == 0 {
			for _, m := range engine.Mirrors() {
				e, err := registry.ValidateMirror(m)
				if err != nil {
					debugf("the engine's registry mirror %q is not used: %v", m, err)
					continue
				}
				mirrors = append(mirrors, e)
			}
		}
		if len(mirrors) == 0 {
			return nil, nil
		}
		hub, _ := registry.ValidateMirror("https://" + name.DefaultRegistry)
		hub.Mirror = false
		return append(mirrors, hub), nil
	}
	return []registry.Option{
		registry.WithEndpoints(endpoints),
		registry.WithEngineInsecure(engine.Insecure),
	}
}
