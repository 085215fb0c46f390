// Package batch copies many images in one run. It is a scheduler above the
// single copy (migrate.Run): images proceed in parallel, all their blob
// transfers share one pool of --jobs slots, and one ledger per destination
// place makes a blob that several images share cross the wire once.
package batch

import (
	"context"
	"errors"
	"fmt"
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/check"
	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/ledger"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"
)

// Image is one copy of a batch.
type Image struct {
	// Image is the copy: its references, its stores (set for archives),
	// its platforms.
	copyopts.Image
	// DestinationName is how results name the destination when it is not
	// Destination's full name: the name an archive stores as the user gave
	// it ("tools/bb:1.36").
	DestinationName string
	// Origin says where the image was named ("images.txt line 4", an
	// archive), or originArgument.
	Origin string
	// ListLine is the image as a line of a list that -f reads back ("SRC" or
	// "SRC DST"), for --failed.
	ListLine string
	// defaultPlatform says that Platforms is a one-platform engine's own,
	// not --platform's: a single-platform source keeps its platform.
	defaultPlatform bool
	// VerifyKeys are the keys one of which must have signed this image (a
	// sync entry's verify: keys); nil means the run's (--verify-key).
	VerifyKeys verify.Keys
}

// Label is how progress and the summary name the image: its source, as docker
// names it (rancher/klipper-lb:v0.3.4, nginx:1.27).
func (im Image) Label() string { return wording.Familiar(im.Source) }

// DestinationLabel is how results name the destination: DestinationName,
// else the full name (docker.io/…, 127.0.0.1:5000/x:v1).
func (im Image) DestinationLabel() string {
	if im.DestinationName != "" {
		return im.DestinationName
	}
	return wording.Reference(im.Destination)
}

// originArgument is the Origin of an image named as a SRC argument.
const originArgument = "argument"

// from is " (images.txt line 4)" for an image a list or an archive named,
// and nothing for an argument: the user typed that one in front of them.
func (im Image) from() string {
	if im.Origin == "" || im.Origin == originArgument {
		return ""
	}
	return " (" + im.Origin + ")"
}

// Quota keeps the pulls each registry says remain (Docker Hub's
// RateLimit-Remaining), to show them as the run goes.
type Quota struct {
	mu   sync.Mutex
	left map[string]string
}

// Observe records what host says remains; registry.WithRateLimit calls it.
func (q *Quota) Observe(host, remaining string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.left == nil {
		q.left = map[string]string{}
	}
	q.left[host] = remaining
}

