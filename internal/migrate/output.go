package migrate

import (
	"context"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
)

// Steps is a dry run's plan as --format json prints it: every manifest and
// blob, with what the run would do and how many bytes that moves.
type Steps struct {
	// Manifests are the child manifests, then the root (the one with a tag),
	// which is written last.
	Manifests []Step `json:"manifests"`
	Blobs     []Step `json:"blobs"`
}

// Step is one manifest or blob of a plan.
type Step struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size"`
	// Platform is the platform the object belongs to (the first one, for a
	// blob several share), "index" for the root of a multi-platform image.
	Platform string `json:"platform,omitempty"`
	// Action is "copy" (the bytes cross the wire), "mount" (the destination
	// registry takes it from another repository), "skip" (already there) or
	// "foreign" (a non-distributable layer, left where its URLs point).
	Action string `json:"action"`
	// Tag is the tag the root is written under.
	Tag string `json:"tag,omitempty"`
}

func newSteps(p *plan.Plan) *Steps {
	s := &Steps{Manifests: []Step{}, Blobs: []Step{}}
	for _, m := range p.Manifests {
		s.Manifests = append(s.Manifests, Step{Digest: m.Digest.String(), MediaType: string(m.MediaType), Size: m.Size, Platform: m.Label, Action: string(m.Action)})
	}
	root := Step{Digest: p.Root.Digest.String(), MediaType: string(p.Root.MediaType), Size: p.Root.Size, Platform: p.Root.Label, Action: string(plan.Copy), Tag: p.Destination.Identifier()}
	if p.Root.Action == plan.Skip {
		root.Action = string(plan.Skip)
	}
	s.Manifests = append(s.Manifests, root)
	for _, b := range p.Blobs {
		owner := b.Owner
		if owner == "" {
			owner = p.Root.Label
		}
		s.Blobs = append(s.Blobs, Step{Digest: b.Digest.String(), MediaType: string(b.MediaType), Size: b.Size, Platform: owner, Action: string(b.Action)})
	}
	return s
}

// checkClobber looks at what the destination tag points to before anything is
// written. A tag at another digest is replaced, and the run says so, unless
// NoClobber refuses. It returns the digest being replaced, if any.
func (o Options) checkClobber(ctx context.Context, dst store.Store, p *plan.Plan) (string, error) {
	if p.UpToDate {
		return "", nil
	}
	tag := o.Destination.Identifier()
	if strings.HasPrefix(tag, "sha256:") {
		return "", nil
	}
	// The plan read the tag a moment ago; only a plan that did not asks again.
	have := p.DestinationTag
	if !p.DestinationTagRead {
		if d, err := dst.HeadManifest(ctx, tag); err == nil {
			have = d.Digest
		}
	}
	if have == (v1.Hash{}) || have == p.Root.Digest {
		// Not there (or not telling): nothing to replace. The plan has
		// already asked, so a failure to reach it would have stopped the run.
		return "", nil
	}
	if o.NoClobber {
		return "", o.clobberRefused(have)
	}
	if o.DryRun {
		o.Progress.Logf("would replace %s (now %s)", wording.Reference(o.Destination), have)
	} else {
		o.Progress.Logf("replacing %s (was %s)", wording.Reference(o.Destination), have)
	}
	return have.String(), nil
}

// clobberRefused is -n's refusal of the destination tag, which points at
// have.
func (o Options) clobberRefused(have v1.Hash) error {
	return errdefs.New(errdefs.Rejected, "%s exists and points at %s: not replaced (--no-clobber); run without -n to replace it", wording.Reference(o.Destination), have)
}

// Failed is the result --format json prints for an image that did not
// arrive: what is known of the run (the source digest, the attempts) and the
// error, with nothing claimed for the destination. res may be nil when the
// run stopped before it had a plan.
func Failed(res *Result, src, dst name.Reference, reason string) *Result {
	out := &Result{Source: wording.Reference(src), Destination: wording.Reference(dst), Platforms: []plan.PlatformDigest{}, Attempts: []Attempt{}}
	if res != nil {
		out.SourceDigest, out.Strategy, out.DryRun = res.SourceDigest, res.Strategy, res.DryRun
		out.DurationSeconds, out.PreviousDigest = res.DurationSeconds, res.PreviousDigest
		out.Signature = res.Signature
		if res.Attempts != nil {
			out.Attempts = res.Attempts
		}
	}
	out.Error = reason
	return out
}
