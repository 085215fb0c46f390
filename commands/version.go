package commands

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"

	"github.com/docker-migrate/docker-migrate/plugin"
)

// versionOptions are the flags of `docker migrate version`.
type versionOptions struct {
	short  bool
	format string
}

// versionInfo is what `docker migrate version --format json` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func newVersionCommand(dockerCli command.Cli) *cobra.Command {
	var opts versionOptions
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the docker-migrate version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(dockerCli, opts)
		},
		DisableFlagsInUseLine: true,
		ValidArgsFunction:     cobra.NoFileCompletions,
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, err) })
	flags := cmd.Flags()
	flags.BoolVar(&opts.short, "short", false, "Print the version number only")
	flags.StringVar(&opts.format, "format", "", `Format the output: "json"`)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{formatJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runVersion(dockerCli command.Cli, opts versionOptions) error {
	info := versionInfo{Version: plugin.Version, Revision: plugin.Revision, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	out := dockerCli.Out()
	switch {
	case opts.format == formatJSON:
		b, err := json.Marshal(info)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	case opts.format != "":
		return fmt.Errorf("invalid --format %q: expected json", opts.format)
	case opts.short:
		_, err := fmt.Fprintln(out, info.Version)
		return err
	}
	_, err := fmt.Fprintf(out, "docker-migrate %s (%s, %s)\n", info.Version, info.GoVersion, info.Platform)
	return err
}
