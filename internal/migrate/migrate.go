// Package migrate runs one migration: it plans the copy, hands the plan to a
// strategy, and gathers what happened into a Result.
package migrate

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/fallback"
	"github.com/docker-migrate/docker-migrate/internal/ledger"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/index"
	"github.com/docker-migrate/docker-migrate/internal/uploadsession"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Strategy names, as --strategy takes them.
const (
	StrategyAuto     = "auto"
	StrategyIndex    = "index"
	StrategyManifest = "manifest"
	StrategyBuildx   = "buildx"
)

// Options is one migration, already validated by the command.
type Options struct {
	Source      name.Reference
	Destination name.Reference
	Platforms   []v1.Platform
	Jobs        int
	DryRun      bool
	Strategy    string
	// MediaTypes, when set, converts manifests to that family (--media-types).
	MediaTypes plan.Format
	// Strategies are the engine- and builder-backed strategies the command could
	// build (manifest, buildx); index is always there.
	Strategies []strategy.Strategy
	Registry   *registry.Client
	Progress   *progress.Writer
	Debugf     func(format string, args ...any)
	// SourceStore and DestinationStore, when set, are the places to copy
	// between instead of the registry repositories the references name (an
	// archive's view of one repository). Only the index strategy reads and
	// writes stores that are not registries.
	SourceStore, DestinationStore store.Store
	// SinglePlatform writes one platform's own manifest, not an index of one
	// (for a docker-save archive).
	SinglePlatform bool
	// NoClobber refuses to replace a destination tag that points at another
	// digest (-n); otherwise the run says what it replaces.
	NoClobber bool
	// Referrers copies the artifacts that refer to the image (signatures,
	// SBOMs), through the referrers API or its fallback tags, and cosign's
	// sha256-HEX.sig/.att/.sbom tags; ReferrerTypes narrows them by artifactType.
	Referrers     bool
	ReferrerTypes []string
	// Manifests are the manifests read before, by digest (plan.Request).
	Manifests *manifestcache.Cache
	// Blobs records across runs where blobs were seen at each registry, to
	// mount them from there (plan.Request.Seen).
	Blobs *manifestcache.BlobRecord
	// Uploads keeps the upload sessions of large blobs that were cut off
	// (strategy.Input).
	Uploads *uploadsession.Store
	// Slots and Ledger are shared by the copies of a batch (see index.Options).
	Slots  *strategy.Slots
	Ledger *ledger.Ledger
	// VerifyKeys, when set (--verify-key), are the keys one of which must have
	// signed the source's digest; an image without such a signature is not
	// copied (a NotSignedError).
	VerifyKeys verify.Keys
}

// Counts and ManifestCounts are the strategies' counters.
type (
	Counts         = strategy.Counts
	ManifestCounts = strategy.ManifestCounts
)

// Result is what --format json prints.
type Result struct {
	Source            string                `json:"source"`
	Destination       string                `json:"destination"`
	SourceDigest      string                `json:"sourceDigest"`
	DestinationDigest string                `json:"destinationDigest"`
	DigestChanged     bool                  `json:"digestChanged"`
	DigestNote        string                `json:"digestNote,omitempty"`
	MediaType         string                `json:"mediaType"`
	Strategy          string                `json:"strategy"`
	Platforms         []plan.PlatformDigest `json:"platforms"`
	// ContentVerified is set when a strategy re-created manifests and compared
	// each platform's rootfs.diff_ids with the source's.
	ContentVerified *bool          `json:"contentVerified,omitempty"`
	Manifests       ManifestCounts `json:"manifests"`
	Blobs           Counts         `json:"blobs"`
	Bytes           Counts         `json:"bytes"`
	DurationSeconds float64        `json:"durationSeconds"`
	DryRun          bool           `json:"dryRun"`
	UpToDate        bool           `json:"upToDate,omitempty"`
	// Attempts lists every strategy tried, skipped or failed, in order.
	Attempts []Attempt `json:"attempts"`
	// PreviousDigest is what the destination tag pointed at before the run
	// replaced it.
	PreviousDigest string `json:"previousDigest,omitempty"`
	// Mirror is the registry mirror that served the source's manifest
	// (https://mirror.example.com), when one did rather than the registry
	// itself: a tag read from a mirror may be older than the registry's.
	Mirror string `json:"mirror,omitempty"`
	// Error is why the image did not arrive, in one sentence.
	Error string `json:"error,omitempty"`
	// Steps is a dry run's plan: every manifest and blob and what it needs.
	Steps *Steps `json:"plan,omitempty"`
	// Referrers counts the artifacts copied with --referrers.
	Referrers *ReferrerCounts `json:"referrers,omitempty"`
	// Resumed lists the blobs whose upload went on from what an earlier,
	// cut-off run had sent; bytes.copied counts only what this run sent.
	Resumed []strategy.Resumed `json:"resumed,omitempty"`
	// Signature is what --verify-key found at the source.
	Signature *verify.Verdict `json:"signature,omitempty"`
	// Plan is what the index strategy planned, for a batch's dry-run totals.
	Plan *plan.Plan `json:"-"`
}

