// Package migrate runs one migration: it plans the copy, hands the plan to a
// strategy, and gathers what happened into a Result.
package migrate

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/index"
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
	// Strategies are the engine- and builder-backed strategies the command could
	// build (manifest, buildx); index is always there.
	Strategies []strategy.Strategy
	Registry   *registry.Client
	Progress   *progress.Writer
	Debugf     func(format string, args ...any)
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
}

// pick returns the strategy to run.
func pick(o Options) (strategy.Strategy, error) {
	want := o.Strategy
	if want == "" || want == StrategyAuto {
		want = StrategyIndex
	}
	if want == StrategyIndex {
		return index.Strategy{}, nil
	}
	for _, s := range o.Strategies {
		if s.Name() == want {
			return s, nil
		}
	}
	switch want {
	case StrategyManifest, StrategyBuildx:
		return nil, errdefs.New(errdefs.InvalidArgument, "the %s strategy is not available in this build: use --strategy index", want)
	}
	return nil, errdefs.New(errdefs.InvalidArgument, "invalid --strategy %q: expected auto, index, manifest or buildx", want)
}

// Describer prints a dry run's plan.
type Describer func(w io.Writer) error

// Run plans and, unless DryRun, executes the migration. For a dry run it
// returns what to print instead.
func Run(ctx context.Context, o Options) (*Result, Describer, error) {
	start := time.Now()
	if o.Debugf == nil {
		o.Debugf = func(string, ...any) {}
	}
	s, err := pick(o)
	if err != nil {
		return nil, nil, err
	}
	if s.Name() != StrategyIndex {
		if err := s.Available(ctx); err != nil {
			return nil, nil, err
		}
	}

	src, err := o.Registry.Repository(ctx, o.Source.Context(), registry.Pull)
	if err != nil {
		return nil, nil, err
	}
	var mountFrom []name.Repository
	if o.Source.Context().RegistryStr() == o.Destination.Context().RegistryStr() {
		mountFrom = append(mountFrom, o.Source.Context())
	}
	access := registry.Push
	if o.DryRun {
		// A dry run only reads, so it asks for no push rights and works with a
		// read-only login too.
		access = registry.Pull
	}
	dst, err := o.Registry.Repository(ctx, o.Destination.Context(), access, mountFrom...)
	if err != nil {
		return nil, nil, err
	}

	p, err := plan.Build(ctx, src, dst, plan.Request{Source: o.Source, Destination: o.Destination, Platforms: o.Platforms, Jobs: o.Jobs})
	if err != nil {
		return nil, nil, err
	}
	in := strategy.Input{Plan: p, Src: src, Dst: dst, Jobs: o.Jobs, Progress: o.Progress, Debugf: o.Debugf}
	res := newResult(o, p)
	res.Strategy = s.Name()
	if o.DryRun {
		res.DurationSeconds = time.Since(start).Seconds()
		if s.Name() != StrategyIndex {
			res.DigestChanged = true
			res.DigestNote = fmt.Sprintf("the %s strategy re-creates the manifests", s.Name())
		}
		return res, func(w io.Writer) error { return s.Describe(ctx, w, in) }, nil
	}
	if p.DigestChanged && s.Name() == StrategyIndex {
		o.Progress.Logf("note: the destination digest differs from the source (%s): %s → %s", p.ChangeReason, p.SourceDigest, p.Root.Digest)
	}
	if p.UpToDate {
		o.Progress.Logf("%s is up to date at %s", o.Destination.Name(), p.Root.Digest)
	}
	o.Debugf("plan: %d manifests, %d blobs; strategy %s", len(p.Manifests)+1, len(p.Blobs), s.Name())
	out, err := s.Execute(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	res.DestinationDigest = out.DestinationDigest.String()
	res.MediaType = string(out.MediaType)
	res.Platforms = out.Platforms
	res.DigestChanged = out.DigestChanged
	res.DigestNote = out.DigestNote
	res.ContentVerified = out.ContentVerified
	res.Manifests, res.Blobs, res.Bytes = out.Manifests, out.Blobs, out.Bytes
	res.DurationSeconds = time.Since(start).Seconds()
	return res, nil, nil
}

// newResult fills what the plan knows; counts are the plan's intent, which a
// dry run reports and a real run overwrites with what happened.
func newResult(o Options, p *plan.Plan) *Result {
	r := &Result{
		Source:            o.Source.Name(),
		Destination:       o.Destination.Name(),
		SourceDigest:      p.SourceDigest.String(),
		DestinationDigest: p.Root.Digest.String(),
		DigestChanged:     p.DigestChanged,
		MediaType:         string(p.Root.MediaType),
		Strategy:          StrategyIndex,
		Platforms:         p.Platforms,
		DryRun:            o.DryRun,
		UpToDate:          p.UpToDate,
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
