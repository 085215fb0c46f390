// Package migrate runs one migration: it plans the copy, hands the plan to a
// strategy, and gathers what happened into a Result.
package migrate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/fallback"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/indexstrategy"
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

// Options is one migration, already validated by the command: the image,
// what it shares with the other copies of its run, and how to copy it.
type Options struct {
	copyopts.Image
	copyopts.Shared
	DryRun   bool
	Strategy string
	// MediaTypes, when set, converts manifests to that family (--media-types).
	MediaTypes plan.Format
	// Strategies are the engine- and builder-backed strategies the command could
	// build (manifest, buildx); index is always there.
	Strategies []strategy.Strategy
	Registry   *registry.Client
	// NoClobber refuses to replace a destination tag that points at another
	// digest (-n); otherwise the run says what it replaces.
	NoClobber bool
	// Referrers copies the artifacts that refer to the image (signatures,
	// SBOMs), through the referrers API or its fallback tags, and cosign's
	// sha256-HEX.sig/.att/.sbom tags; ReferrerTypes narrows them by artifactType.
	Referrers     bool
	ReferrerTypes []string
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
	// Plan is the plan made for the image (before any conversion), for a
	// batch's dry-run totals and for how far an interrupted copy got.
	Plan *plan.Plan `json:"-"`
	// Forwarding is set when the run stopped while the source was putting
	// its layers into DST (store.Forwarder), before any plan: Blobs and
	// Bytes count the layers that arrived whole, none of them tagged.
	Forwarding bool `json:"-"`
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
			return append([]strategy.Strategy{indexstrategy.Strategy{Format: o.MediaTypes}}, present(byName, StrategyManifest, StrategyBuildx)...), nil
		}
		return append([]strategy.Strategy{indexstrategy.Strategy{}, indexstrategy.Strategy{Format: plan.FormatDocker}}, present(byName, StrategyManifest, StrategyBuildx)...), nil
	case StrategyIndex:
		return []strategy.Strategy{indexstrategy.Strategy{Format: o.MediaTypes}}, nil
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
type Describer = strategy.Describer

// Run plans and, unless DryRun, executes the migration. With --strategy auto
// it falls back along the chain when a failure is one another strategy can get
// past, and says why. For a dry run it returns what to print instead. A run
// that failed after planning returns its Result too (the attempts), with the
// error.
func Run(ctx context.Context, o Options) (*Result, Describer, error) {
	m := &migration{start: time.Now()}
	if o.Debugf == nil {
		o.Debugf = func(string, ...any) {}
	}
	// Asked for by the user, not set below for an archive: a hint to run
	// "without --strategy" is for a run that gave one.
	m.explicit = o.Strategy != "" && o.Strategy != StrategyAuto
	if o.SourceStore != nil || o.DestinationStore != nil {
		if err := onlyIndex(&o); err != nil {
			return nil, nil, err
		}
	}
	steps, err := chain(o)
	if err != nil {
		return nil, nil, err
	}
	if m.explicit {
		if err := steps[0].Available(ctx); err != nil {
			return nil, nil, err
		}
	}
	m.o, m.steps = o, steps
	if err := m.plan(ctx); err != nil {
		// m.res is set only when an interrupt cut the source's forward:
		// what arrived is said.
		return m.res, nil, err
	}
	if len(o.VerifyKeys) > 0 {
		if err := o.verifySource(ctx, m.in.Src, m.in.Plan, m.res); err != nil {
			m.res.DurationSeconds = time.Since(m.start).Seconds()
			return m.res, nil, err
		}
	}
	if o.DryRun {
		return m.dryRun(ctx)
	}
	o.Debugf("plan: %d manifests, %d blobs, made in %s", len(m.in.Plan.Manifests)+1, len(m.in.Plan.Blobs), time.Since(m.start))
	return m.execute(ctx)
}

// migration is one run under way: the strategies to try, what they are
// given, and the result so far.
type migration struct {
	o        Options
	start    time.Time
	explicit bool
	steps    []strategy.Strategy
	in       strategy.Input
	res      *Result
	// forwarded are the blobs the source put into DST before the plan.
	forwarded store.Forwarded
}

