// Command docker-migrate is a Docker CLI plugin: `docker migrate SRC DST`.
package main

import (
	cliplugin "github.com/docker/cli/cli-plugins/plugin"

	"github.com/docker-migrate/docker-migrate/commands"
	"github.com/docker-migrate/docker-migrate/plugin"
)

func main() {
	// Nothing may print to stdout before this: the CLI reads the metadata JSON there.
	cliplugin.Run(commands.NewRootCmd, plugin.Metadata())
}
