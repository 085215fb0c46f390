package registry

import (
	"context"
	"errors"
	"net/http"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrDeleteUnsupported marks a registry that does not delete manifests:
// distribution without `delete: enabled` (405 UNSUPPORTED), or a registry that
// answers 405 to DELETE at all.
var ErrDeleteUnsupported = errors.New("the registry does not delete manifests")

// Deleter returns a handle on repo that may delete manifests: its token asks
// for pull, push and delete (distribution's token auth names the delete
// action; Harbor grants it to a project's maintainers).
func (c *Client) Deleter(repo name.Repository) (*Repository, error) {
	scope := "repository:" + repo.RepositoryStr() + ":pull,push,delete"
	return c.open(repo, Push, []string{scope}, "delete in "+repo.Name())
}

// DeleteManifest deletes the manifest d from the repository. A registry
// removes every tag on d with it: the caller makes sure none of them is one
// to keep. A manifest already gone is not an error.
func (r *Repository) DeleteManifest(ctx context.Context, d v1.Hash) error {
	resp, err := r.do(ctx, func() (*http.Request, error) {
		req, err := newRequest(http.MethodDelete, r.manifestURL(d.String()), nil)
		if err == nil {
			req.Header.Set("Accept", "*/*")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	defer drain(resp)
	err = checkResponse(resp, r.Host(), "delete "+r.Name.Name()+"@"+d.String(), http.StatusAccepted, http.StatusOK, http.StatusNoContent)
	if err == nil || errdefs.Is(err, errdefs.NotFound) {
		return nil
	}
	if te, ok := errors.AsType[*transport.Error](err); ok && (te.StatusCode == http.StatusMethodNotAllowed || hasCode(te, transport.UnsupportedErrorCode)) {
		return errdefs.Wrap(errors.Join(ErrDeleteUnsupported, err), errdefs.Rejected, "%s does not delete manifests (it answered %d %s)", r.Host(), te.StatusCode, http.StatusText(te.StatusCode))
	}
	return err
}