// plan opens both ends, plans the copy, and looks at what the destination
// tag points at now.
func (m *migration) plan(ctx context.Context) error {
	o := m.o
	src, dst, err := o.stores(ctx)
	if err != nil {
		return err
	}
	// An engine SRC puts its layers into DST as its save streams
	// (store.Forwarder); the plan finds them there. Not before a signature check.
	if f, ok := src.(store.Forwarder); ok && !o.DryRun && len(o.VerifyKeys) == 0 {
		// -n: refused before any layer is sent, when the tag holds other
		// layers; checkClobber below decides by digest once the image is made.
		if o.NoClobber {
			if have := f.OtherImageAt(ctx, dst, o.Destination.Identifier()); have != (v1.Hash{}) {
				return o.clobberRefused(have)
			}
		}
		var claims store.LayerClaimer
		if o.Ledger != nil {
			claims = o.Ledger
		}
		if m.forwarded, err = f.Forward(ctx, dst, o.Destination.Identifier(), o.Progress, claims); err != nil {
			if ctx.Err() != nil {
				m.res = forwardCut(o, m.forwarded, m.start)
			}
			return err
		}
	}
	shared := o.Shared
	if o.DryRun {
		shared.Manifests, shared.Blobs = shared.Manifests.ReadOnly(), shared.Blobs.ReadOnly()
	}
	p, err := plan.Build(ctx, src, dst, o.Image, shared)
	if err != nil {
		return err
	}
	previous, err := o.checkClobber(ctx, dst, p)
	if err != nil {
		return err
	}
	m.in = strategy.Input{Plan: p, Src: src, Dst: dst, Shared: o.Shared}
	m.res = newResult(o, p)
	m.res.PreviousDigest = previous
	if s, ok := src.(interface{ ServedBy(ref string) string }); ok {
		m.res.Mirror = s.ServedBy(o.Source.Identifier())
	}
	return nil
}

// dryRun asks the first strategy what it would do, and writes nothing.
func (m *migration) dryRun(ctx context.Context) (*Result, Describer, error) {
	o, res, s := m.o, m.res, m.steps[0]
	res.Strategy = s.Name()
	out, describe, err := s.DryRun(ctx, m.in)
	if err != nil {
		return nil, nil, err
	}
	res.planned(out)
	if o.Referrers && out.Plan != nil {
		counts, err := o.copyReferrers(ctx, m.in.Src, m.in.Dst, s.Name(), out)
		if err != nil {
			return nil, nil, err
		}
		res.Referrers = &counts
	}
	o.noteUnsigned(res)
	res.DurationSeconds = time.Since(m.start).Seconds()
	return res, describe, nil
}

