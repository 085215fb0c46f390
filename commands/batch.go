package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/batch"
	"github.com/docker-migrate/docker-migrate/internal/check"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/wording"
)

// batchOptions are the flags of a run of many images.
type batchOptions struct {
	files      []string
	failFast   bool
	failedFile string
	reportFile string
	shard      string
	force      bool
	// jobsSet is --jobs given on the command line, which wins over a sync
	// file's defaults.
	jobsSet bool
}

func addBatchFlags(flags *pflag.FlagSet, opts *batchOptions) {
	flags.StringArrayVarP(&opts.files, "file", "f", nil, `Copy the images LIST names: one reference per line ("SRC" or "SRC DST"), or a YAML sync file (.yaml, .yml); repeatable; "-" reads stdin`)
	flags.BoolVar(&opts.failFast, "fail-fast", false, "Stop at the first image that fails (the others are reported as not done)")
	flags.StringVar(&opts.failedFile, "failed", "", "Write the images that did not arrive to FILE, as a list that -f takes back")
	flags.StringVar(&opts.reportFile, "report", "", "Append one JSON line per image to FILE as it ends; a re-run with the same FILE skips what it shows done")
	flags.StringVar(&opts.shard, "shard", "", `Copy only shard I of N ("I/N") of the images: a stable share by a hash of each source, for parallel jobs`)
	flags.BoolVar(&opts.force, "force", false, "Replace an existing archive file at DST")
}

// batchOnly reports flags that only make sense for a run of many images; with
// them, one SRC also runs as a batch of one.
func (o batchOptions) batchOnly() bool {
	return o.failedFile != "" || o.reportFile != "" || o.shard != "" || o.failFast
}

// exactDestination reports a run of one image whose DST is its whole
// destination reference. A DST that is a registry alone ("localhost:5000",
// "harbor.lan") is a place, as for several images: the image keeps its
// repository path there, where docker would read it as a Docker Hub image.
func exactDestination(opts migrateOptions, srcs []string, dst string) bool {
	return len(srcs) == 1 && len(opts.batch.files) == 0 && !opts.sync.any() && !isArchive(srcs[0]) && !isArchive(dst) && !location.IsRegistryHost(dst)
}

// isArchive reports an archive or an engine: a location that is not a
// registry, which a batch opens as a store.
func isArchive(s string) bool {
	loc, err := location.Parse(s)
	return err == nil && (loc.IsArchive() || loc.IsEngine())
}

// parseShard reads --shard I/N.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("invalid --shard %q: expected I/N with 1 ≤ I ≤ N, e.g. --shard 2/3", s)
	}
	return i, n, nil
}

