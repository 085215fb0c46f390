package commands

import (
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/spf13/cobra"

	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// registerCompletions completes flag values through docker's own completion
// (`docker __complete migrate --strategy ""`, which the shell scripts of
// `docker completion` call).
func registerCompletions(cmd *cobra.Command, _ command.Cli) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	modes := make([]string, 0, len(progress.Modes))
	for _, m := range progress.Modes {
		modes = append(modes, string(m))
	}
	for flag, fn := range map[string]cobra.CompletionFunc{
		"strategy": fixed(
			"auto\tindex, then fall back to what the registries accept",
			"index\tregistry to registry, byte for byte",
			"manifest\tper platform through the Docker engine",
			"buildx\ta FROM rebuild through BuildKit",
		),
		"progress":    fixed(modes...),
		"format":      fixed(formatJSON, "{{.DestinationDigest}}", "{{json .}}"),
		"media-types": fixed(string(plan.FormatDocker), string(plan.FormatOCI)),
		"platform":    platformList,
		"builder":     builders,
		"shard":       fixed("1/2", "2/2"),
		"provenance":  fixed("false", "true", "mode=min", "mode=max"),
		"sbom":        fixed("false", "true"),
		"jobs":        cobra.NoFileCompletions,
		"tag-suffix":  cobra.NoFileCompletions,
		// --file, --failed, --report, --metadata-file: files, the default.
	} {
		if cmd.Flags().Lookup(flag) != nil {
			_ = cmd.RegisterFlagCompletionFunc(flag, fn)
		}
	}
}

// platformList completes --platform with the platforms docker's own
// --platform offers, after any already given in a comma-separated value.
func platformList(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	all, directive := completion.Platforms()(cmd, args, toComplete)
	given, _, ok := cutLast(toComplete, ",")
	if !ok {
		return all, directive
	}
	out := make([]string, 0, len(all))
	for _, p := range all {
		if !strings.Contains(","+given+",", ","+p+",") {
			out = append(out, given+","+p)
		}
	}
	return out, directive | cobra.ShellCompDirectiveNoSpace
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// builders completes --builder with the buildx builders of the docker config
// in use; it reads buildx's files rather than running `docker buildx ls`,
// which asks every builder for its status.
func builders(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return plugin.BuildxBuilders(), cobra.ShellCompDirectiveNoFileComp
}
