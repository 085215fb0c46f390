package registry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxReferrerPages bounds the pages of one referrers list that are followed.
const maxReferrerPages = 100

// Referrers lists the manifests whose subject is d, through the OCI 1.1
// referrers API (GET /v2/NAME/referrers/DIGEST, following Link pages).
// supported is false when the registry has no such API: it answers 404, and
// the caller looks for the fallback tag (sha256-HEX) instead.
func (r *Repository) Referrers(ctx context.Context, d v1.Hash) (descs []v1.Descriptor, supported bool, err error) {
	next := r.base + "/referrers/" + d.String()
	for page := 0; next != ""; page++ {
		if page == maxReferrerPages {
			return nil, true, errdefs.New(errdefs.Rejected, "registry %s lists more than %d pages of referrers for %s@%s; its Link header may loop", r.Host(), maxReferrerPages, r.Name.Name(), d)
		}
		u := next
		resp, err := r.do(ctx, func() (*http.Request, error) {
			req, err := newRequest(http.MethodGet, u, nil)
			if err == nil {
				req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
			}
			return req, err
		})
		if err != nil {
			return nil, false, err
		}
		if resp.StatusCode == http.StatusNotFound && page == 0 {
			drain(resp)
			return nil, false, nil
		}
		if err := r.check(resp, http.StatusOK); err != nil {
			drain(resp)
			return nil, true, errdefs.Wrap(err, errdefs.KindOf(err), "registry %s answered the referrers API for %s@%s with %s", r.Host(), r.Name.Name(), wording.Digest(d), resp.Status)
		}
		var idx v1.IndexManifest
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(&idx)
		drain(resp)
		if err != nil {
			return nil, true, errdefs.Wrap(err, errdefs.Rejected, "registry %s sent a malformed referrers list for %s@%s (%v)", r.Host(), r.Name.Name(), wording.Digest(d), err)
		}
		for _, m := range idx.Manifests {
			if m.Digest.Hex == "" {
				return nil, true, errdefs.New(errdefs.Rejected, "registry %s sent a referrers list for %s@%s with an entry that has no digest", r.Host(), r.Name.Name(), wording.Digest(d))
			}
		}
		descs = append(descs, idx.Manifests...)
		next = ""
		if link := nextLink(resp.Header.Get("Link")); link != "" {
			ref, err := url.Parse(link)
			if err != nil {
				return nil, true, errdefs.Wrap(err, errdefs.Rejected, "registry %s sent a bad Link header for the referrers of %s", r.Host(), r.Name.Name())
			}
			next = resp.Request.URL.ResolveReference(ref).String()
		}
	}
	return descs, true, nil
}
