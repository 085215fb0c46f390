package plugin

import (
	"fmt"

	"github.com/docker/cli/cli/command"
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