// note is "; HOST: N pulls left" for the image's source registry, or "".
func (q *Quota) note(im Image) string {
	if q == nil {
		return ""
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	host := im.Source.Context().RegistryStr()
	if n, ok := q.left[host]; ok {
		return fmt.Sprintf("; %s: %s pulls left", host, n)
	}
	return ""
}

// Options is one batch run.
type Options struct {
	// Copy is the single copy every image is: Source, Destination, stores,
	// Platforms, Progress, Slots and Ledger are set per image.
	Copy migrate.Options
	// Jobs is how many images run at once, and how many blob transfers they
	// share.
	Jobs     int
	FailFast bool
	Progress *progress.Writer
	// Report, when set, records each image as it ends and names the images an
	// earlier run finished.
	Report *Report
	// Quota, when set, has the pulls registries say remain, for the progress
	// lines.
	Quota *Quota
	// Ended, when set, is told each image's end, one at a time, in the order
	// they end: the caller prints the results (the batch prints nothing on
	// stdout).
	Ended func(Ended)
	// Check compares each image with its destination instead of copying it
	// (--check): nothing is written.
	Check bool
	// OneImage is a run of the one image the command line names in full: its
	// progress shows its platforms (there is no line of its own to end), and
	// it shares slots and a ledger with no other copy.
	OneImage bool
}

// Ended is one image's end, as Options.Ended receives it.
type Ended struct {
	Image   Image
	Outcome outcome.Outcome
	// Result is what the copy did (or, in a dry run, plans); for an image
	// that did not arrive, what is known of the attempt, or nil when it
	// stopped before a plan.
	Result *migrate.Result
	// Describe prints a dry run's plan.
	Describe migrate.Describer
	// Check is --check's verdict; nil when the image could not be checked.
	Check *check.Result
	// Reason says, for an image that did not arrive (or is not equal), why.
	Reason string
	// Err is the error behind Reason, for its kind and detail (-D); nil when
	// the run decided it (not started, not equal).
	Err error
}

// Summary is what a run did, for the table on stderr and the exit code.
type Summary struct {
	Images   int
	Counts   map[outcome.Outcome]int
	Failures []Failure
	// Bytes is what crossed the wire (copied) and what was mounted.
	Bytes    migrate.Counts
	Duration time.Duration
	// NotDone lists the images that did not arrive, for --failed.
	NotDone []Image
	// Interrupted is set when the run was cancelled from outside.
	Interrupted bool
	// UniqueBlobs and UniqueBytes are a dry run's total: each blob that would
	// cross the wire, counted once per destination place.
	UniqueBlobs int
	UniqueBytes int64
	// Check is a --check run, which moved nothing.
	Check bool
}

// Failure is one image that did not arrive, in one sentence.
type Failure struct {
	Image   Image
	Outcome outcome.Outcome
	Reason  string
	// Usage marks bad input found only once the image was planned (a
	// multi-platform image for a docker-archive without --platform).
	Usage bool
	// Final marks a failure a second run would meet again: what an archive
	// SRC holds (damage, a platform it lacks), which no retry changes.
	Final bool
	// Err is the error behind Reason (Ended.Err).
	Err error
}

// AllFinal reports a run whose every failure is Final: advice to run it
// again would send the user round in a circle.
func (s Summary) AllFinal() bool {
	for _, f := range s.Failures {
		if !f.Final {
			return false
		}
	}
	return len(s.Failures) > 0
}

// finalFailure reports a failure of an image read from an archive that is
// the archive's own: its content, not a registry or the network.
func finalFailure(im Image, err error) bool {
	if im.SourceStore == nil {
		return false
	}
	switch errdefs.KindOf(err) {
	case errdefs.InvalidArgument, errdefs.DigestMismatch, errdefs.NotFound, errdefs.PlatformMissing:
		return true
	}
	return false
}

// AllUsage reports a run in which nothing arrived and every failure was bad
// input: the command exits 125, as for input refused up front.
func (s Summary) AllUsage() bool {
	if len(s.Failures) == 0 || len(s.Failures) != s.Images {
		return false
	}
	for _, f := range s.Failures {
		if !f.Usage {
			return false
		}
	}
	return true
}

// Run copies images and returns what happened. The error is nil unless the
// run could not start; per-image failures are in the summary.
func Run(ctx context.Context, images []Image, o Options) Summary {
	start := time.Now()
	jobs := max(o.Jobs, 1)
	r := &runner{
		o:       o,
		total:   len(images),
		stopped: map[string]string{},
		sum:     Summary{Images: len(images), Counts: map[outcome.Outcome]int{}, Check: o.Check},
	}
	if !o.OneImage {
		r.slots, r.ledger = copyopts.NewSlots(jobs), ledger.New()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.cancel = cancel

	g := errgroup.Group{}
	g.SetLimit(jobs)
	for _, im := range images {
		if ctx.Err() != nil {
			r.end(Ended{Image: im, Outcome: outcome.NotDone, Reason: r.stopReason(ctx)}, false, false)
			continue
		}
		g.Go(func() error {
			r.one(ctx, im)
			return nil
		})
	}
	_ = g.Wait()
	r.sum.Duration = time.Since(start)
	r.sum.Interrupted = ctx.Err() != nil && !r.failFastStopped
	for _, size := range r.unique {
		r.sum.UniqueBlobs++
		r.sum.UniqueBytes += size
	}
	return r.sum
}

type runner struct {
	o      Options
	total  int
	slots  *copyopts.Slots
	ledger *ledger.Ledger
	cancel context.CancelFunc

	mu              sync.Mutex
	finished        int
	stopped         map[string]string // registry host → why no more images start there
	failFastStopped bool
	sum             Summary
	// unique counts each planned blob once per destination place, for the
	// dry run's total.
	unique map[string]int64
}

func (r *runner) stopReason(ctx context.Context) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failFastStopped {
		return "not started: --fail-fast stopped the run at the first failure"
	}
	return "not started: the run was interrupted"
}

// underWayReason says how far an image got that the run stopped while it was
// under way: planned (res is nil) or copying, with what had moved.
func (r *runner) underWayReason(res *migrate.Result) string {
	r.mu.Lock()
	why := "interrupted"
	if r.failFastStopped {
		why = "stopped by --fail-fast"
	}
	r.mu.Unlock()
	if res == nil {
		return why + " while it was being planned; nothing was moved"
	}
	if res.Forwarding {
		// The layers went up before the plan (an engine's save streams
		// into DST): those that arrived whole are found there next time.
		return fmt.Sprintf("%s while its layers were being sent: %d arrived (%s), nothing is tagged at %s; run again to finish (the layers that arrived are not sent again)",
			why, res.Blobs.Copied, units.HumanSize(float64(res.Bytes.Copied)), res.Destination)
	}
	var planned int64
	if res.Plan != nil {
		for _, b := range res.Plan.Blobs {
			if b.Action == plan.Copy {
				planned += b.Size
			}
		}
	}
	moved := res.Bytes.Copied + res.Bytes.Mounted
	return fmt.Sprintf("%s while copying: %s of %s moved; the tag was not written", why, units.HumanSize(float64(moved)), units.HumanSize(float64(planned)))
}

// one copies one image, unless a report says an earlier run did or its
// registry has stopped this run with a rate limit.
func (r *runner) one(ctx context.Context, im Image) {
	if r.o.Check {
		r.checkOne(ctx, im)
		return
	}
	if why := r.hostStopped(im); why != "" {
		r.end(Ended{Image: im, Outcome: outcome.NotDone, Reason: why}, false, false)
		return
	}
	if d, ok := r.doneEarlier(ctx, im); ok {
		res := &migrate.Result{Source: wording.Reference(im.Source), Destination: wording.Reference(im.Destination), DestinationDigest: d, UpToDate: true,
			Platforms: []plan.PlatformDigest{}, Attempts: []migrate.Attempt{}}
		r.end(Ended{Image: im, Outcome: outcome.Done, Result: res}, false, false)
		return
	}
	res, describe, err := migrate.Run(ctx, r.copyOptions(im))
	e := Ended{Image: im, Result: res, Err: err}
	switch {
	case err != nil && ctx.Err() != nil:
		e.Outcome, e.Reason = outcome.NotDone, r.underWayReason(res)
	case migrate.IsNotSigned(err):
		e.Outcome, e.Reason = outcome.NotSigned, errdefs.Message(err)
	case err != nil:
		r.failed(e)
		return
	default:
		if describe != nil {
			r.countPlanned(im, res)
		}
		e.Outcome, e.Describe = outcome.Copied, describe
		if res.UpToDate {
			e.Outcome = outcome.UpToDate
		}
	}
	r.end(e, false, false)
}

// copyOptions is the single copy of im.
func (r *runner) copyOptions(im Image) migrate.Options {
	o := r.o.Copy
	o.Image = im.Image
	o.Slots, o.Ledger = r.slots, r.ledger
	o.Progress = r.o.Progress
	if !r.o.OneImage {
		o.Progress = r.o.Progress.Group(im.Label())
	}
	o.VerifyKeys = r.keys(im)
	return o
}

// failed records an image whose copy failed: a rate limit stops its registry
// for the rest of the run; --fail-fast stops the run.
func (r *runner) failed(e Ended) {
	err := e.Err
	if rl, ok := errors.AsType[*registry.RateLimitError](err); ok {
		why := fmt.Sprintf("not started: %s is rate limiting requests (it asks to wait %s); run again later", rl.Host, rl.RetryAfter)
		r.stop(rl.Host, why)
		e.Outcome, e.Reason, e.Result = outcome.NotDone, errdefs.Message(err), nil
		r.end(e, false, false)
		return
	}
	// e.Result, when the image got as far as a plan, has the attempts.
	e.Outcome, e.Reason = outcome.Failed, errdefs.Message(err)
	r.end(e, errdefs.Is(err, errdefs.InvalidArgument), finalFailure(e.Image, err))
	if r.o.FailFast {
		r.mu.Lock()
		r.failFastStopped = true
		r.mu.Unlock()
		r.cancel()
	}
}

// WithoutReferrerTags drops, where signatures are verified, the images whose
// tag is cosign's or the referrers fallback's (sha256-HEX.sig, sha256-HEX):
// an archive or a tag listing names them like images, but they hold the
// signatures and attestations of another image, which no publisher signs in
// turn; --referrers carries them along with the verified image they refer to.
func WithoutReferrerTags(images []Image, runKeys verify.Keys) (kept []Image, dropped int) {
	for _, im := range images {
		keys := im.VerifyKeys
		if keys == nil {
			keys = runKeys
		}
		if t, ok := im.Source.(name.Tag); ok && len(keys) > 0 && verify.IsReferrerTag(t.TagStr()) {
			dropped++
			continue
		}
		kept = append(kept, im)
	}
	return kept, dropped
}

// keys are the keys one of which must have signed im.
func (r *runner) keys(im Image) verify.Keys {
	if im.VerifyKeys != nil {
		return im.VerifyKeys
	}
	return r.o.Copy.VerifyKeys
}

func (r *runner) hostStopped(im Image) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ref := range []name.Reference{im.Source, im.Destination} {
		if why, ok := r.stopped[ref.Context().RegistryStr()]; ok {
			return why
		}
	}
	return ""
}

