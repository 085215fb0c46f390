package indexstrategy

import (
	"context"
	"fmt"
	"slices"

	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/referrers"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// listReferrers keeps the referrers rule of the OCI distribution spec for
// ms, manifests this run pushed: each with a subject is listed in its
// subject's fallback tag (sha256-HEX) where the destination has no referrers
// API, so that `regctl artifact list` or `oras discover` find there what
// they find at the source. Each subject's tag is written once, with all its
// entries, so that no two writes of one tag race.
func (e *executor) listReferrers(ctx context.Context, ms []*plan.Manifest) error {
	bySubject := map[v1.Hash][]v1.Descriptor{}
	var subjects []v1.Hash
	for _, m := range ms {
		if m.Action == plan.Skip || m.Body == nil {
			continue
		}
		s, entry, ok := referrers.Subject(m.MediaType, m.Body)
		if !ok {
			continue
		}
		if _, seen := bySubject[s]; !seen {
			subjects = append(subjects, s)
		}
		if !slices.ContainsFunc(bySubject[s], func(x v1.Descriptor) bool { return x.Digest == entry.Digest }) {
			bySubject[s] = append(bySubject[s], entry)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	if e.referrersAPI == nil {
		api := referrers.HasAPI(ctx, e.dst, subjects[0])
		e.referrersAPI = &api
	}
	if *e.referrersAPI {
		return nil
	}
	for _, s := range subjects {
		if err := referrers.UpdateFallbackTag(ctx, e.dst, s, bySubject[s]); err != nil {
			return fmt.Errorf("list %d referrers of %s in its tag %s: %w", len(bySubject[s]), wording.ID(s), referrers.FallbackTag(s), err)
		}
		e.opts.Debugf("referrers of %s listed in %s: %d", s, referrers.FallbackTag(s), len(bySubject[s]))
	}
	return nil
}
