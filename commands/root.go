// Package commands wires docker-migrate's cobra commands to the docker CLI.
//
// There is one verb, migrate (migrate.go: its options, help and flags), and
// version. The flags of migrate come in groups, each in a file of its own
// with what checks and reads it (flags_batch.go, flags_sync.go,
// flags_verify.go, ...). Every run takes one path: input.go checks the
// command line and reads the lists, run.go resolves the images and runs them
// as a batch (internal/batch), and the run ends as a single copy reports
// (oneimage.go) or as a batch does (batch.go); output.go prints results.
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
