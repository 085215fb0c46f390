package commands

import (
	"context"
	"errors"
	"fmt"
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"io"
	"time"

	"github.com/docker/cli/cli"
	"github.com/docker/go-units"
	"github.com/sirupsen/logrus"

	"github.com/docker-migrate/docker-migrate/internal/batch"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/wording"
)

// oneImage is how a run of one image named in full reports, as a single
// copy: the progress view shows its platforms; at the end come a dry run's
// plan, the copy's summary on stderr, the result on stdout, one JSON object
// (not an array) in --metadata-file, and on failure the copy's own sentence
// and exit code.
type oneImage struct {
	*run
	refs parsed
	// end is the image's end, as the batch told it.
	end *batch.Ended
}

// planning says at once, in plain mode, what is being planned: the plan can
// take a while on a slow link.
func (v *oneImage) planning() {
	if v.in.mode == progress.Plain {
		v.pw.Logf("planning the copy of %s to %s", wording.Reference(v.refs.source), v.refs.displayDestination)
	}
}

// ended keeps the image's end for finish: nothing is printed while the
// progress view runs.
func (v *oneImage) ended(e batch.Ended) { v.end = &e }

// finish ends the run: what the copy did on stderr and stdout, and the exit
// status.
func (v *oneImage) finish(ctx context.Context, _ batch.Summary) error {
	e := v.end
	if e == nil {
		// Not started: the batch ends an image it does not start, so only
		// an interrupt gets here.
		e = &batch.Ended{Outcome: outcome.NotDone, Err: context.Canceled}
	}
	if !e.Outcome.Arrived() {
		return v.failed(ctx, *e)
	}
	v.pw.Stop(stopReason(ctx, nil))
	out, res := v.in.out, e.Result
	if v.opts.dryRun && out.format == "" && out.tmpl == nil && e.Describe != nil {
		if err := e.Describe(v.dockerCli.Out()); err != nil {
			return err
		}
	}
	// With rawjson the stream is the whole of stderr: the summary is left
	// out, as buildx leaves out its build details (stdout has the result).
	if mode := v.in.mode; mode != progress.Quiet && mode != progress.RawJSON && !v.opts.dryRun && out.format == "" {
		summary(v.dockerCli.Err(), res, terminalWidth(v.dockerCli))
	}
	if err := out.print(res, v.refs.displayDestination); err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
	}
	if err := out.writeMetadata(v.opts.metadataFile, false); err != nil {
		return cli.StatusError{Status: err.Error(), StatusCode: exitFailure}
	}
	return nil
}

// failed ends a run whose image did not arrive: the sentence the CLI prints
// and its exit code, and the failure on stdout (--format json) and in
// --metadata-file, as scripts get a success.
func (v *oneImage) failed(ctx context.Context, e batch.Ended) error {
	err := e.Err
	if err == nil {
		err = errors.New(e.Reason)
	}
	v.pw.Stop(stopReason(ctx, err))
	st := failure(ctx, err, v.in.debug, fmt.Sprintf("interrupted: %s was not changed", v.refs.displayDestination))
	if perr := v.in.out.print(migrate.Failed(e.Result, v.refs.source, v.refs.destination, st.Status), v.refs.displayDestination); perr != nil {
		logrus.Debugf("print the failure: %v", perr)
	}
	if merr := v.in.out.writeMetadata(v.opts.metadataFile, false); merr != nil {
		v.pw.Logf("warning: %v", merr)
	}
	return st
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
