package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/uploadsession"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// Exit codes, as docker uses them.
const (
	exitFailure     = 1
	exitUsage       = 125
	exitInterrupted = 130
)

type migrateOptions struct {
	source, destination string
	platforms           []string
	jobs                int
	dryRun              bool
	progress            string
	format              string
	insecure            []string
	strategy            string
	mediaTypes          string
	manifest            manifestOptions
	buildx              buildxOptions
	batch               batchOptions
	sync                syncOptions
	referrers           referrerOptions
	check               checkFlags
	verify              verifyFlags
	metadataFile        string
	noClobber           bool
	mirrors             mirrorOptions
	// changed are the flags the command line set.
	changed map[string]bool
}

// insecureAll is what a bare --insecure means: both sides.
const insecureAll = "*"

func newMigrateCommand(dockerCli command.Cli) *cobra.Command {
	var opts migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate [OPTIONS] SRC [SRC...] DST | -f LIST DST",
		Short: "Copy images, multi-arch included, between registries, archives and engines",
		Long: `Copy images, multi-arch included, between registries, archives and engines.

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
interrupted.`,
		Example: `  # Mirror a multi-arch image from Docker Hub into a private registry
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
  docker migrate docker-daemon:myapp:1.0 registry.example.com/team/myapp:1.0`,
		Args: func(cmd *cobra.Command, args []string) error {
			opts.changed = changedFlags(cmd)
			if err := checkArgs(opts, args); err != nil {
				return finalStatus(dockerCli, opts, usageError(cmd, err))
			}
			switch {
			case len(opts.batch.files) > 0 && len(args) != 1:
				return finalStatus(dockerCli, opts, usageError(cmd, fmt.Errorf("with -f, %q takes one argument, DST (the images come from the list)", cmd.CommandPath())))
			case len(opts.batch.files) == 0 && len(args) < 2:
				return finalStatus(dockerCli, opts, usageError(cmd, fmt.Errorf("%q requires at least 2 arguments, SRC and DST (or -f LIST DST)", cmd.CommandPath())))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			srcs, dst := args[:len(args)-1], args[len(args)-1]
			opts.changed = changedFlags(cmd)
			opts.batch.jobsSet = opts.changed["jobs"]
			if exactDestination(opts, srcs, dst) && !opts.batch.batchOnly() && !opts.check.enabled && !opts.sync.any() {
				opts.source, opts.destination = srcs[0], dst
				return finalStatus(dockerCli, opts, runMigrate(cmd.Context(), dockerCli, opts))
			}
			return finalStatus(dockerCli, opts, runBatch(cmd.Context(), dockerCli, opts, srcs, dst))
		},
		DisableFlagsInUseLine: true,
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, flagError(err)) })

	flags := cmd.Flags()
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
	registerCompletions(cmd, dockerCli)
	cmd.AddCommand(newVersionCommand(dockerCli))
	showUseLine(cmd)
	return cmd
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

// fitStatus wraps the sentence an error ends with to the terminal's width,
// as the rest of what the command prints on a terminal.
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

// parsed is migrateOptions checked and resolved.
type parsed struct {
	source, destination name.Reference
	displayDestination  string
}

