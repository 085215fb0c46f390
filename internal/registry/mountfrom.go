package registry

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MountFrom asks the registry to mount blob d into this repository from
// another of its repositories, named by path: one an earlier run saw the blob
// in; its token asks for pull there too. A declined mount (the repository no
// longer holds the blob, or the token does not reach it) opens an upload
// session, which is cancelled here, and a refused one is no error: the caller
// uploads as it would have. So a stale record costs this one request.
func (r *Repository) MountFrom(ctx context.Context, d v1.Hash, repoPath string) (bool, error) {
	from, err := name.NewRepository(r.Host() + "/" + repoPath)
	if err != nil {
		return false, nil
	}
	// A registry with token auth mounts only for a token that also pulls
	// from there: a handle of its own (the client keeps it for the next blob).
	h := r
	if r.owner != nil && r.access == Push {
		if m, err := r.owner.Repository(ctx, r.Name, Push, from); err == nil {
			h = m
		}
	}
	mounted, loc, err := h.StartUpload(ctx, d, &from)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// A token refused for that repository, a registry that answers a
		// mount with an error: never worse than the upload it replaces.
		r.logf("mount of %s from %s: %v; uploading instead", d, from.Name(), err)
		return false, nil
	}
	if !mounted && loc != "" {
		h.CancelUpload(loc)
	}
	return mounted, nil
}