// runBatch copies many images: SRC arguments and -f lists into DST, a
// registry prefix or an archive.
func runBatch(ctx context.Context, dockerCli command.Cli, opts migrateOptions, srcs []string, dst string) error {
	usage := func(err error) error { return cli.StatusError{Status: errdefs.Message(err), StatusCode: exitUsage} }
	c, err := checkOptions(dockerCli, opts)
	if err != nil {
		return usage(err)
	}
	shardI, shardN, err := parseShard(opts.batch.shard)
	if err != nil {
		return usage(err)
	}
	var entries []imagelist.Entry
	jobs := opts.jobs
	for _, f := range opts.batch.files {
		es, defaults, err := imagelist.Read(f, os.Stdin)
		if err != nil {
			return usage(err)
		}
		entries = append(entries, es...)
		if len(c.plats) == 0 && len(defaults.Platforms) > 0 {
			for i := range es {
				if len(es[i].Platforms) == 0 {
					entries[len(entries)-len(es)+i].Platforms = defaults.Platforms
				}
			}
		}
		if defaults.Jobs > 0 && !opts.batch.jobsSet {
			jobs = defaults.Jobs
		}
		if len(c.keys) == 0 && len(defaults.VerifyKeys) > 0 {
			for i := range es {
				if es[i].VerifyKeys == nil {
					entries[len(entries)-len(es)+i].VerifyKeys = defaults.VerifyKeys
				}
			}
		}
	}
	if len(c.keys) > 0 {
		// The keys named on the command line are the operator's policy: a
		// list may not swap them for its own.
		ignored := 0
		for i := range entries {
			if entries[i].VerifyKeys != nil {
				entries[i].VerifyKeys = nil
				ignored++
			}
		}
		if ignored > 0 {
			fmt.Fprintf(dockerCli.Err(), "note: --verify-key applies to every image: the verify: keys of %d sync entries are not used\n", ignored)
		}
	}
	keys := keyCache{}
	if err := keys.loadEntryKeys(entries); err != nil {
		return usage(err)
	}
	srcEntries, err := syncEntries(opts, srcs)
	if err != nil {
		return usage(err)
	}
	entries = append(entries, srcEntries...)
	if err := checkPrune(opts, entries, dst); err != nil {
		return usage(err)
	}
	if err := checkArchiveTarget(dst, srcs, opts.batch.force || opts.check.enabled); err != nil {
		return usage(err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	pw := progress.New(progressOut(dockerCli, c.mode), c.mode)
	defer pw.Close()
	stdout := io.Writer(dockerCli.Out())
	if dockerCli.Out().IsTerminal() {
		// Results arrive while the view is on the same terminal.
		stdout = pw.Above(stdout)
		c.out.out = stdout
	}
	quota := &batch.Quota{}
	o, err := newCopy(dockerCli, opts, c, insecureAny(opts.insecure), pw.Logf, registry.WithRateLimit(quota.Observe))
	if err != nil {
		return usage(err)
	}
	o.Jobs = jobs
	resolved, err := batch.Resolve(ctx, batch.Request{
		Entries:     entries,
		Destination: dst,
		ReadOnly:    opts.dryRun || opts.check.enabled,
		Exact:       exactDestination(opts, srcs, dst) || oneEngineImage(opts, srcs, dst),
		Platforms:   c.plats,
		Registry:    o.Registry,
		OpenArchive: func(ctx context.Context, loc location.Location, write bool) (store.Archive, error) {
			return openArchive(ctx, loc, write, opts.batch.force, c.plats, pw.Logf)
		},
		OpenArchives: openArchives(pw.Logf, c.plats),
		OpenEngine:   openEngine(dockerCli, c.plats, pw.Logf),
		Warnf:        pw.Logf,
		LoadKey:      keys.load,
	})
	if err != nil {
		pw.Stop(stopReason(ctx, err))
		st := failure(ctx, err, c.debug, "interrupted before any image was copied")
		if merr := c.out.writeMetadata(opts.metadataFile, true); merr != nil {
			pw.Logf("warning: %v", merr)
		}
		return st
	}
	defer resolved.Close()
	images := batch.Shard(resolved.Images, shardI, shardN)
	if kept, dropped := batch.WithoutReferrerTags(images, c.keys); dropped > 0 {
		images = kept
		pw.Logf("note: %s (sha256-HEX.sig and the like) not copied as images: with --verify-key, signatures and attestations cross with --referrers, beside the image they sign", wording.Count(dropped, "signature or referrers tag"))
	}
	if resolved.Target != nil && !opts.dryRun {
		if err := batch.CheckSinglePlatform(ctx, images, resolved.Target, o.Registry); err != nil {
			pw.Stop(stopReason(ctx, err))
			return failure(ctx, err, c.debug, "interrupted before any image was copied")
		}
	}

	var report *batch.Report
	if opts.batch.reportFile != "" {
		if report, err = batch.OpenReport(opts.batch.reportFile); err != nil {
			return usage(err)
		}
		defer report.Close()
	}
	sum := batch.Run(ctx, images, batch.Options{
		Copy:     o,
		Jobs:     jobs,
		FailFast: opts.batch.failFast,
		Format:   c.out.format,
		Out:      stdout,
		Print: func(im batch.Image, res *migrate.Result) {
			if err := c.out.print(res, im.DestinationLabel()); err != nil {
				pw.Logf("warning: %v", err)
			}
		},
		PrintCheck: func(im batch.Image, res *check.Result) {
			if err := c.out.printCheck(res, im.DestinationLabel()); err != nil {
				pw.Logf("warning: %v", err)
			}
		},
		Progress: pw,
		Report:   report,
		Quota:    quota,
		Check:    opts.check.enabled,
	})
	if sum.Interrupted || ctx.Err() != nil {
		pw.Stop(context.Canceled)
	}
	pw.Close()
	// With rawjson each image's outcome is in the stream already, failures
	// with their sentence: the summary table is left out, as buildx does.
	if c.mode != progress.RawJSON && (c.mode != progress.Quiet || len(sum.Failures) > 0) {
		writeSummary(dockerCli, sum, opts.dryRun || opts.check.enabled)
	}
	pruneFailed := false
	if opts.sync.prune && !opts.check.enabled && ctx.Err() == nil {
		pruned := prune(ctx, dockerCli, opts, c, o, resolved, sum.NotDone)
		pruneFailed = len(pruned.Failures) > 0
	}
	if err := c.out.writeMetadata(opts.metadataFile, true); err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
	}
	if opts.batch.failedFile != "" && !opts.dryRun {
		if err := writeFailedList(opts.batch.failedFile, sum.NotDone); err != nil {
			return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
		}
	}
	notDone := len(sum.NotDone)
	switch {
	case sum.Interrupted || ctx.Err() != nil:
		return cli.StatusError{Status: fmt.Sprintf("interrupted: %d of %d images did not arrive; run the same command again to copy what is missing", notDone, len(images)), StatusCode: exitInterrupted}
	case sum.AllUsage():
		return cli.StatusError{Status: sum.Failures[0].Reason, StatusCode: exitUsage}
	case notDone > 0 && opts.check.enabled:
		return cli.StatusError{Status: fmt.Sprintf("%d of %d images are not equal at the destination (see above); to copy what is missing, run the same command without --check", notDone, len(images)), StatusCode: exitFailure}
	case notDone > 0 && sum.AllFinal():
		// What an archive holds fails the same way every run.
		return cli.StatusError{Status: fmt.Sprintf("%d of %d images did not arrive (see above)", notDone, len(images)), StatusCode: exitFailure}
	case notDone > 0:
		return cli.StatusError{Status: fmt.Sprintf("%d of %d images did not arrive (see above); run the same command again to copy what is missing", notDone, len(images)), StatusCode: exitFailure}
	case pruneFailed:
		return cli.StatusError{Status: "every image arrived, but some tags could not be pruned (see above); run the same command again", StatusCode: exitFailure}
	}
	if resolved.Target != nil && !opts.dryRun && !opts.check.enabled {
		if err := resolved.Target.Commit(ctx); err != nil {
			return failure(ctx, err, c.debug, "interrupted: the archive was not written")
		}
	}
	return nil
}

// checkArchiveTarget refuses, before anything is read, an archive DST that is
// also a SRC, or an existing file without --force.
func checkArchiveTarget(dst string, srcs []string, force bool) error {
	loc, err := location.Parse(dst)
	if err != nil || !loc.IsArchive() {
		return err
	}
	for _, s := range srcs {
		if src, err := location.Parse(s); err == nil && src.IsArchive() && archive.SameFile(src, loc) {
			return fmt.Errorf("%s is both SRC and DST: write the copy to another file", dst)
		}
	}
	if loc.Transport == location.OCIDir {
		return nil
	}
	if dir := filepath.Dir(loc.Path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("cannot write %s: directory %s does not exist", dst, dir)
		}
	}
	st, err := os.Stat(loc.Path)
	switch {
	case err != nil:
	case st.IsDir():
		// --force replaces a file, never a directory: say so at once.
		return fmt.Errorf("%s is a directory: name a file for %s:, or write an OCI layout directory with oci:%s", loc.Path, loc.Transport, loc.Path)
	case !force:
		return fmt.Errorf("%s exists: pass --force to replace it", loc.Path)
	}
	return nil
}