// execute tries the strategies in turn until one succeeds, one fails in a
// way no other can get past, or none is left.
func (m *migration) execute(ctx context.Context) (*Result, Describer, error) {
	o, res := m.o, m.res
	var (
		firstErr   error
		firstClass fallback.Class
	)
	for i := 0; i >= 0 && i < len(m.steps); {
		s := m.steps[i]
		o.Debugf("strategy %s: start", s.Name())
		out, err := s.Execute(ctx, m.in)
		if err == nil {
			return m.succeeded(ctx, s, out)
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
		if m.explicit {
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
		i = m.fallBack(ctx, i, class, cerr, firstClass)
	}
	if firstErr == nil {
		return nil, nil, errdefs.New(errdefs.Unknown, "no strategy was tried")
	}
	return res, nil, m.failure(firstErr, firstClass)
}

// succeeded fills the result from what strategy s did, and copies the
// image's referrers when asked.
func (m *migration) succeeded(ctx context.Context, s strategy.Strategy, out strategy.Output) (*Result, Describer, error) {
	o, res := m.o, m.res
	res.Attempts = append(res.Attempts, Attempt{Strategy: s.Name(), Outcome: "succeeded"})
	res.fill(s.Name(), out)
	res.countForwarded(m.in.Plan, m.forwarded)
	o.noteUnsigned(res)
	o.recordBlobs(out.Plan)
	if o.Referrers {
		counts, err := o.copyReferrers(ctx, m.in.Src, m.in.Dst, s.Name(), out)
		res.Referrers = &counts
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return res, nil, errdefs.Wrap(err, errdefs.KindOf(err), "%s arrived, but not all of its referrers: %s; run again, and if it persists, report it to the registry's operator or leave out --referrers", o.Destination.Name(), errdefs.Message(err))
		}
	}
	res.DurationSeconds = time.Since(m.start).Seconds()
	return res, nil, nil
}

// fallBack says that steps[i] failed (class, cerr) and returns the next
// strategy to try, or -1, noting the ones passed over on the way.
func (m *migration) fallBack(ctx context.Context, i int, class fallback.Class, cerr error, firstClass fallback.Class) int {
	next, skipped := nextStep(ctx, m.steps, i, firstClass, m.in.Plan)
	msg := fmt.Sprintf("%s strategy failed (%s): %s", m.steps[i].Name(), class, errdefs.Message(cerr))
	if next >= 0 {
		msg += "; trying " + m.steps[next].Name()
	}
	m.o.Progress.Logf("%s", msg)
	for _, sk := range skipped {
		m.res.skip(m.o, sk.Strategy, sk.Reason)
	}
	return next
}

// failure is the run's error when no strategy got the image there: the
// first failure, which is the one that says what to do, with the
// fallbacks tried after it.
func (m *migration) failure(firstErr error, firstClass fallback.Class) error {
	var tried []string
	for _, a := range m.res.Attempts[1:] {
		tried = append(tried, a.Strategy+" "+a.Outcome)
	}
	msg := errdefs.Message(firstErr)
	if hint := fallback.Hint(firstClass, m.explicit); hint != "" && len(tried) == 0 {
		msg += "; " + hint
	}
	if len(tried) > 0 {
		msg += " (fallbacks: " + strings.Join(tried, ", ") + ")"
	}
	return errdefs.Wrap(firstErr, errdefs.KindOf(firstErr), "%s", msg)
}

// recordBlobs notes where the blobs of p, the plan a strategy carried out,
// now are, for later runs to mount them from: after a strategy that copies
// them as they are (one with a plan), into a registry repository.
func (o Options) recordBlobs(p *plan.Plan) {
	if o.Blobs == nil || o.DestinationStore != nil || p == nil {
		return
	}
	host, repo := o.Destination.Context().RegistryStr(), o.Destination.Context().RepositoryStr()
	for _, b := range p.Blobs {
		if b.Action != plan.Foreign {
			o.Blobs.Saw(host, b.Digest, repo)
		}
	}
}

// forwardCut is the result of a run interrupted while the source was putting
// its layers into DST: the layers that arrived whole, and no destination.
func forwardCut(o Options, fwd store.Forwarded, start time.Time) *Result {
	r := &Result{Source: wording.Reference(o.Source), Destination: wording.Reference(o.Destination),
		Platforms: []plan.PlatformDigest{}, Attempts: []Attempt{}, Forwarding: true,
		DurationSeconds: time.Since(start).Seconds()}
	for _, size := range fwd {
		r.Blobs.Copied++
		r.Bytes.Copied += size
	}
	return r
}

// countForwarded counts as copied the blobs a store.Forwarder put into DST
// before the plan, which then found them there.
func (r *Result) countForwarded(p *plan.Plan, fwd store.Forwarded) {
	if p == nil {
		return
	}
	for _, b := range p.Blobs {
		if _, ok := fwd[b.Digest]; ok && b.Action == plan.Skip {
			r.Blobs.Copied, r.Blobs.Skipped = r.Blobs.Copied+1, r.Blobs.Skipped-1
			r.Bytes.Copied, r.Bytes.Skipped = r.Bytes.Copied+b.Size, r.Bytes.Skipped-b.Size
		}
	}
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
		if err := s.Supports(p); err != nil {
			skipped = append(skipped, Attempt{Strategy: s.Name(), Outcome: "skipped", Reason: err.Error()})
			continue
		}
		return j, skipped
	}
	return -1, skipped
}

func (r *Result) skip(o Options, name, why string) {
	o.Progress.Logf("skipping %s strategy: %s", name, why)
	r.Attempts = append(r.Attempts, Attempt{Strategy: name, Outcome: "skipped", Reason: why})
}

// planned fills what a dry run knows of the destination: what the strategy
// would write, as far as it knows before anything is pushed.
func (r *Result) planned(out strategy.Output) {
	r.DigestChanged, r.DigestNote = out.DigestChanged, out.DigestNote
	if out.Plan == nil {
		r.DestinationDigest = "" // known only once pushed
		return
	}
	r.DestinationDigest, r.MediaType = out.DestinationDigest.String(), string(out.MediaType)
	r.Platforms = out.Platforms
	if r.Platforms == nil {
		r.Platforms = []plan.PlatformDigest{}
	}
	r.Steps = newSteps(out.Plan)
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
