package batch

import (
	"context"
	"fmt"
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/check"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// checkOne checks one image instead of copying it.
func (r *runner) checkOne(ctx context.Context, im Image) {
	src, dst, err := r.readStores(ctx, im)
	var res *check.Result
	if err == nil {
		res, err = check.Image(ctx, check.Request{Src: src, Dst: dst, Source: im.Source, Destination: im.Destination, Platforms: im.Platforms})
	}
	// Bad input is the image's or the places'; a signature that cannot be
	// read is not.
	usage := errdefs.Is(err, errdefs.InvalidArgument)
	if err == nil {
		err = r.checkSignature(ctx, dst, im, res)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		r.end(Ended{Image: im, Outcome: outcome.NotDone, Reason: r.stopReason(ctx)}, false, false)
	case err != nil:
		r.end(Ended{Image: im, Outcome: outcome.Failed, Reason: errdefs.Message(err), Err: err}, usage, false)
	default:
		r.end(Ended{Image: im, Outcome: res.Status, Check: res, Reason: strings.Join(res.Problems, "\n")}, false, false)
	}
}

// checkSignature, with keys to verify, says in res whether the destination
// carries a signature by one of them.
func (r *runner) checkSignature(ctx context.Context, dst store.Store, im Image, res *check.Result) error {
	keys := r.keys(im)
	if len(keys) == 0 || res.DestinationDigest == "" {
		return nil
	}
	v, err := r.verifyDestination(ctx, dst, im, res, keys)
	if err != nil {
		return err
	}
	res.Signature = v
	if !v.Signed {
		res.Problems = append(res.Problems, fmt.Sprintf("%s is %s", im.Destination.Name(), v))
		if res.Status.Arrived() {
			res.Status = outcome.NotSigned
		}
	}
	return nil
}

// verifyDestination checks --check --verify-key: whether the destination
// carries a signature by one of keys over the digest it serves.
func (r *runner) verifyDestination(ctx context.Context, dst store.Store, im Image, res *check.Result, keys verify.Keys) (*verify.Verdict, error) {
	d, err := v1.NewHash(res.DestinationDigest)
	if err != nil {
		return nil, err
	}
	v, err := verify.Image(ctx, verify.Request{Store: dst, Digest: d, Repository: im.Destination.Context().Name(), Keys: keys, Referrers: migrate.FindReferrers})
	if err != nil {
		return nil, fmt.Errorf("verify the signature of %s: %w", im.Destination.Name(), err)
	}
	return v, nil
}

// readStores opens the image's two places for reading.
func (r *runner) readStores(ctx context.Context, im Image) (src, dst store.Store, err error) {
	src, dst = im.SourceStore, im.DestinationStore
	if src == nil {
		if src, err = r.o.Copy.Registry.Repository(ctx, im.Source.Context(), registry.PullSource); err != nil {
			return nil, nil, err
		}
	}
	if dst == nil {
		if dst, err = r.o.Copy.Registry.Repository(ctx, im.Destination.Context(), registry.Pull); err != nil {
			return nil, nil, err
		}
	}
	return src, dst, nil
}
