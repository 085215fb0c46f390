package plugin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli/command"
)

// DockerCLI is how to run the docker CLI that launched the plugin so that it
// sees what the plugin sees: the same config directory (credentials, buildx
// builders) and the same context or engine.
type DockerCLI struct {
	// Path is the docker binary; empty when none was found.
	Path string
	// Args are global flags to put before the command (--context NAME).
	Args []string
	// Env is the environment to run it with.
	Env []string
}

// Docker returns how to run the docker CLI. It only reads the environment and
// the CLI's resolved options; it starts nothing.
func Docker(dockerCli command.Cli) DockerCLI {
	var d DockerCLI
	// The CLI names itself to its plugins; a plugin run by hand falls back to PATH.
	if p := os.Getenv(metadata.ReexecEnvvar); p != "" {
		d.Path = p
	} else if p, err := exec.LookPath("docker"); err == nil {
		d.Path = p
	}
	for _, kv := range os.Environ() {
		// The plugin's own handshake with the CLI is not the child's.
		if strings.HasPrefix(kv, "DOCKER_CLI_PLUGIN_") {
			continue
		}
		d.Env = append(d.Env, kv)
	}
	// docker --config DIR reaches the plugin as a flag; the child gets it as
	// DOCKER_CONFIG, which buildx also uses to find its builders.
	if f := dockerCli.ConfigFile().Filename; f != "" {
		d.Env = append(d.Env, "DOCKER_CONFIG="+filepath.Dir(f))
	}
	// --context and -H, likewise: a named context is passed as a flag (it wins
	// over DOCKER_HOST), the default one as the endpoint it resolved to.
	if name := dockerCli.CurrentContext(); name != "" && name != command.DefaultContextName {
		d.Args = append(d.Args, "--context", name)
	} else if host := dockerCli.DockerEndpoint().Host; host != "" {
		d.Env = append(d.Env, "DOCKER_HOST="+host)
	}
	return d
}
