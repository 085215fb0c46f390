// Package migrate runs one migration: it plans the copy, hands the plan to a
// strategy, and gathers what happened into a Result.
package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
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
	Registry    *registry.Client
	Progress    *progress.Writer
	Debugf      func(format string, args ...any)
}

// Counts splits a quantity by what happened to it.
type Counts struct {
	Copied  int64 `json:"copied"`
	Mounted int64 `json:"mounted"`
	Skipped int64 `json:"skipped"`
}

// ManifestCounts counts manifests, which are pushed or already there.
type ManifestCounts struct {
	Copied  int `json:"copied"`
	Skipped int `json:"skipped"`
}

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
	Manifests         ManifestCounts        `json:"manifests"`
	Blobs             Counts                `json:"blobs"`
	Bytes             Counts                `json:"bytes"`
	DurationSeconds   float64               `json:"durationSeconds"`
	DryRun            bool                  `json:"dryRun"`
	UpToDate          bool                  `json:"upToDate,omitempty"`
}

// Run plans and, unless DryRun, executes the migration. The plan is returned
// too, for --dry-run to print.
func Run(ctx context.Context, o Options) (*Result, *plan.Plan, error) {
	start := time.Now()
	debugf := o.Debugf
	if debugf == nil {
		debugf = func(string, ...any) {}
	}
	switch o.Strategy {
	case "", StrategyAuto, StrategyIndex:
	case StrategyManifest, StrategyBuildx:
		return nil, nil, errdefs.New(errdefs.InvalidArgument, "the %s strategy is planned but not built yet: use --strategy index", o.Strategy)
	default:
		return nil, nil, errdefs.New(errdefs.InvalidArgument, "invalid --strategy %q: expected auto, index, manifest or buildx", o.Strategy)
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
	res := newResult(o, p)
	if p.DigestChanged {
		o.Progress.Logf("note: the destination digest differs from the source (%s): %s → %s", p.ChangeReason, p.SourceDigest, p.Root.Digest)
	}
	if o.DryRun {
		res.DurationSeconds = time.Since(start).Seconds()
		return res, p, nil
	}
	if p.UpToDate {
		o.Progress.Logf("%s is up to date at %s", o.Destination.Name(), p.Root.Digest)
	}
	debugf("plan: %d manifests, %d blobs", len(p.Manifests)+1, len(p.Blobs))
	stats, err := index.Execute(ctx, p, src, dst, index.Options{Jobs: o.Jobs, Progress: o.Progress, Debugf: debugf})
	if err != nil {
		return nil, p, err
	}
	res.Manifests = ManifestCounts{Copied: stats.ManifestsCopied, Skipped: stats.ManifestsSkipped}
	res.Blobs = Counts{Copied: int64(stats.BlobsCopied), Mounted: int64(stats.BlobsMounted), Skipped: int64(stats.BlobsSkipped)}
	res.Bytes = Counts{Copied: stats.BytesCopied, Mounted: stats.BytesMounted, Skipped: stats.BytesSkipped}
	res.DurationSeconds = time.Since(start).Seconds()
	return res, p, nil
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
		r.DigestNote = fmt.Sprintf("the digest differs from the source: %s", p.ChangeReason)
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