func (r *runner) stop(host, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stopped[host]; !ok {
		r.stopped[host] = why
		if r.o.OneImage {
			return // there are no others: the image's failure says it
		}
		r.o.Progress.Logf("%s is rate limiting for longer than this run waits: no more images start there; the others go on", host)
	}
}

// doneEarlier reports an image the report shows done whose destination still
// serves that digest: one HEAD, and the source is not asked at all.
func (r *runner) doneEarlier(ctx context.Context, im Image) (string, bool) {
	if r.o.Report == nil || r.o.Copy.DryRun {
		return "", false
	}
	d, ok := r.o.Report.Finished(wording.Reference(im.Source), wording.Reference(im.Destination))
	if !ok {
		return "", false
	}
	dst := im.DestinationStore
	if dst == nil {
		repo, err := r.o.Copy.Registry.Repository(ctx, im.Destination.Context(), registry.Pull)
		if err != nil {
			return "", false
		}
		dst = repo
	}
	have, err := dst.HeadManifest(ctx, im.Destination.Identifier())
	if err != nil || have.Digest.String() != d {
		return "", false
	}
	return d, true
}

// countPlanned adds a dry run's blobs to the run's unique total.
func (r *runner) countPlanned(im Image, res *migrate.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unique == nil {
		r.unique = map[string]int64{}
	}
	if res.Plan == nil {
		return
	}
	place := im.Destination.Context().RegistryStr()
	if im.DestinationStore != nil {
		place = im.DestinationStore.String()
	}
	for _, b := range res.Plan.Blobs {
		if b.Action == plan.Copy {
			r.unique[place+" "+b.Digest.String()] = b.Size
		}
	}
}