// parseReferences applies docker's normalisation and the DST-takes-SRC's-tag rule.
func parseReferences(src, dst string) (parsed, error) {
	srcNamed, err := location.ParseReference(src)
	if err != nil {
		return parsed{}, fmt.Errorf("invalid reference for SRC: %v", err)
	}
	srcNamed = reference.TagNameOnly(srcNamed)
	dstNamed, err := location.ParseReference(dst)
	if err != nil {
		return parsed{}, fmt.Errorf("invalid reference for DST: %v", err)
	}
	if _, ok := dstNamed.(reference.Digested); ok {
		return parsed{}, fmt.Errorf("invalid reference %q for DST: give a tag, not a digest; the digest is the source's", dst)
	}
	if _, ok := dstNamed.(reference.Tagged); !ok {
		srcTag, ok := srcNamed.(reference.Tagged)
		if !ok {
			return parsed{}, fmt.Errorf("DST %q needs a tag: SRC %q is pinned by digest only and has no tag to take", dst, src)
		}
		if dstNamed, err = reference.WithTag(dstNamed, srcTag.Tag()); err != nil {
			return parsed{}, err
		}
	}
	var p parsed
	// Pinned by digest, the tag (if any) is only a label: read by digest.
	srcRef := srcNamed.String()
	if d, ok := srcNamed.(reference.Digested); ok {
		srcRef = reference.TrimNamed(srcNamed).String() + "@" + d.Digest().String()
	}
	if p.source, err = name.ParseReference(srcRef); err != nil {
		return parsed{}, fmt.Errorf("invalid reference %q for SRC: %v", src, err)
	}
	if p.destination, err = name.ParseReference(dstNamed.String()); err != nil {
		return parsed{}, fmt.Errorf("invalid reference %q for DST: %v", dst, err)
	}
	p.displayDestination = reference.FamiliarString(dstNamed)
	return p, nil
}

// checked is what every run needs, parsed from the flags.
type checked struct {
	mode progress.Mode
	// out prints the results as --format asks.
	out   *printer
	plats []v1.Platform
	// mirrors are the --registry-mirror endpoints, validated.
	mirrors []registry.Endpoint
	// keys are --verify-key's, loaded.
	keys   verify.Keys
	debug  bool
	debugf func(format string, args ...any)
}

// checkOptions validates the flags every run shares; an error is a usage error.
func checkOptions(dockerCli command.Cli, opts migrateOptions) (checked, error) {
	var c checked
	var err error
	if c.mode, err = progress.ParseMode(opts.progress); err != nil {
		return c, err
	}
	if c.out, err = newPrinter(opts.format, dockerCli.Out()); err != nil {
		return c, err
	}
	c.out.keep = opts.metadataFile != ""
	if opts.jobs < 1 || opts.jobs > 64 {
		return c, fmt.Errorf("invalid --jobs %d: give a whole number from 1 to 64, e.g. --jobs 8", opts.jobs)
	}
	if c.plats, err = platforms.ParseList(opts.platforms); err != nil {
		return c, err
	}
	switch opts.strategy {
	case migrate.StrategyAuto, migrate.StrategyIndex, migrate.StrategyManifest, migrate.StrategyBuildx:
	default:
		return c, fmt.Errorf("invalid --strategy %q: expected auto, index, manifest or buildx", opts.strategy)
	}
	if err := checkMediaTypes(opts.mediaTypes); err != nil {
		return c, err
	}
	if err := checkFlagValues(opts); err != nil {
		return c, err
	}
	if c.mirrors, err = checkMirrors(opts.mirrors); err != nil {
		return c, err
	}
	if c.keys, err = verify.LoadKeys(opts.verify.keys); err != nil {
		return c, fmt.Errorf("--verify-key: %s", errdefs.Message(err))
	}
	if c.mode == progress.Auto {
		c.mode = progress.Plain
		if dockerCli.Err().IsTerminal() {
			c.mode = progress.TTY
		}
	}
	c.debug = logrus.IsLevelEnabled(logrus.DebugLevel)
	c.debugf = func(format string, args ...any) {
		if c.debug {
			logrus.Debugf(format, args...)
		}
	}
	return c, nil
}

