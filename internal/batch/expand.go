package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Registry entries (-r, type: registry) are a source of entries: each
// repository the registry lists under the namespace, and that its repos
// selection keeps, becomes a repository entry, whose tags are then listed and
// selected as a type: repository entry's are.

// expandRegistries replaces each registry entry by one repository entry per
// repository it selects, in the order the catalog lists them. The catalog is
// read a page at a time; what is kept is one small entry per repository.
func expandRegistries(ctx context.Context, req Request, entries []imagelist.Entry) ([]imagelist.Entry, error) {
	var out []imagelist.Entry
	for _, e := range entries {
		if !e.Registry {
			out = append(out, e)
			continue
		}
		src, err := imagelist.ParseRegistrySource(e.Source)
		if err != nil {
			return nil, usage(e, "%v", err)
		}
		before := len(out)
		take := func(repos []string) error {
			for _, path := range repos {
				if !src.Holds(path) || !e.Repos.Selects(path) {
					continue
				}
				repo := e
				repo.Registry, repo.Repository = false, true
				repo.Source = src.Host + "/" + path
				if e.Target != "" {
					repo.Target = strings.TrimSuffix(e.Target, "/") + "/" + path
				}
				out = append(out, repo)
			}
			return nil
		}
		if err := listRepositories(ctx, req.Registry, src, take); err != nil {
			if ce, ok := errors.AsType[*registry.CatalogError](err); ok {
				return nil, errdefs.Wrap(ce, errdefs.Denied, "%s (%s): %v: name its repositories in a list (-f LIST, one per line with -a's tags as SRC:TAG) or in a sync file as type: repository entries, or copy each with -a REPOSITORY", src, origin(e), ce)
			}
			return nil, err
		}
		if len(out) == before && req.Warnf != nil {
			what := "it lists no repository"
			if src.Namespace != "" {
				what = "it lists no repository under " + src.Namespace + "/"
			}
			if !e.Repos.Empty() {
				what += " that " + e.Repos.String() + " selects"
			}
			req.Warnf("warning: %s (%s): %s", src, origin(e), what)
		}
	}
	return out, nil
}

// listRepositories lists the repositories under src, a page at a time:
// Docker Hub's namespaces through the Hub API (the Hub has no catalog), any
// other registry through its catalog, and a Harbor project through Harbor's
// API when the catalog is refused (Harbor answers it only to system
// administrators).
func listRepositories(ctx context.Context, reg *registry.Client, src imagelist.RegistrySource, fn func([]string) error) error {
	if registry.IsDockerHub(src.Host) {
		if src.Namespace == "" {
			return errdefs.New(errdefs.InvalidArgument, "Docker Hub does not list all its repositories: name a namespace, e.g. -r docker.io/bitnami")
		}
		ns, _, _ := strings.Cut(src.Namespace, "/")
		return reg.HubRepositories(ctx, ns, fn)
	}
	err := reg.Catalog(ctx, src.Host, fn)
	ce, refused := errors.AsType[*registry.CatalogError](err)
	if !refused || src.Namespace == "" || (ce.Status != http.StatusUnauthorized && ce.Status != http.StatusForbidden) {
		return err
	}
	project, _, _ := strings.Cut(src.Namespace, "/")
	if ok, herr := reg.HarborRepositories(ctx, src.Host, project, fn); ok {
		return herr
	}
	return err
}

// selectTags applies an entry's tag selection to a repository's tags: the
// filter, then the N newest when the entry asks for the latest N.
func selectTags(ctx context.Context, repo *registry.Repository, e imagelist.Entry, all []string) ([]string, error) {
	tags := e.Tags.Select(all)
	n := e.Tags.Latest()
	if n == 0 || len(tags) <= n {
		return tags, nil
	}
	if newest, ok := imagelist.NewestBySemver(tags, n); ok {
		return newest, nil
	}
	return newestByCreated(ctx, repo, tags, n)
}

// newestByCreated returns the n tags whose images were created last, by the
// config's created time (of an index's first platform). A tie, or a time that
// cannot be read (sorted as oldest), keeps the listing's order.
func newestByCreated(ctx context.Context, repo *registry.Repository, tags []string, n int) ([]string, error) {
	created := make([]time.Time, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, tag := range tags {
		g.Go(func() error {
			t, err := createdOf(gctx, repo, tag)
			if err != nil && !errdefs.Is(err, errdefs.NotFound) {
				return err
			}
			created[i] = t
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	order := make([]int, len(tags))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return created[b].Compare(created[a]) })
	newest := make([]string, 0, n)
	for _, i := range order[:n] {
		newest = append(newest, tags[i])
	}
	return newest, nil
}

// createdOf reads the created time of the image a tag names.
func createdOf(ctx context.Context, repo *registry.Repository, ref string) (time.Time, error) {
	body, desc, err := repo.GetManifest(ctx, ref)
	if err != nil {
		return time.Time{}, err
	}
	if desc.MediaType.IsIndex() {
		index, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil || len(index.Manifests) == 0 {
			return time.Time{}, nil
		}
		if body, _, err = repo.GetManifest(ctx, index.Manifests[0].Digest.String()); err != nil {
			return time.Time{}, err
		}
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return time.Time{}, nil
	}
	rc, err := repo.GetBlob(ctx, m.Config.Digest)
	if err != nil {
		return time.Time{}, err
	}
	defer rc.Close()
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if err := json.NewDecoder(io.LimitReader(rc, 4<<20)).Decode(&cfg); err != nil {
		return time.Time{}, nil
	}
	return cfg.Created, nil
}

// Selection is what an -a, -r or repository entry selected in one
// repository, for --prune: the destination repository it writes and the tags
// it keeps there.
type Selection struct {
	Entry       imagelist.Entry
	Source      name.Repository
	Destination name.Repository
	// Tags are the tags selected at the source, which the destination keeps.
	Tags []string
	// Archive is set when the destination is an archive (no pruning there).
	Archive bool
}