// end records an image's end: the summary, the report line, the image's
// [n/N] line, and the caller's Ended. usage and final describe a failure (see
// Failure).
func (r *runner) end(e Ended, usage, final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished++
	r.sum.Counts[e.Outcome]++
	if !e.Outcome.Arrived() {
		r.sum.Failures = append(r.sum.Failures, Failure{Image: e.Image, Outcome: e.Outcome, Reason: e.Reason, Usage: usage, Final: final, Err: e.Err})
		r.sum.NotDone = append(r.sum.NotDone, e.Image)
	}
	r.record(e)
	if !r.o.OneImage {
		r.finishLine(e)
	}
	if r.o.Ended != nil {
		r.o.Ended(e)
	}
}

// record adds what moved to the summary's bytes, and appends the image's
// line to the report.
func (r *runner) record(e Ended) {
	res := e.Result
	rec := Record{Source: wording.Reference(e.Image.Source), Destination: wording.Reference(e.Image.Destination), Outcome: e.Outcome, Error: e.Reason}
	if res != nil && !e.Outcome.Arrived() {
		// Stopped under way: what moved counts, and the next run skips it.
		r.sum.Bytes.Copied += res.Bytes.Copied
		r.sum.Bytes.Mounted += res.Bytes.Mounted
		rec.BytesMoved = res.Bytes.Copied + res.Bytes.Mounted
	}
	if res != nil && e.Outcome.Arrived() {
		rec.SourceDigest, rec.DestinationDigest = res.SourceDigest, res.DestinationDigest
		r.sum.Bytes.Copied += res.Bytes.Copied
		r.sum.Bytes.Mounted += res.Bytes.Mounted
		r.sum.Bytes.Skipped += res.Bytes.Skipped
	}
	if r.o.Report != nil && !r.o.Copy.DryRun && !r.o.Check {
		if err := r.o.Report.Append(rec); err != nil {
			r.o.Progress.Logf("warning: cannot write the report: %v", err)
		}
	}
}

