package migrate

import (
	"context"
	"fmt"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/docker-migrate/docker-migrate/internal/wording"
)

// NotSignedError is an image that --verify-key kept from being copied: it
// carries no signature by any of the keys over the digest being copied.
type NotSignedError struct {
	Verdict *verify.Verdict
}

func (e *NotSignedError) Error() string { return e.Verdict.String() }

// IsNotSigned reports an image refused for want of a signature.
func IsNotSigned(err error) bool {
	for err != nil {
		if _, ok := err.(*NotSignedError); ok {
			return true
		}
		if e, ok := err.(*errdefs.Error); ok {
			err = e.Err
			continue
		}
		return false
	}
	return false
}

// verifySource checks, before anything is written, that the source's digest
// (what the plan copies, read once: the tag cannot move under the copy)
// carries a signature by one of o.VerifyKeys. An image without one is the
// error, a NotSignedError; res gets the verdict either way.
func (o Options) verifySource(ctx context.Context, src store.Store, p *plan.Plan, res *Result) error {
	v, err := verify.Image(ctx, verify.Request{
		Store:      src,
		Digest:     p.SourceDigest,
		Repository: o.Source.Context().Name(),
		Keys:       o.VerifyKeys,
		Referrers:  FindReferrers,
	})
	if err != nil {
		return fmt.Errorf("verify the signature of %s: %w", wording.Reference(o.Source), err)
	}
	res.Signature = v
	if !v.Signed {
		would := "was not copied"
		if o.DryRun {
			would = "would not be copied"
		}
		return errdefs.Wrap(&NotSignedError{Verdict: v}, errdefs.Rejected, "%s %s: it is %s", wording.Reference(o.Source), would, v)
	}
	o.Progress.Logf("verified: %s is %s", wording.Reference(o.Source), v)
	return nil
}

// noteUnsigned says, when the copy's digest is not the source's (--platform,
// --media-types, an engine or builder strategy), that the signature verified
// at the source does not hold at the destination.
func (o Options) noteUnsigned(res *Result) {
	if res.Signature == nil || !res.Signature.Signed || !res.DigestChanged {
		return
	}
	dst := res.DestinationDigest
	if dst == "" {
		dst = "a new one"
	}
	res.Signature.Note = fmt.Sprintf("the signature is over the source's digest %s; the destination's digest, %s, is not the signed one (%s): to keep the signature valid at the destination, copy the whole image with --referrers", res.Signature.Digest, dst, res.DigestNote)
	o.Progress.Logf("note: %s", res.Signature.Note)
}