// Attempt is one strategy tried by a run, as --format json lists them.
type Attempt struct {
	Strategy string `json:"strategy"`
	// Outcome is "succeeded", "failed" or "skipped".
	Outcome string `json:"outcome"`
	Class   string `json:"class,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// chain returns the strategies to try, in order. An explicit --strategy is a
// chain of one, which never falls back.
func chain(o Options) ([]strategy.Strategy, error) {
	byName := map[string]strategy.Strategy{}
	for _, s := range o.Strategies {
		byName[s.Name()] = s
	}
	switch o.Strategy {
	case "", StrategyAuto:
		if o.MediaTypes != "" {
			// The user asked for a conversion: that is the index step.
			return append([]strategy.Strategy{index.Strategy{Format: o.MediaTypes}}, present(byName, StrategyManifest, StrategyBuildx)...), nil
		}
		return append([]strategy.Strategy{index.Strategy{}, index.Strategy{Format: plan.FormatDocker}}, present(byName, StrategyManifest, StrategyBuildx)...), nil
	case StrategyIndex:
		return []strategy.Strategy{index.Strategy{Format: o.MediaTypes}}, nil
	case StrategyManifest, StrategyBuildx:
		if o.MediaTypes != "" {
			return nil, errdefs.New(errdefs.InvalidArgument, "--media-types works with the index strategy; the %s strategy writes what its engine or builder writes", o.Strategy)
		}
		if s, ok := byName[o.Strategy]; ok {
			return []strategy.Strategy{s}, nil
		}
		return nil, errdefs.New(errdefs.InvalidArgument, "the %s strategy is not available in this build: use --strategy index", o.Strategy)
	}
	return nil, errdefs.New(errdefs.InvalidArgument, "invalid --strategy %q: expected auto, index, manifest or buildx", o.Strategy)
}

func present(byName map[string]strategy.Strategy, names ...string) []strategy.Strategy {
	var out []strategy.Strategy
	for _, n := range names {
		if s, ok := byName[n]; ok {
			out = append(out, s)
		}
	}
	return out
}

// Describer prints a dry run's plan.
type Describer func(w io.Writer) error

// Run plans and, unless DryRun, executes the migration. With --strategy auto
// it falls back along the chain when a failure is one another strategy can get
// past, and says why. For a dry run it returns what to print instead. A run
// that failed after planning returns its Result too (the attempts), with the
// error.
func Run(ctx context.Context, o Options) (*Result, Describer, error) {
	start := time.Now()
	if o.Debugf == nil {
		o.Debugf = func(string, ...any) {}
	}
	// Asked for by the user, not set below for an archive: a hint to run
	// "without --strategy" is for a run that gave one.
	explicit := o.Strategy != "" && o.Strategy != StrategyAuto
	if o.SourceStore != nil || o.DestinationStore != nil {
		if err := onlyIndex(&o); err != nil {
			return nil, nil, err
		}
	}
	steps, err := chain(o)
	if err != nil {
		return nil, nil, err
	}
	if explicit && steps[0].Name() != StrategyIndex && !strings.HasPrefix(steps[0].Name(), "index-") {
		if err := steps[0].Available(ctx); err != nil {
			return nil, nil, err
		}
	}

	src, dst, err := o.stores(ctx)
	if err != nil {
		return nil, nil, err
	}
	// An engine SRC puts its layers into DST as its save streams
	// (store.Forwarder); the plan finds them there. Not before a signature check.
	var forwarded store.Forwarded
	if f, ok := src.(store.Forwarder); ok && !o.DryRun && len(o.VerifyKeys) == 0 {
		if forwarded, err = f.Forward(ctx, dst, o.Destination.Identifier(), o.Progress); err != nil {
			return nil, nil, err
		}
	}

	manifests := o.Manifests
	if o.DryRun {
		manifests = manifests.ReadOnly()
	}
	seen := o.Blobs
	if o.DryRun {
		seen = seen.ReadOnly()
	}
	p, err := plan.Build(ctx, src, dst, plan.Request{Source: o.Source, Destination: o.Destination, Platforms: o.Platforms, Jobs: o.Jobs, SinglePlatform: o.SinglePlatform, Manifests: manifests, Seen: seen})
	if err != nil {
		return nil, nil, err
	}
	previous, err := o.checkClobber(ctx, dst, p)
	if err != nil {
		return nil, nil, err
	}
	in := strategy.Input{Plan: p, Src: src, Dst: dst, Jobs: o.Jobs, Progress: o.Progress, Debugf: o.Debugf, Slots: o.Slots, Ledger: o.Ledger, Uploads: o.Uploads}
	res := newResult(o, p)
	res.PreviousDigest = previous
	if m, ok := src.(interface{ ServedBy(ref string) string }); ok {
		res.Mirror = m.ServedBy(o.Source.Identifier())
	}
	if len(o.VerifyKeys) > 0 {
		if err := o.verifySource(ctx, src, p, res); err != nil {
			res.DurationSeconds = time.Since(start).Seconds()
			return res, nil, err
		}
	}
	if o.DryRun {
		s := steps[0]
		res.Strategy = s.Name()
		if is, ok := s.(index.Strategy); ok {
			// The index strategy knows its digest up front, conversion included.
			q, err := is.Prepare(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			converted := newResult(o, q)
			res.DestinationDigest, res.MediaType, res.Platforms = converted.DestinationDigest, converted.MediaType, converted.Platforms
			res.DigestChanged, res.DigestNote = q.DigestChanged, q.ChangeReason
			res.Steps = newSteps(q)
			if o.Referrers {
				counts, err := o.copyReferrers(ctx, src, dst, q, s.Name(), o.indexOptions())
				if err != nil {
					return nil, nil, err
				}
				res.Referrers = &counts
			}
			o.noteUnsigned(res)
			res.DurationSeconds = time.Since(start).Seconds()
			return res, func(w io.Writer) error { return q.Describe(w, s.Name()) }, nil
		}
		res.DestinationDigest = ""
		res.DigestChanged = true
		res.DigestNote = fmt.Sprintf("the %s strategy writes new manifests, whose digests are known only once they are pushed", s.Name())
		o.noteUnsigned(res)
		res.DurationSeconds = time.Since(start).Seconds()
		return res, func(w io.Writer) error { return s.Describe(ctx, w, in) }, nil
	}
	if p.UpToDate && steps[0].Name() == StrategyIndex {
		// The summary says "up to date"; progress says what was found, once.
		o.Progress.Logf("nothing to copy: %s already points at %s", o.Destination.Name(), p.Root.Digest)
	}
	o.Debugf("plan: %d manifests, %d blobs, made in %s", len(p.Manifests)+1, len(p.Blobs), time.Since(start))

	var (
		firstErr   error
		firstClass fallback.Class
	)
	for i := 0; i < len(steps); {
		s := steps[i]
		o.Debugf("strategy %s: start", s.Name())
		out, err := s.Execute(ctx, in)
		if err == nil {
			res.Attempts = append(res.Attempts, Attempt{Strategy: s.Name(), Outcome: "succeeded"})
			res.fill(s.Name(), out)
			res.countForwarded(p, forwarded)
			o.noteUnsigned(res)
			o.recordBlobs(p, s.Name())
			if o.Referrers {
				q := p
				if is, ok := s.(index.Strategy); ok {
					q, _ = is.Prepare(ctx, in)
				}
				counts, err := o.copyReferrers(ctx, src, dst, q, s.Name(), o.indexOptions())
				res.Referrers = &counts
				if err != nil {
					if ctx.Err() != nil {
						return nil, nil, ctx.Err()
					}
					return res, nil, errdefs.Wrap(err, errdefs.KindOf(err), "%s arrived, but not all of its referrers: %s; run again, and if it persists, report it to the registry's operator or leave out --referrers", o.Destination.Name(), errdefs.Message(err))
				}
			}
			res.DurationSeconds = time.Since(start).Seconds()
			return res, nil, nil
		}
		if ctx.Err() != nil {
			// What moved before the interrupt is said (a batch reports it
			// per image); nothing at the destination is claimed.
			res.Blobs, res.Bytes, res.DestinationDigest = out.Blobs, out.Bytes, ""
			return res, nil, ctx.Err()
		}
		class, cerr := fallback.Classify(err)
		o.Debugf("strategy %s failed (%s): %v", s.Name(), class, err)
		res.Attempts = append(res.Attempts, Attempt{Strategy: s.Name(), Outcome: "failed", Class: string(class), Reason: errdefs.Message(cerr)})
		if explicit {
			if hint := fallback.Hint(class, true); hint != "" {
				cerr = errdefs.Wrap(cerr, errdefs.KindOf(cerr), "%s; %s", errdefs.Message(cerr), hint)
			}
			return res, nil, cerr
		}
		if fallback.Stops(class) {
			return res, nil, cerr
		}
		if firstErr == nil {
			firstErr, firstClass = cerr, class
		}
		next, skipped := nextStep(ctx, steps, i, firstClass, p)
		if next < 0 {
			o.Progress.Logf("%s strategy failed (%s): %s", s.Name(), class, errdefs.Message(cerr))
			for _, sk := range skipped {
				res.skip(o, sk.Strategy, sk.Reason)
			}
			break
		}
		o.Progress.Logf("%s strategy failed (%s): %s; trying %s", s.Name(), class, errdefs.Message(cerr), steps[next].Name())
		for _, sk := range skipped {
			res.skip(o, sk.Strategy, sk.Reason)
		}
		i = next
	}
	if firstErr == nil {
		return nil, nil, errdefs.New(errdefs.Unknown, "no strategy was tried")
	}
	var tried []string
	for _, a := range res.Attempts[1:] {
		tried = append(tried, a.Strategy+" "+a.Outcome)
	}
	msg := errdefs.Message(firstErr)
	if hint := fallback.Hint(firstClass, explicit); hint != "" && len(tried) == 0 {
		msg += "; " + hint
	}
	if len(tried) > 0 {
		msg += " (fallbacks: " + strings.Join(tried, ", ") + ")"
	}
	return res, nil, errdefs.Wrap(firstErr, errdefs.KindOf(firstErr), "%s", msg)
}

// recordBlobs notes where the plan's blobs now are, for later runs to mount
// them from: after the index strategy, which copies them as they are, into a
// registry repository.
func (o Options) recordBlobs(p *plan.Plan, strategyName string) {
	if o.Blobs == nil || o.DestinationStore != nil || !strings.HasPrefix(strategyName, StrategyIndex) {
		return
	}
	host, repo := o.Destination.Context().RegistryStr(), o.Destination.Context().RepositoryStr()
	for _, b := range p.Blobs {
		if b.Action != plan.Foreign {
			o.Blobs.Saw(host, b.Digest, repo)
		}
	}
}

// countForwarded counts as copied the blobs a store.Forwarder put into DST
// before the plan, which then found them there.
func (r *Result) countForwarded(p *plan.Plan, fwd store.Forwarded) {
	for _, b := range p.Blobs {
		if _, ok := fwd[b.Digest]; ok && b.Action == plan.Skip {
			r.Blobs.Copied, r.Blobs.Skipped = r.Blobs.Copied+1, r.Blobs.Skipped-1
			r.Bytes.Copied, r.Bytes.Skipped = r.Bytes.Copied+b.Size, r.Bytes.Skipped-b.Size
		}
	}
}

// indexOptions are the executor's options for the copies this run makes
// besides the image (its referrers).
func (o Options) indexOptions() index.Options {
	return index.Options{Jobs: o.Jobs, Progress: o.Progress, Debugf: o.Debugf, Slots: o.Slots, Ledger: o.Ledger, Uploads: o.Uploads}
}

// onlyIndex narrows auto to the index strategy when a side is not a registry:
// the engine and BuildKit push to registries only.
func onlyIndex(o *Options) error {
	switch o.Strategy {
	case "", StrategyAuto:
		o.Strategy = StrategyIndex
	case StrategyIndex:
	default:
		return errdefs.New(errdefs.InvalidArgument, "the %s strategy copies between registries only: use --strategy index (or auto) with archives", o.Strategy)
	}
	return nil
}

// stores returns the places to copy between: the given stores, or handles on
// the registry repositories the references name.
func (o Options) stores(ctx context.Context) (src, dst store.Store, err error) {
	src, dst = o.SourceStore, o.DestinationStore
	// Both handles at once: each is a ping and a token, round trips that a
	// far registry makes long.
	var srcErr, dstErr error
	var wg sync.WaitGroup
	if src == nil {
		wg.Go(func() { src, srcErr = o.Registry.Repository(ctx, o.Source.Context(), registry.PullSource) })
	}
	if dst == nil {
		var mountFrom []name.Repository
		if o.SourceStore == nil && o.Source.Context().RegistryStr() == o.Destination.Context().RegistryStr() {
			mountFrom = append(mountFrom, o.Source.Context())
		}
		access := registry.Push
		if o.DryRun {
			// A dry run only reads, so it asks for no push rights and works with a
			// read-only login too.
			access = registry.Pull
		}
		wg.Go(func() { dst, dstErr = o.Registry.Repository(ctx, o.Destination.Context(), access, mountFrom...) })
	}
	wg.Wait()
	if srcErr != nil {
		return nil, nil, srcErr
	}
	if dstErr != nil {
		return nil, nil, dstErr
	}
	return src, dst, nil
}

// nextStep finds the next strategy after steps[i] that can get past class and
// can run here, and the ones it passes over with the reason for each.
func nextStep(ctx context.Context, steps []strategy.Strategy, i int, class fallback.Class, p *plan.Plan) (int, []Attempt) {
	var skipped []Attempt
	for j := i + 1; j < len(steps); j++ {
		s := steps[j]
		if ok, why := fallback.Helps(fallback.Step(s.Name()), class); !ok {
			skipped = append(skipped, Attempt{Strategy: s.Name(), Outcome: "skipped", Reason: why})
			continue
		}
		if err := s.Available(ctx); err != nil {
			skipped = append(skipped, Attempt{Strategy: s.Name(), Outcome: "skipped", Reason: errdefs.Message(err)})
			continue
		}
		if f := strings.TrimPrefix(s.Name(), "index-"); f != s.Name() {
			if err := p.CanConvert(plan.Format(f)); err != nil {
				skipped = append(skipped, Attempt{Strategy: s.Name(), Outcome: "skipped", Reason: err.Error()})
				continue
			}
		}
		return j, skipped
	}
	return -1, skipped
}

func (r *Result) skip(o Options, name, why string) {
	o.Progress.Logf("skipping %s strategy: %s", name, why)
	r.Attempts = append(r.Attempts, Attempt{Strategy: name, Outcome: "skipped", Reason: why})
}

func (r *Result) fill(name string, out strategy.Output) {
	r.Strategy = name
	r.DestinationDigest = out.DestinationDigest.String()
	r.MediaType = string(out.MediaType)
	r.Platforms = out.Platforms
	r.DigestChanged = out.DigestChanged
	r.DigestNote = out.DigestNote
	r.ContentVerified = out.ContentVerified
	r.Manifests, r.Blobs, r.Bytes = out.Manifests, out.Blobs, out.Bytes
	r.Resumed = out.Resumed
}

// newResult fills what the plan knows; counts are the plan's intent, which a
// dry run reports and a real run overwrites with what happened.
func newResult(o Options, p *plan.Plan) *Result {
	r := &Result{
		Source:            wording.Reference(o.Source),
		Destination:       wording.Reference(o.Destination),
		SourceDigest:      p.SourceDigest.String(),
		DestinationDigest: p.Root.Digest.String(),
		DigestChanged:     p.DigestChanged,
		MediaType:         string(p.Root.MediaType),
		Strategy:          StrategyIndex,
		Platforms:         p.Platforms,
		DryRun:            o.DryRun,
		UpToDate:          p.UpToDate,
		Attempts:          []Attempt{},
		Plan:              p,
	}
	if r.Platforms == nil {
		r.Platforms = []plan.PlatformDigest{}
	}
	if p.DigestChanged {
		r.DigestNote = p.ChangeReason
	}
	for _, m := range append([]*plan.Manifest{p.Root}, p.Manifests...) {
		if m.Action == plan.Skip {
			r.Manifests.Skipped++
		} else {
			r.Manifests.Copied++
		}
	}
	for _, b := range p.Blobs {
		switch b.Action {
		case plan.Copy:
			r.Blobs.Copied++
			r.Bytes.Copied += b.Size
		case plan.Mount:
			r.Blobs.Mounted++
			r.Bytes.Mounted += b.Size
		default:
			r.Blobs.Skipped++
			r.Bytes.Skipped += b.Size
		}
	}
	return r
}
