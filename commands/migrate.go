package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
)

// Exit codes, as docker uses them.
const (
	exitFailure     = 1
	exitUsage       = 125
	exitInterrupted = 130
)

type migrateOptions struct {
	platforms    []string
	jobs         int
	dryRun       bool
	progress     string
	format       string
	insecure     []string
	strategy     string
	mediaTypes   string
	manifest     manifestOptions
	buildx       buildxOptions
	batch        batchOptions
	sync         syncOptions
	referrers    referrerOptions
	check        checkFlags
	verify       verifyFlags
	metadataFile string
	noClobber    bool
	mirrors      mirrorOptions
	// changed are the flags the command line set.
	changed map[string]bool
}

// insecureAll is what a bare --insecure means: both sides.
const insecureAll = "*"

func newMigrateCommand(dockerCli command.Cli) *cobra.Command {
	var opts migrateOptions
	cmd := &cobra.Command{
		Use:     "migrate [OPTIONS] SRC [SRC...] DST | -f LIST DST",
		Short:   "Copy images, multi-arch included, between registries, archives and engines",
		Long:    migrateLong,
		Example: migrateExample,
		Args: func(cmd *cobra.Command, args []string) error {
			opts.changed = changedFlags(cmd)
			return finalStatus(dockerCli, opts, checkPositional(cmd, opts, args))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			srcs, dst := args[:len(args)-1], args[len(args)-1]
			opts.changed = changedFlags(cmd)
			opts.batch.jobsSet = opts.changed["jobs"]
			return finalStatus(dockerCli, opts, runMigrate(cmd.Context(), dockerCli, opts, srcs, dst))
		},
		DisableFlagsInUseLine: true,
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, flagError(err)) })

	addMigrateFlags(cmd.Flags(), &opts)
	registerCompletions(cmd, dockerCli)
	cmd.AddCommand(newVersionCommand(dockerCli))
	showUseLine(cmd)
	return cmd
}

// checkPositional checks SRC... DST, or DST alone with -f, before anything
// is read; an error is a usage error.
func checkPositional(cmd *cobra.Command, opts migrateOptions, args []string) error {
	if err := checkArgs(opts, args); err != nil {
		return usageError(cmd, err)
	}
	switch {
	case len(opts.batch.files) > 0 && len(args) != 1:
		return usageError(cmd, fmt.Errorf("with -f, %q takes one argument, DST (the images come from the list)", cmd.CommandPath()))
	case len(opts.batch.files) == 0 && len(args) < 2:
		return usageError(cmd, fmt.Errorf("%q requires at least 2 arguments, SRC and DST (or -f LIST DST)", cmd.CommandPath()))
	}
	return nil
}

// addMigrateFlags binds the flags of docker migrate: the copy's own, then
// each group's (flags_*.go).
func addMigrateFlags(flags *pflag.FlagSet, opts *migrateOptions) {
	flags.StringSliceVar(&opts.platforms, "platform", nil, `Copy only these platforms ("os/arch[/variant]", comma-separated); the index digest then differs from the source`)
	// 16: a far link caps each connection (TCP's window, a per-flow limit on
	// the path), so a copy goes as fast as its connections together; on a near
	// link 16 share it as 8 would (BenchmarkSlowLink, BenchmarkIndexVsCrane).
	flags.IntVarP(&opts.jobs, "jobs", "j", 16, "Number of large blobs to copy in parallel, each over a connection of its own (blobs of 256 KiB or less go beside them, up to 4 times as many)")
	flags.BoolVar(&opts.dryRun, "dry-run", false, "Print the plan (every manifest and blob: copy, mount or skip) and write nothing")
	flags.StringVar(&opts.progress, "progress", "auto", `Set type of progress output on stderr ("auto", "tty", "plain", "rawjson", "quiet")`)
	flags.StringVar(&opts.format, "format", "", `Format the output: "json" (one JSON object per image and line), or a Go template ('{{.DestinationDigest}}'); default DST@DIGEST`)
	flags.StringVar(&opts.metadataFile, "metadata-file", "", "Write the result as JSON to FILE, on failure too (an array for several images)")
	flags.BoolVarP(&opts.noClobber, "no-clobber", "n", false, "Do not replace a destination tag that points at another digest: fail instead")
	flags.StringSliceVar(&opts.insecure, "insecure", nil, "Allow plain HTTP or an unverified TLS certificate for these registries (--insecure=HOST[,HOST]); bare --insecure allows it for both SRC and DST")
	flags.Lookup("insecure").NoOptDefVal = insecureAll
	flags.StringVar(&opts.strategy, "strategy", migrate.StrategyAuto, `How to copy: "auto", "index" (registry to registry, byte for byte), "manifest" (per platform through the Docker engine) or "buildx" (a FROM rebuild through BuildKit)`)
	flags.StringVar(&opts.mediaTypes, "media-types", "", `Convert manifests to "docker" (v2 schema 2) or "oci" media types while copying; the digest differs from the source when anything was converted`)
	addMirrorFlags(flags, &opts.mirrors)
	addBatchFlags(flags, &opts.batch)
	addSyncFlags(flags, &opts.sync)
	addReferrerFlags(flags, &opts.referrers)
	addCheckFlags(flags, &opts.check)
	addVerifyFlags(flags, &opts.verify)
	addManifestFlags(flags, &opts.manifest)
	addBuildxFlags(flags, &opts.buildx)
}

