package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"

	"github.com/docker-migrate/docker-migrate/internal/batch"
	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/uploadsession"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker-migrate/docker-migrate/plugin"
)

// run is one `docker migrate`, from its checked input to its exit status.
type run struct {
	dockerCli command.Cli
	opts      migrateOptions
	in        input
	pw        *progress.Writer
	// copy is the single copy every image is (batch.Options.Copy).
	copy  migrate.Options
	quota *batch.Quota
	// one is how a run of one image named in full reports; nil for a batch.
	one *oneImage
}

// runMigrate copies the images SRCS and the -f lists name into DST. Every
// run is a batch, one image too; a run of one image named in full differs
// only in how it reports (oneImage).
func runMigrate(ctx context.Context, dockerCli command.Cli, opts migrateOptions, srcs []string, dst string) error {
	in, err := readInput(dockerCli, opts, srcs, dst)
	if err != nil {
		return usageStatus(err)
	}
	// Ctrl-C reaches the plugin directly on a terminal, and through the CLI's
	// socket (which cancels ctx) otherwise.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	r := &run{dockerCli: dockerCli, opts: opts, in: in, quota: &batch.Quota{}}
	r.pw = progress.New(progressOut(dockerCli, in.mode), in.mode)
	defer logThrough(r.pw)()
	defer r.pw.Close()
	if in.one != nil {
		r.one = &oneImage{run: r, refs: *in.one}
	} else if dockerCli.Out().IsTerminal() {
		// Results arrive while the view is on the same terminal.
		in.out.out = r.pw.Above(in.out.out)
	}
	if r.copy, err = newCopy(dockerCli, opts, in.checked, in.insecure, r.pw.Logf, registry.WithRateLimit(r.quota.Observe)); err != nil {
		if r.one != nil {
			r.pw.Stop(err)
		}
		return usageStatus(err)
	}
	r.copy.Jobs = in.jobs
	resolved, images, err := r.resolve(ctx, srcs, dst)
	if err != nil {
		return err
	}
	defer resolved.Close()
	var report *batch.Report
	if opts.batch.reportFile != "" {
		if report, err = batch.OpenReport(opts.batch.reportFile); err != nil {
			return usageStatus(err)
		}
		defer report.Close()
	}
	if r.one != nil {
		r.one.planning()
	}
	sum := batch.Run(ctx, images, r.batchOptions(report))
	if r.one != nil {
		return r.one.finish(ctx, sum)
	}
	return r.finishBatch(ctx, sum, resolved, len(images))
}

// usageStatus is bad input, found before anything was read or written.
func usageStatus(err error) error {
	return cli.StatusError{Status: errdefs.Message(err), StatusCode: exitUsage}
}

// resolve turns the input into the batch's images: tags listed, archives and
// engines opened, each source mapped to its destination, --shard applied;
// an error is the run's status.
func (r *run) resolve(ctx context.Context, srcs []string, dst string) (batch.Resolved, []batch.Image, error) {
	opts, plats := r.opts, r.in.plats
	if r.one != nil {
		// DST as the one image's checks made it: with SRC's tag where it has
		// none, also when SRC is pinned by tag and digest.
		dst = wording.Reference(r.one.refs.destination)
	}
	resolved, err := batch.Resolve(ctx, batch.Request{
		Entries:     r.in.entries,
		Destination: dst,
		ReadOnly:    opts.dryRun || opts.check.enabled,
		Exact:       exactDestination(opts, srcs, dst) || oneEngineImage(opts, srcs, dst),
		Platforms:   plats,
		Registry:    r.copy.Registry,
		OpenArchive: func(ctx context.Context, loc location.Location, write bool) (store.Archive, error) {
			return openArchive(ctx, loc, write, opts.batch.force, plats, r.pw.Logf)
		},
		OpenArchives: openArchives(r.pw.Logf, plats),
		OpenEngine:   openEngine(r.dockerCli, plats, r.pw.Logf),
		Warnf:        r.pw.Logf,
		LoadKey:      r.in.entryKeys.load,
	})
	if err != nil {
		r.pw.Stop(stopReason(ctx, err))
		st := failure(ctx, err, r.in.debug, "interrupted before any image was copied")
		if merr := r.in.out.writeMetadata(opts.metadataFile, r.one == nil); merr != nil {
			r.pw.Logf("warning: %v", merr)
		}
		return resolved, nil, st
	}
	images := batch.Shard(resolved.Images, r.in.shardI, r.in.shardN)
	if r.one == nil {
		// An image named alone is copied as named, whatever its tag.
		if kept, dropped := batch.WithoutReferrerTags(images, r.in.checked.keys); dropped > 0 {
			images = kept
			r.pw.Logf("note: %s (sha256-HEX.sig and the like) not copied as images: with --verify-key, signatures and attestations cross with --referrers, beside the image they sign", wording.Count(dropped, "signature or referrers tag"))
		}
	}
	if resolved.Target != nil && !opts.dryRun {
		if err := batch.CheckSinglePlatform(ctx, images, resolved.Target, r.copy.Registry); err != nil {
			r.pw.Stop(stopReason(ctx, err))
			resolved.Close()
			return resolved, nil, failure(ctx, err, r.in.debug, "interrupted before any image was copied")
		}
	}
	return resolved, images, nil
}

// batchOptions is the batch run: each image's end goes to the report of a
// run of one image, or is printed as it ends.
func (r *run) batchOptions(report *batch.Report) batch.Options {
	ended := r.printEnded
	if r.one != nil {
		ended = r.one.ended
	}
	return batch.Options{
		Copy:     r.copy,
		Jobs:     r.in.jobs,
		FailFast: r.opts.batch.failFast,
		Progress: r.pw,
		Report:   report,
		Quota:    r.quota,
		Check:    r.opts.check.enabled,
		OneImage: r.one != nil,
		Ended:    ended,
	}
}

// printEnded prints an image of a batch on stdout as it ends: its --check
// verdict, or its result (with a dry run's plan before it); failures only
// with --format json.
func (r *run) printEnded(e batch.Ended) {
	out := r.in.out
	if r.opts.check.enabled {
		if e.Check != nil {
			if err := out.printCheck(e.Check, e.Image.DestinationLabel()); err != nil {
				r.pw.Logf("warning: %v", err)
			}
		}
		return
	}
	if e.Describe != nil && out.format == "" {
		fmt.Fprintf(out.out, "# %s → %s\n", wording.Reference(e.Image.Source), wording.Reference(e.Image.Destination))
		_ = e.Describe(out.out)
	}
	res := e.Result
	if !e.Outcome.Arrived() {
		res = migrate.Failed(res, e.Image.Source, e.Image.Destination, e.Reason)
	}
	if res == nil {
		return
	}
	if e.Image.DestinationName != "" {
		res.Destination = e.Image.DestinationName
	}
	if err := out.print(res, e.Image.DestinationLabel()); err != nil {
		r.pw.Logf("warning: %v", err)
	}
}

// stopReason is how the progress display ends: done, failed, or interrupted.
func stopReason(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Canceled
	}
	return err
}

// newCopy is the single copy every image of a run is: the registry client
// over the docker CLI's credentials, and the strategies.
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

// strategyEnv is what the engine- and builder-backed strategies are built from.
type strategyEnv struct {
	dockerCli command.Cli
	registry  *registry.Client
	debugf    func(format string, args ...any)
	progress  progress.Mode
}
