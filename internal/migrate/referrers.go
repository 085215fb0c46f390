package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/referrers"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/indexstrategy"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ReferrerCounts counts the artifacts (signatures, SBOMs, attestations) that
// refer to the image, for --referrers.
type ReferrerCounts struct {
	// Copied counts the referrers copied (or, in a dry run, found to copy).
	Copied int `json:"copied"`
	// Present counts those the destination already had.
	Present int `json:"present"`
}

// cosignSuffixes are the tags cosign writes beside an image (sha256-HEX.sig
// and so on) for its signatures, attestations and SBOMs.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// maxReferrers bounds the artifacts one image brings along, so that a cycle or
// a runaway registry cannot make the walk endless.
const maxReferrers = 1000

var fallbackTag = referrers.FallbackTag

// copyReferrers copies, for every manifest of the copied graph whose digest
// the copy kept (out.Plan, the plan the strategy carried out), the
// artifacts that refer to it, and theirs in turn. Each is
// copied by digest through the same planner and executor as the image. Where
// the destination has the referrers API it indexes them itself on the PUT;
// elsewhere (an older registry, an archive) the fallback tag is updated,
// keeping what another tool already listed there.
func (o Options) copyReferrers(ctx context.Context, src, dst store.Store, strategyName string, out strategy.Output) (ReferrerCounts, error) {
	var counts ReferrerCounts
	var subjects []v1.Hash
	p := out.Plan
	switch {
	case p == nil || p.ConvertedTo != "":
		o.Progress.Logf("note: referrers not copied: the %s strategy writes new manifests, and a signature or SBOM names the digest it refers to", strategyName)
		return counts, nil
	case p.DigestChanged:
		o.Progress.Logf("note: the referrers of the source index %s are not copied: the copy's index is a new one (%s); those of each platform's image are", p.SourceDigest, p.ChangeReason)
	default:
		subjects = append(subjects, p.SourceDigest)
	}
	for _, m := range p.Manifests {
		subjects = append(subjects, m.Digest)
	}
	dstAPI := false
	if l, ok := dst.(referrers.Lister); ok && !o.DryRun {
		_, supported, err := l.Referrers(ctx, subjects[0])
		if err != nil {
			return counts, err
		}
		dstAPI = supported
	}
	// Each referrer's copy knows the answer: no need to ask again.
	pw := o.Shared
	pw.ReferrersAPI = &dstAPI

	seen := map[v1.Hash]bool{}
	for _, s := range subjects {
		seen[s] = true
	}
	for len(subjects) > 0 {
		d := subjects[0]
		subjects = subjects[1:]
		refs, err := o.findReferrers(ctx, src, d)
		if err != nil {
			return counts, err
		}
		var listed []v1.Descriptor
		for _, r := range refs {
			if seen[r.Digest] {
				continue
			}
			seen[r.Digest] = true
			if len(seen) > maxReferrers {
				return counts, errdefs.New(errdefs.Rejected, "%s has more than %d referrers: refusing to follow them further", src, maxReferrers)
			}
			present, err := o.copyByDigest(ctx, src, dst, r.Digest, pw)
			if err != nil {
				return counts, fmt.Errorf("copy referrer %s (%s) of %s: %w", r.Digest, r.ArtifactType, d, err)
			}
			if present {
				counts.Present++
			} else {
				counts.Copied++
			}
			listed = append(listed, r)
			subjects = append(subjects, r.Digest)
		}
		if len(listed) > 0 && !dstAPI && !o.DryRun {
			if err := referrers.UpdateFallbackTag(ctx, dst, d, listed); err != nil {
				return counts, err
			}
		}
		for _, suffix := range cosignSuffixes {
			tag := fallbackTag(d) + suffix
			desc, err := src.HeadManifest(ctx, tag)
			if errdefs.Is(err, errdefs.NotFound) {
				continue
			} else if err != nil {
				return counts, err
			}
			present, err := o.copyTag(ctx, src, dst, tag, desc.Digest, pw)
			if err != nil {
				return counts, fmt.Errorf("copy %s: %w", tag, err)
			}
			if present {
				counts.Present++
			} else {
				counts.Copied++
			}
		}
	}
	return counts, nil
}

// findReferrers lists what refers to d in s: through the referrers API where
// s has it, and through the fallback tag, which tools write where it has not
// (and some write anyway). --referrer-type narrows them by artifactType.
func (o Options) findReferrers(ctx context.Context, s store.Store, d v1.Hash) ([]v1.Descriptor, error) {
	out, err := FindReferrers(ctx, s, d)
	if err != nil {
		return nil, err
	}
	if len(o.ReferrerTypes) > 0 {
		out = slices.DeleteFunc(out, func(x v1.Descriptor) bool { return !slices.Contains(o.ReferrerTypes, x.ArtifactType) })
	}
	return out, nil
}

// FindReferrers lists every manifest that refers to d in s, through the
// referrers API and the fallback tag (see findReferrers); --verify-key reads
// the signatures among them.
func FindReferrers(ctx context.Context, s store.Store, d v1.Hash) ([]v1.Descriptor, error) {
	var out []v1.Descriptor
	if l, ok := s.(referrers.Lister); ok {
		descs, _, err := l.Referrers(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, descs...)
	}
	body, _, err := s.GetManifest(ctx, fallbackTag(d))
	switch {
	case errdefs.Is(err, errdefs.NotFound):
	case err != nil:
		return nil, err
	default:
		var idx v1.IndexManifest
		if err := json.Unmarshal(body, &idx); err != nil {
			return nil, errdefs.New(errdefs.Rejected, "%s: the referrers tag %s is not an index (%v)", s, fallbackTag(d), err)
		}
		for _, m := range idx.Manifests {
			if !slices.ContainsFunc(out, func(x v1.Descriptor) bool { return x.Digest == m.Digest }) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// copyByDigest copies the manifest d of src and everything it names to dst,
// under its digest. present reports that dst had it already.
func (o Options) copyByDigest(ctx context.Context, src, dst store.Store, d v1.Hash, pw copyopts.Shared) (bool, error) {
	return o.copySub(ctx, src, dst, d.String(), d, pw)
}

// copyTag copies src's tag (a cosign signature, say) to the same tag in dst.
func (o Options) copyTag(ctx context.Context, src, dst store.Store, tag string, d v1.Hash, pw copyopts.Shared) (bool, error) {
	return o.copySub(ctx, src, dst, tag, d, pw)
}

func (o Options) copySub(ctx context.Context, src, dst store.Store, ref string, d v1.Hash, pw copyopts.Shared) (bool, error) {
	im := copyopts.Image{Source: o.Source.Context().Digest(d.String()), Destination: o.Destination.Context().Digest(d.String())}
	if ref != d.String() {
		im.Destination = o.Destination.Context().Tag(ref)
	}
	// Planned with the jobs alone: no manifest cache, no blob record.
	p, err := plan.Build(ctx, src, dst, im, copyopts.Shared{Jobs: pw.Jobs})
	if err != nil {
		return false, err
	}
	if p.UpToDate || o.DryRun {
		return p.UpToDate, nil
	}
	_, err = indexstrategy.Execute(ctx, p, src, dst, pw)
	return false, err
}
