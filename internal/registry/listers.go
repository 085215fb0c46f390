package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Registries without a catalog for everyone list a namespace's repositories
// through their own APIs. Each lister here is built from the service's
// published API reference only (they cannot be reached from where this was
// written), and tested against small servers answering in that shape.

// hubAPI is Docker Hub's API (not the registry, registry-1.docker.io).
var hubAPI = "https://hub.docker.com"

// maxListPages bounds the pages a lister follows.
const maxListPages = 10000

// IsDockerHub reports the hosts that name Docker Hub's registry.
func IsDockerHub(host string) bool {
	return host == name.DefaultRegistry || host == "index.docker.io" || host == "registry-1.docker.io"
}

// HubRepositories lists the repositories of a Docker Hub namespace through
// the Hub API's "List repositories in a namespace" (GET
// /v2/namespaces/{namespace}/repositories, docs.docker.com/reference/api/hub):
// pages of {"count", "next", "results": [{"name", "namespace"}]}, following
// next. Anonymous: it lists the public repositories (the Hub API's own bearer
// tokens are not the registry's, and are not asked for here). fn gets
// repository paths ("bitnami/redis"), a page at a time.
func (c *Client) HubRepositories(ctx context.Context, namespace string, fn func(repos []string) error) error {
	next := fmt.Sprintf("%s/v2/namespaces/%s/repositories?page_size=100", hubAPI, url.PathEscape(namespace))
	what := "the repositories of Docker Hub namespace " + namespace
	for page := 0; next != ""; page++ {
		if page == maxListPages {
			return errdefs.New(errdefs.Rejected, "Docker Hub listed more than %d pages of %s; its next links may loop", maxListPages, what)
		}
		var body struct {
			Next    *string `json:"next"`
			Results []struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"results"`
		}
		if _, err := c.getJSON(ctx, next, nil, what, &body); err != nil {
			return err
		}
		repos := make([]string, 0, len(body.Results))
		for _, r := range body.Results {
			ns := r.Namespace
			if ns == "" {
				ns = namespace
			}
			if r.Name != "" {
				repos = append(repos, ns+"/"+r.Name)
			}
		}
		if err := fn(repos); err != nil {
			return err
		}
		next = ""
		if body.Next != nil && *body.Next != "" {
			next = *body.Next
		}
	}
	return nil
}

// HarborRepositories lists the repositories of a Harbor project through
// Harbor's API v2.0 "List repositories" (GET
// /api/v2.0/projects/{project_name}/repositories, api/v2.0/swagger.yaml):
// a JSON array of {"name": "project/repo", …} a page, page and page_size
// (at most 100) in the query, the next page in a Link header. It signs in
// with the credentials 'docker login HOST' saved, as Harbor's API takes
// them (basic auth). When the first page fails (a host that is not Harbor
// answers 404 there) ok is false and nothing was listed.
func (c *Client) HarborRepositories(ctx context.Context, host, project string, fn func(repos []string) error) (ok bool, err error) {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return false, err
	}
	var header http.Header
	if auth, err := c.keychain.Resolve(reg); err == nil {
		if cfg, err := authn.Authorization(ctx, auth); err == nil && cfg.Username != "" {
			header = http.Header{}
			req := &http.Request{Header: header}
			req.SetBasicAuth(cfg.Username, cfg.Password)
		}
	}
	scheme := "https"
	if IsLoopback(host) {
		scheme = "http"
	}
	next := fmt.Sprintf("%s://%s/api/v2.0/projects/%s/repositories?page=1&page_size=100", scheme, host, url.PathEscape(project))
	what := "the repositories of Harbor project " + project + " at " + host
	for page := 0; next != ""; page++ {
		if page == maxListPages {
			return true, errdefs.New(errdefs.Rejected, "%s listed more than %d pages of %s; its Link header may loop", host, maxListPages, what)
		}
		var repos []struct {
			Name string `json:"name"`
		}
		resp, err := c.getJSON(ctx, next, header, what, &repos)
		if err != nil && page == 0 {
			// Not Harbor (404), or Harbor refusing these credentials too: the
			// caller's sentence about the refused catalog stands.
			c.logf("list %s: %v", what, err)
			return false, nil
		}
		if err != nil {
			return true, err
		}
		names := make([]string, 0, len(repos))
		for _, r := range repos {
			if r.Name != "" {
				names = append(names, r.Name)
			}
		}
		if err := fn(names); err != nil {
			return true, err
		}
		next = ""
		if link := nextLink(resp.Header.Get("Link")); link != "" && len(repos) > 0 {
			ref, err := resp.Request.URL.Parse(link)
			if err != nil {
				return true, errdefs.Wrap(err, errdefs.Rejected, "%s sent a bad Link header for %s", host, what)
			}
			next = ref.String()
		}
	}
	return true, nil
}

// getJSON GETs u through the host's transport (its TLS settings, the
// plain-HTTP policy) and decodes the JSON answer into v. The response is
// returned closed, for its headers.
func (c *Client) getJSON(ctx context.Context, u string, header http.Header, what string, v any) (*http.Response, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.Rejected, "list %s: bad URL %q", what, u)
	}
	rt, err := c.transports.forHost(parsed.Host)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, unreachable(err, parsed.Host)
	}
	defer drain(resp)
	if err := checkResponse(resp, parsed.Host, "list "+what, http.StatusOK); err != nil {
		return resp, err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(v); err != nil {
		return resp, errdefs.Wrap(err, errdefs.Rejected, "%s answered the listing of %s with something that is not its documented JSON", parsed.Host, strings.TrimPrefix(what, "the "))
	}
	return resp, nil
}