// newCopy is the single copy as a batch and a one-image run share it: the
// registry client over the docker CLI's credentials, and the strategies.
func newCopy(dockerCli command.Cli, opts migrateOptions, c checked, insecure func(string) bool, notify func(string, ...any), more ...registry.Option) (migrate.Options, error) {
	client := registry.New(append([]registry.Option{
		registry.WithKeychain(plugin.Keychain(dockerCli.ConfigFile())),
		registry.WithInsecure(insecure),
		registry.WithCertDirs(plugin.CertDirs()...),
		registry.WithUserAgent("docker-migrate/" + plugin.Version),
		registry.WithDebugf(c.debugf),
		registry.WithNotify(notify),
	}, append(registrySettings(dockerCli, opts.mirrors, c.mirrors, c.debugf), more...)...)...)
	env := strategyEnv{dockerCli: dockerCli, registry: client, debugf: c.debugf, progress: c.mode}
	var strategies []strategy.Strategy
	for _, mk := range []func() (strategy.Strategy, error){
		func() (strategy.Strategy, error) { return newManifestStrategy(env, opts.manifest) },
		func() (strategy.Strategy, error) { return newBuildxStrategy(env, opts.buildx) },
	} {
		s, err := mk()
		if err != nil {
			return migrate.Options{}, err
		}
		if s != nil {
			strategies = append(strategies, s)
		}
	}
	return migrate.Options{
		Image: copyopts.Image{Platforms: c.plats},
		Shared: copyopts.Shared{
			Jobs:      opts.jobs,
			Manifests: manifestcache.Open(""),
			Blobs:     manifestcache.OpenBlobRecord(""),
			Uploads:   uploadsession.Open(""),
			Debugf:    c.debugf,
		},
		DryRun:     opts.dryRun,
		Strategy:   opts.strategy,
		MediaTypes: plan.Format(opts.mediaTypes),
		NoClobber:  opts.noClobber,
		Strategies: strategies,
		Registry:   client,
		// --referrers, and --referrer-type (which means it).
		Referrers:     opts.referrers.enabled || len(opts.referrers.types) > 0,
		ReferrerTypes: opts.referrers.types,
		VerifyKeys:    c.keys,
	}, nil
}

func runMigrate(ctx context.Context, dockerCli command.Cli, opts migrateOptions) error {
	refs, err := parseReferences(opts.source, opts.destination)
	if err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitUsage}
	}
	c, err := checkOptions(dockerCli, opts)
	if err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitUsage}
	}
	debug := c.debug

	// Ctrl-C reaches the plugin directly on a terminal, and through the CLI's
	// socket (which cancels ctx) otherwise.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	pw := progress.New(progressOut(dockerCli, c.mode), c.mode)
	o, err := newCopy(dockerCli, opts, c, insecureHosts(opts.insecure, refs), pw.Logf)
	if err != nil {
		pw.Stop(err)
		return cli.StatusError{Status: err.Error(), StatusCode: exitUsage}
	}
	o.Source, o.Destination, o.Progress = refs.source, refs.destination, pw
	if c.mode == progress.Plain {
		// At once: the plan can take a while on a slow link.
		pw.Logf("planning the copy of %s to %s", wording.Reference(refs.source), refs.displayDestination)
	}
	res, describe, err := migrate.Run(ctx, o)
	pw.Stop(stopReason(ctx, err))
	if err != nil {
		st := failure(ctx, err, debug, fmt.Sprintf("interrupted: %s was not changed", refs.displayDestination))
		// Scripts get the failure as they get a success: on stdout with
		// --format json, and in the metadata file.
		if perr := c.out.print(migrate.Failed(res, refs.source, refs.destination, st.Status), refs.displayDestination); perr != nil {
			logrus.Debugf("print the failure: %v", perr)
		}
		if merr := c.out.writeMetadata(opts.metadataFile, false); merr != nil {
			pw.Logf("warning: %v", merr)
		}
		return st
	}

	if opts.dryRun && c.out.format == "" && c.out.tmpl == nil {
		if err := describe(dockerCli.Out()); err != nil {
			return err
		}
	}
	// With rawjson the stream is the whole of stderr: the summary is left
	// out, as buildx leaves out its build details (stdout has the result).
	if c.mode != progress.Quiet && c.mode != progress.RawJSON && !opts.dryRun && c.out.format == "" {
		summary(dockerCli.Err(), res, terminalWidth(dockerCli))
	}
	if err := c.out.print(res, refs.displayDestination); err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
	}
	if err := c.out.writeMetadata(opts.metadataFile, false); err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
	}
	return nil
}

