package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"

	"github.com/docker-migrate/docker-migrate/internal/batch"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
)

// finishBatch ends a run of several images (or a batch of one): the table
// on stderr, --prune, --metadata-file and --failed, the exit status, and the
// archive DST written once every image is in.
func (r *run) finishBatch(ctx context.Context, sum batch.Summary, resolved batch.Resolved, images int) error {
	opts, mode := r.opts, r.in.mode
	if sum.Interrupted || ctx.Err() != nil {
		r.pw.Stop(context.Canceled)
	}
	r.pw.Close()
	// With rawjson each image's outcome is in the stream already, failures
	// with their sentence: the summary table is left out, as buildx does.
	if mode != progress.RawJSON && (mode != progress.Quiet || len(sum.Failures) > 0) {
		writeSummary(r.dockerCli, sum, opts.dryRun || opts.check.enabled)
	}
	pruneFailed := false
	if opts.sync.prune && !opts.check.enabled && ctx.Err() == nil {
		pruned := prune(ctx, r.dockerCli, opts, r.in.checked, r.copy, resolved, sum.NotDone)
		pruneFailed = len(pruned.Failures) > 0
	}
	if err := r.in.out.writeMetadata(opts.metadataFile, true); err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
	}
	if opts.batch.failedFile != "" && !opts.dryRun {
		if err := writeFailedList(opts.batch.failedFile, sum.NotDone); err != nil {
			return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
		}
	}
	if err := batchStatus(ctx, sum, images, opts.check.enabled, pruneFailed); err != nil {
		return err
	}
	if resolved.Target != nil && !opts.dryRun && !opts.check.enabled {
		if err := resolved.Target.Commit(ctx); err != nil {
			return failure(ctx, err, r.in.debug, "interrupted: the archive was not written")
		}
	}
	return nil
}

// batchStatus is how a batch exits: interrupted (130), bad input found only
// once planned (125), images that did not arrive or are not equal (1), tags
// that could not be pruned (1), or nil.
func batchStatus(ctx context.Context, sum batch.Summary, images int, check, pruneFailed bool) error {
	notDone := len(sum.NotDone)
	switch {
	case sum.Interrupted || ctx.Err() != nil:
		return cli.StatusError{Status: fmt.Sprintf("interrupted: %d of %d images did not arrive; run the same command again to copy what is missing", notDone, images), StatusCode: exitInterrupted}
	case sum.AllUsage():
		return cli.StatusError{Status: sum.Failures[0].Reason, StatusCode: exitUsage}
	case notDone > 0 && check:
		return cli.StatusError{Status: fmt.Sprintf("%d of %d images are not equal at the destination (see above); to copy what is missing, run the same command without --check", notDone, images), StatusCode: exitFailure}
	case notDone > 0 && sum.AllFinal():
		// What an archive holds fails the same way every run.
		return cli.StatusError{Status: fmt.Sprintf("%d of %d images did not arrive (see above)", notDone, images), StatusCode: exitFailure}
	case notDone > 0:
		return cli.StatusError{Status: fmt.Sprintf("%d of %d images did not arrive (see above); run the same command again to copy what is missing", notDone, images), StatusCode: exitFailure}
	case pruneFailed:
		return cli.StatusError{Status: "every image arrived, but some tags could not be pruned (see above); run the same command again", StatusCode: exitFailure}
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