// writeFailedList writes the images that did not arrive as a plain list, under
// a temporary name renamed into place; with none, no file is left.
func writeFailedList(path string, images []batch.Image) error {
	if len(images) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove the stale list %s: %w", path, err)
		}
		return nil
	}
	var b strings.Builder
	b.WriteString("# images that did not arrive; copy them with: docker migrate -f " + path + " DST\n")
	for _, im := range images {
		b.WriteString(im.ListLine + "\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// insecureAny is --insecure for a batch: a bare --insecure covers every
// registry the run names.
func insecureAny(values []string) func(string) bool {
	for _, v := range values {
		if v == insecureAll {
			return func(string) bool { return true }
		}
	}
	return insecureHosts(values, parsed{})
}

// writeSummary prints the batch's table on stderr, each line cut to the
// terminal's width.
func writeSummary(dockerCli command.Cli, sum batch.Summary, dryRun bool) {
	var b strings.Builder
	sum.Write(&b, dryRun)
	width := terminalWidth(dockerCli)
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		fmt.Fprintln(dockerCli.Err(), progress.Wrap(line, width, "    "))
	}
}

// prune deletes at DST the tags the selections no longer hold (--prune), and
// says what it did on stderr; with --format json, each deletion is a line.
func prune(ctx context.Context, dockerCli command.Cli, opts migrateOptions, c checked, o migrate.Options, resolved batch.Resolved, notDone []batch.Image) batch.PruneSummary {
	po := batch.PruneOptions{Registry: o.Registry, DryRun: opts.dryRun}
	if c.mode != progress.Quiet {
		po.Logf = func(format string, args ...any) { fmt.Fprintf(dockerCli.Err(), format+"\n", args...) }
	}
	switch {
	case c.out.format == formatJSON:
		po.Print = func(p batch.Pruned) {
			if b, err := json.Marshal(p); err == nil {
				fmt.Fprintf(dockerCli.Out(), "%s\n", b)
			}
		}
	case opts.dryRun && c.out.tmpl == nil:
		po.Print = func(p batch.Pruned) { fmt.Fprintf(dockerCli.Out(), "# prune %s (%s)\n", p.Destination, p.Digest) }
	}
	sum := batch.Prune(ctx, resolved.Selections, resolved.Images, notDone, po)
	if c.mode != progress.Quiet || len(sum.Failures)+len(sum.Refused)+len(sum.Left) > 0 {
		var b strings.Builder
		sum.Write(&b, opts.dryRun, c.mode == progress.Quiet)
		fmt.Fprint(dockerCli.Err(), b.String())
	}
	return sum
}
