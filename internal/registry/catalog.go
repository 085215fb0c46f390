package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// CatalogPageSize is the n sent with each catalog request: a page the
// registry may shorten, and the most names held at once while listing.
const CatalogPageSize = 1000

// maxCatalogPages bounds the pages followed, so that a Link header that loops
// cannot keep a listing going for ever (10 million repositories at 1,000 a page).
const maxCatalogPages = 10000

// CatalogError is a registry that does not list its repositories: it refused
// /v2/_catalog (Harbor answers it only to system administrators) or has none
// (Docker Hub, GHCR answer 404). The caller says what to do instead.
type CatalogError struct {
	Host   string
	Status int
	Err    error
}

func (e *CatalogError) Error() string {
	return fmt.Sprintf("%s does not list its repositories (GET /v2/_catalog answered %d %s)", e.Host, e.Status, http.StatusText(e.Status))
}
func (e *CatalogError) Unwrap() error { return e.Err }

// Catalog lists the repositories of the registry host through /v2/_catalog,
// one page at a time: fn gets each page's names, so that memory holds one page
// however large the registry is. It sends n and follows the Link header, as
// the distribution API pages. A registry that refuses or lacks the catalog
// is a *CatalogError.
func (c *Client) Catalog(ctx context.Context, host string, fn func(repos []string) error) error {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%q is not a registry host: %v", host, err)
	}
	// The handle is on no repository: its token asks for the catalog scope.
	r, err := c.open(reg.Repo("_catalog"), Pull, []string{"registry:catalog:*"}, "list the repositories of "+host)
	if err != nil {
		return err
	}
	next := fmt.Sprintf("https://%s/v2/_catalog?n=%d", host, CatalogPageSize)
	for page := 0; next != ""; page++ {
		if page == maxCatalogPages {
			return errdefs.New(errdefs.Rejected, "%s lists more than %d pages of repositories; its Link header may loop", host, maxCatalogPages)
		}
		u := next
		resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodGet, u, nil) })
		if err != nil {
			return err
		}
		if err := checkResponse(resp, host, "list the repositories of "+host, http.StatusOK); err != nil {
			drain(resp)
			if te, ok := errors.AsType[*transport.Error](err); ok {
				switch te.StatusCode {
				case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
					return &CatalogError{Host: host, Status: te.StatusCode, Err: err}
				}
			}
			return err
		}
		var list struct {
			Repositories []string `json:"repositories"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(&list)
		drain(resp)
		if err != nil {
			return errdefs.Wrap(err, errdefs.Rejected, "%s answered /v2/_catalog with something that is not a repository list", host)
		}
		if err := fn(list.Repositories); err != nil {
			return err
		}
		next = ""
		if link := nextLink(resp.Header.Get("Link")); link != "" {
			ref, err := resp.Request.URL.Parse(link)
			if err != nil {
				return errdefs.Wrap(err, errdefs.Rejected, "%s sent a bad Link header for its catalog", host)
			}
			next = ref.String()
		}
	}
	return nil
}
