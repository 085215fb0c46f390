package registry

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MountFrom asks the registry to mount blob d into this repository from
// another of its repositories, named by path: one an earlier run saw the blob
// in. A declined mount (the repository no longer holds it, or the token does
// not reach it) opens an upload session, which is cancelled here: the caller
// uploads with a fresh one. So a stale record costs this one request.
func (r *Repository) MountFrom(ctx context.Context, d v1.Hash, repoPath string) (bool, error) {
	from, err := name.NewRepository(r.Host() + "/" + repoPath)
	if err != nil {
		return false, nil
	}
	mounted, loc, err := r.StartUpload(ctx, d, &from)
	if err != nil {
		return false, err
	}
	if !mounted && loc != "" {
		r.CancelUpload(loc)
	}
	return mounted, nil
}
