// Package strategy holds what the three ways of migrating share: the input they
// get from the plan, the output they report, and the content check that the
// manifest and buildx strategies run on what they pushed.
package strategy

import (
	"context"
	"fmt"
	"io"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Input is one migration as a strategy sees it: the plan (which pins the source
// by digest and lists its platforms), handles on both repositories, and what
// the copy shares with the other copies of its run.
type Input struct {
	Plan *plan.Plan
	// Src reads the source repository; Dst reads and writes the destination.
	Src, Dst store.Store
	copyopts.Shared
}

// Logf prints a progress line.
func (in Input) Logf(format string, args ...any) { in.Progress.Logf(format, args...) }

// Output is what a strategy did.
type Output struct {
	DestinationDigest v1.Hash
	MediaType         types.MediaType
	// Platforms pairs each platform's source and destination manifest digests.
	Platforms     []plan.PlatformDigest
	DigestChanged bool
	// DigestNote says why the digest changed, in a phrase.
	DigestNote string
	// ContentVerified is set by strategies that re-create manifests: true when
	// every platform's config has the source's rootfs.diff_ids.
	ContentVerified *bool
	Manifests       ManifestCounts
	Blobs, Bytes    Counts
	// Resumed lists the blobs whose upload went on in a session an earlier
	// run was cut off in; Bytes.Copied counts only what this run sent.
	Resumed []Resumed
	// Plan is the plan carried out (or, in a dry run, to carry out) by a
	// strategy that copies the graph: the input's, or its conversion
	// (Plan.ConvertedTo). Nil for a strategy that writes manifests of its
	// own (an engine, a builder), whose digests are known only once pushed.
	Plan *plan.Plan
}

// PlanOutput is what carrying out p reports before any counting: its
// digests, platforms and why its digest differs from the source's.
func PlanOutput(p *plan.Plan) Output {
	return Output{
		DestinationDigest: p.Root.Digest,
		MediaType:         p.Root.MediaType,
		Platforms:         p.Platforms,
		DigestChanged:     p.DigestChanged,
		DigestNote:        p.ChangeReason,
		Plan:              p,
	}
}

// NewManifests is a dry run's output for a strategy that writes manifests
// of its own (name): their digests are known only once they are pushed.
func NewManifests(name string) Output {
	return Output{
		DigestChanged: true,
		DigestNote:    fmt.Sprintf("the %s strategy writes new manifests, whose digests are known only once they are pushed", name),
	}
}

// Resumed is a blob whose upload went on from what the registry held of it.
type Resumed struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Offset is how much of it the registry held; At is that as a share
	// ("80%"), as progress says it.
	Offset int64  `json:"offset"`
	At     string `json:"at"`
}

// Counts splits a quantity by what happened to it.
type Counts struct {
	Copied  int64 `json:"copied"`
	Mounted int64 `json:"mounted"`
	Skipped int64 `json:"skipped"`
}

// ManifestCounts counts manifests, pushed or already there.
type ManifestCounts struct {
	Copied  int `json:"copied"`
	Skipped int `json:"skipped"`
}

// Describer prints a dry run's steps.
type Describer func(w io.Writer) error

// Strategy is one way of getting the source's platforms to the destination.
type Strategy interface {
	Name() string
	// Available says why the strategy cannot run here (no engine, no builder),
	// or nil. It must be cheap and must not write anything.
	Available(ctx context.Context) error
	// Supports says why the strategy cannot carry out p when the plan alone
	// shows it (a conversion to media types that cannot hold its layers),
	// or nil. It makes no requests: auto passes over such a strategy
	// rather than trying it.
	Supports(p *plan.Plan) error
	// DryRun says what Execute would do (--dry-run) and writes nothing: the
	// output as far as it is known before anything is pushed, and the steps
	// to print.
	DryRun(ctx context.Context, in Input) (Output, Describer, error)
	// Execute migrates. It writes the destination tag last, and not at all on
	// failure.
	Execute(ctx context.Context, in Input) (Output, error)
}