// stopReason is how the progress display ends: done, failed, or interrupted.
func stopReason(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Canceled
	}
	return err
}

// summary says on stderr what the copy did, in lines that fit the terminal
// (width 0: not a terminal, no wrapping). The last line says which strategy
// did it and whether the digest changed.
func summary(w io.Writer, r *migrate.Result, width int) {
	say := func(format string, args ...any) {
		fmt.Fprintln(w, progress.Wrap(fmt.Sprintf(format, args...), width, "  "))
	}
	switch {
	case r.UpToDate && r.DigestChanged:
		say("Done: %s is up to date; its digest differs from the source's (%s).", r.Destination, r.DigestNote)
		return
	case r.UpToDate:
		say("Done: %s is up to date; the digest is unchanged.", r.Destination)
		return
	}
	elapsed := time.Duration(r.DurationSeconds * float64(time.Second))
	speed := ""
	if r.Bytes.Copied > 0 && elapsed > 0 {
		speed = fmt.Sprintf(", %s/s", units.HumanSize(float64(r.Bytes.Copied)/elapsed.Seconds()))
	}
	say("Copied %s to %s in %s%s.", r.Source, r.Destination, elapsed.Round(10*time.Millisecond), speed)
	say("  %s; manifests: %d pushed, %d already there.", wording.Count(len(r.Platforms), "platform"), r.Manifests.Copied, r.Manifests.Skipped)
	say("  Blobs: %d copied (%s), %d mounted (%s), %d already there (%s).",
		r.Blobs.Copied, units.HumanSize(float64(r.Bytes.Copied)), r.Blobs.Mounted, units.HumanSize(float64(r.Bytes.Mounted)),
		r.Blobs.Skipped, units.HumanSize(float64(r.Bytes.Skipped)))
	if r.ContentVerified != nil {
		if *r.ContentVerified {
			say("Content verified: every platform has the same rootfs.diff_ids (uncompressed layers) as the source.")
		} else {
			say("Warning: some platforms' rootfs.diff_ids differ from the source's; the content is not identical.")
		}
	}
	if r.DigestChanged {
		say("Done with the %s strategy; the digest differs from the source (%s).", r.Strategy, r.DigestNote)
	} else {
		say("Done with the %s strategy; the digest is unchanged.", r.Strategy)
	}
}

// strategyEnv is what the engine- and builder-backed strategies are built from.
type strategyEnv struct {
	dockerCli command.Cli
	registry  *registry.Client
	debugf    func(format string, args ...any)
	progress  progress.Mode
}

// insecureHosts turns --insecure values into a predicate; a bare --insecure
// covers the hosts of SRC and DST.
func insecureHosts(values []string, refs parsed) func(string) bool {
	var hosts []string
	for _, v := range values {
		if v == insecureAll {
			hosts = append(hosts, refs.source.Context().RegistryStr(), refs.destination.Context().RegistryStr())
			continue
		}
		hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(v, "https://"), "http://"), "/"))
	}
	return func(host string) bool { return slices.Contains(hosts, host) }
}

// failure turns err into the one sentence the CLI prints, with the detail first
// under -D, and the exit code: 125 for bad input, 130 (saying interrupted) when
// the run was cancelled.
func failure(ctx context.Context, err error, debug bool, interrupted string) cli.StatusError {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return cli.StatusError{Status: interrupted, StatusCode: exitInterrupted}
	}
	if debug {
		for _, line := range errdefs.Detail(err) {
			logrus.Debug(line)
		}
	}
	code := exitFailure
	if errdefs.Is(err, errdefs.InvalidArgument) {
		code = exitUsage
	}
	return cli.StatusError{Status: errdefs.Message(err), StatusCode: code}
}
