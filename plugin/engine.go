package plugin

import (
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/context/docker"
	"github.com/moby/moby/client"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// EngineDesc names the engine of the current context for messages:
// "unix:///var/run/docker.sock (context default)".
func EngineDesc(dockerCli command.Cli) string {
	return fmt.Sprintf("%s (context %s)", dockerCli.DockerEndpoint().Host, dockerCli.CurrentContext())
}

// RegistryAuth returns a function giving the X-Registry-Auth value for the
// registry of an image reference, from the CLI's credential store: what
// `docker pull` and `docker push` send.
func RegistryAuth(dockerCli command.Cli) func(ref string) (string, error) {
	return func(ref string) (string, error) {
		return command.RetrieveAuthTokenFromImage(dockerCli.ConfigFile(), ref)
	}
}

// ContextEngine returns an engine client for the docker context named
// contextName, built the way the docker CLI builds its own (TLS material from
// the context store, and docker/cli's connection helper for ssh:// hosts,
// which runs `ssh HOST docker system dial-stdio`), and names it for
// messages. "" is the current context: the CLI's own client.
func ContextEngine(dockerCli command.Cli, contextName string) (client.APIClient, string, error) {
	if contextName == "" || contextName == dockerCli.CurrentContext() {
		return dockerCli.Client(), EngineDesc(dockerCli), nil
	}
	s := dockerCli.ContextStore()
	meta, err := s.GetMetadata(contextName)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, "", errdefs.Wrap(err, errdefs.InvalidArgument, "docker context %q does not exist: 'docker context ls' lists them", contextName)
		}
		return nil, "", errdefs.Wrap(err, errdefs.InvalidArgument, "cannot read docker context %q: %v", contextName, err)
	}
	epMeta, err := docker.EndpointFromContext(meta)
	if err != nil {
		return nil, "", errdefs.Wrap(err, errdefs.InvalidArgument, "docker context %q has no Docker endpoint: %v", contextName, err)
	}
	ep, err := docker.WithTLSData(s, contextName, epMeta)
	if err != nil {
		return nil, "", errdefs.Wrap(err, errdefs.InvalidArgument, "cannot read the TLS files of docker context %q: %v", contextName, err)
	}
	opts, err := ep.ClientOpts()
	if err != nil {
		return nil, "", errdefs.Wrap(err, errdefs.InvalidArgument, "docker context %q: %v", contextName, err)
	}
	if h := dockerCli.ConfigFile().HTTPHeaders; len(h) > 0 {
		opts = append(opts, client.WithHTTPHeaders(h))
	}
	opts = append(opts, client.WithUserAgent("docker-migrate/"+Version))
	c, err := client.New(opts...)
	if err != nil {
		return nil, "", errdefs.Wrap(err, errdefs.InvalidArgument, "docker context %q: %v", contextName, err)
	}
	return c, fmt.Sprintf("%s (context %s)", ep.Host, contextName), nil
}
