// Package commands wires docker-migrate's cobra commands to the docker CLI.
package commands

import (
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// NewRootCmd returns the plugin's command, `docker migrate`. It must not touch
// dockerCli beyond keeping it: the CLI is initialised only when a command runs.
func NewRootCmd(dockerCli command.Cli) *cobra.Command {
	return newMigrateCommand(dockerCli)
}