// finishLine ends the image's own line of the display, "[3/40] nginx:1.27 …
// copied (2 platforms, 3MB)": on a terminal it ends the image's step
// (CANCELED when it did not start, ERROR when it failed).
func (r *runner) finishLine(e Ended) {
	word, detail := string(e.Outcome), ""
	if res := e.Result; res != nil && e.Outcome.Arrived() {
		detail = fmt.Sprintf(" (%s, %s)", wording.Count(len(res.Platforms), "platform"), units.HumanSize(float64(res.Bytes.Copied)))
	}
	switch e.Outcome {
	case outcome.UpToDate:
		word = "up to date"
	case outcome.Done:
		word, detail = "done in an earlier run", ""
	case outcome.Failed, outcome.NotDone:
		word, detail = word+": "+e.Reason, ""
	case outcome.NotSigned:
		word, detail = "not signed: "+e.Reason, ""
	case outcome.Missing, outcome.Different:
		// --check: one problem a line in the summary; here the first.
		first, rest, _ := strings.Cut(e.Reason, "\n")
		word, detail = word+": "+first, ""
		if n := strings.Count(rest, "\n") + 1; rest != "" {
			detail = fmt.Sprintf(" (and %d more)", n)
		}
	case outcome.SameContent:
		word, detail = "same content under another digest (every platform's rootfs.diff_ids match)", ""
	}
	if r.o.Copy.DryRun && e.Outcome.Arrived() {
		word = "planned"
	}
	var ended error
	switch {
	case e.Outcome == outcome.NotDone:
		ended = context.Canceled
	case !e.Outcome.Arrived():
		ended = errors.New(e.Reason)
	}
	label := e.Image.Label()
	r.o.Progress.Group(label).Finish(fmt.Sprintf("[%d/%d] %s … %s%s%s", r.finished, r.total, label, word, detail, r.o.Quota.note(e.Image)), ended)
}

// Write prints the table a run ends with.
func (s Summary) Write(w io.Writer, dryRun bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d image(s) in %s\n", s.Images, s.Duration.Round(10*time.Millisecond))
	row := func(label string, n int) {
		if n > 0 {
			fmt.Fprintf(&b, "  %-22s %d\n", label, n)
		}
	}
	row("equal", s.Counts[outcome.Equal])
	row("same content", s.Counts[outcome.SameContent])
	row("missing", s.Counts[outcome.Missing])
	row("different", s.Counts[outcome.Different])
	if s.Check || s.Counts[outcome.Equal]+s.Counts[outcome.SameContent]+s.Counts[outcome.Missing]+s.Counts[outcome.Different] > 0 {
		// --check: nothing moved.
	} else if dryRun {
		row("planned", s.Counts[outcome.Copied]+s.Counts[outcome.UpToDate])
		fmt.Fprintf(&b, "  %-22s %d blob(s), %s\n", "would move", s.UniqueBlobs, units.HumanSize(float64(s.UniqueBytes)))
	} else {
		row("copied", s.Counts[outcome.Copied])
		row("up to date", s.Counts[outcome.UpToDate])
		row("done in an earlier run", s.Counts[outcome.Done])
	}
	row("not signed", s.Counts[outcome.NotSigned])
	row("failed", s.Counts[outcome.Failed])
	row("not done (run again)", s.Counts[outcome.NotDone])
	if !dryRun {
		fmt.Fprintf(&b, "  %-22s %s copied, %s mounted\n", "bytes moved", units.HumanSize(float64(s.Bytes.Copied)), units.HumanSize(float64(s.Bytes.Mounted)))
	}
	for _, f := range s.Failures {
		for _, line := range strings.Split(f.Reason, "\n") {
			fmt.Fprintf(&b, "%s %s%s: %s\n", f.Outcome, f.Image.Label(), f.Image.from(), line)
		}
	}
	fmt.Fprint(w, b.String())
}