// showUseLine keeps "Usage: docker migrate [OPTIONS] SRC [SRC...] DST" at the
// top of the help: the docker CLI's usage template, which the plugin's
// commands inherit, says "[OPTIONS] COMMAND" instead for a command with
// subcommands (migrate has one, version).
func showUseLine(cmd *cobra.Command) {
	const (
		subcommandsUsage = "{{- if not .HasSubCommands}}  {{.UseLine}}{{end}}\n{{- if .HasSubCommands}}  {{ .CommandPath}}{{- if .HasAvailableFlags}} [OPTIONS]{{end}} COMMAND{{end}}"
		useLine          = "{{- if true}}  {{.UseLine}}{{end}}"
	)
	help := (&cobra.Command{}).HelpFunc() // cobra's own, which renders the templates
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c == cmd && c.HasParent() {
			c.SetUsageTemplate(strings.Replace(c.Parent().UsageTemplate(), subcommandsUsage, useLine, 1))
		}
		help(c, args)
	})
}

// finalStatus is the sentence a run ends with, as the CLI is to print it:
// fitted to the terminal, or, with --progress rawjson, as one more JSON event
// of the stream (the CLI prints it on stderr as it is), so that a reader of
// the stream gets JSON lines only.
func finalStatus(dockerCli command.Cli, opts migrateOptions, err error) error {
	var st cli.StatusError
	if mode, perr := progress.ParseMode(opts.progress); perr == nil && mode == progress.RawJSON && errors.As(err, &st) && st.Status != "" {
		if ev, jerr := progress.RawJSONEvent(st.Status, true); jerr == nil {
			st.Status = string(ev)
		}
		return st
	}
	return fitStatus(dockerCli, err)
}

// fitStatus wraps the sentence an error ends with to the terminal's width,
// as the rest of what the command prints on a terminal.
func fitStatus(dockerCli command.Cli, err error) error {
	var st cli.StatusError
	if !errors.As(err, &st) || st.Status == "" {
		return err
	}
	if width := terminalWidth(dockerCli); width > 0 {
		lines := strings.Split(st.Status, "\n")
		for i, l := range lines {
			lines[i] = progress.Wrap(l, width, "  ")
		}
		st.Status = strings.Join(lines, "\n")
	}
	return st
}

func usageError(cmd *cobra.Command, err error) error {
	return cli.StatusError{
		Status:     fmt.Sprintf("%s\nSee '%s --help'.", err, cmd.CommandPath()),
		StatusCode: exitUsage,
	}
}

// migrateLong is the help text of docker migrate.
const migrateLong = `Copy images, multi-arch included, between registries, archives and engines.

SRC and DST are image references as docker uses them: "golang:1.25-alpine"
means docker.io/library/golang:1.25-alpine. SRC may be pinned by digest
(NAME@sha256:...). When DST has no tag it takes SRC's tag. A DST that is a
registry alone (localhost:5000, harbor.lan) is a place: the image keeps its
repository path there (nginx:1.27 → localhost:5000/library/nginx:1.27).

Several SRCs, or -f LIST (a list of images, one per line, or a YAML sync
file; -f - reads stdin), copy many images in one run. DST is then a place:
a registry prefix, under which each image keeps its repository path
(nginx:1.27 → PREFIX/library/nginx:1.27), or an archive. A location is a
registry reference, oci:DIR, oci-archive:FILE(.tar, .tar.gz, .tar.zst),
docker-archive:FILE, or a Docker engine.

docker-daemon:NAME[:TAG] is an image in the engine of the current docker
context (docker --context, DOCKER_HOST, DOCKER_CONTEXT); as DST,
docker-daemon: alone is a place where each image keeps its name.
docker-daemon@CONTEXT:NAME[:TAG] and docker-daemon@CONTEXT: name the engine
of another docker context, ssh:// ones included, so that one command copies
from one engine to another. An engine with the classic image store takes
one platform per image: its own, or the one --platform names.

Credentials come from 'docker login': the same config file, credential store
and helpers the docker CLI uses, including 'docker --config DIR'.

On success, stdout carries one line per image, DST@sha256:DIGEST, or what
--format asks for; progress goes to stderr.

Exit status: 0 when every image named is at DST, whole and pullable (with
--check: equal or the same content); 1 when any image did not arrive (or is
not); 125 for bad input, before anything is read or written; 130 when
interrupted.`

// migrateExample are the examples of docker migrate's help.
const migrateExample = `  # Mirror a multi-arch image from Docker Hub into a private registry
  docker migrate golang:1.25-alpine registry.example.com/mirror/golang

  # Only the platforms your cluster runs (the index digest then changes)
  docker migrate --platform linux/amd64,linux/arm64 golang:1.25-alpine registry.example.com/mirror/golang:1.25-alpine

  # See what would be copied, without writing anything
  docker migrate --dry-run nginx:1.27 localhost:5000/nginx

  # A registry with a self-signed certificate or plain HTTP
  docker migrate --insecure=registry.lan:5000 alpine:3.20 registry.lan:5000/alpine

  # The digest that arrived, for a script; the whole result in a file
  digest=$(docker migrate --format '{{.DestinationDigest}}' --metadata-file result.json nginx:1.27 harbor.lan/mirror/nginx)

  # Many images from a list into a registry prefix
  docker migrate -f images.txt harbor.lan/mirror

  # An image from a registry into the engine of the "edge" context (over ssh)
  docker migrate nginx:1.27 docker-daemon@edge:

  # An image built locally into a registry
  docker migrate docker-daemon:myapp:1.0 registry.example.com/team/myapp:1.0`
