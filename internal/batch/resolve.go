package batch

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/distribution/reference"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Request is what the user named: SRC arguments and list entries, and DST.
type Request struct {
	Entries     []imagelist.Entry
	Destination string
	// ReadOnly opens an archive DST for reading (--dry-run, --check): such a
	// run writes nothing, not even a temporary directory.
	ReadOnly bool
	// Exact makes DST the whole destination reference of the one image named
	// (taking the source's tag when it has none), as a one-image copy has it.
	Exact bool
	// Platforms is the run's --platform, for entries that name none.
	Platforms []v1.Platform
	Registry  *registry.Client
	// OpenArchive opens an archive location, for reading or for writing.
	OpenArchive func(ctx context.Context, loc location.Location, write bool) (store.Archive, error)
	// OpenArchives opens several archive SRCs as one, grouping their images by
	// name (k3s's per-architecture airgap archives). Nil opens each alone.
	OpenArchives func(ctx context.Context, locs []location.Location) (store.Archive, error)
	Warnf        func(format string, args ...any)
}

// Resolved is the batch: its images, and the archives opened for it, which the
// caller commits (a written archive, when every image arrived) and closes.
type Resolved struct {
	Images []Image
	// Target is the archive DST names, or nil for a registry prefix.
	Target store.Archive
	// Opened are every archive opened, Target included.
	Opened []store.Archive
}

// Close closes every archive opened; a target not committed is removed.
func (r Resolved) Close() {
	for _, a := range r.Opened {
		_ = a.Close()
	}
}

// destination is where a batch's images go: a registry prefix or an archive.
type destination struct {
	archive store.Archive
	loc     location.Location
	// host and path are the registry prefix: host alone for a registry's root.
	host, path string
	// exact is the whole destination of a one-image copy.
	exact string
}

// Resolve turns the request into images: lists tags of repository entries,
// opens archives, maps every source to its destination, and refuses two
// sources that would write one destination tag.
func Resolve(ctx context.Context, req Request) (res Resolved, err error) {
	defer func() {
		if err != nil {
			res.Close()
		}
	}()
	dst, err := parseDestination(req.Destination, req.Exact)
	if err != nil {
		return res, err
	}
	if dst.loc.IsArchive() {
		switch _, statErr := os.Stat(dst.loc.Path); {
		case req.ReadOnly && os.IsNotExist(statErr):
			dst.archive = absentArchive{dst.loc}
		default:
			if dst.archive, err = req.OpenArchive(ctx, dst.loc, !req.ReadOnly); err != nil {
				return res, err
			}
		}
		res.Target = dst.archive
		res.Opened = append(res.Opened, dst.archive)
	}

	var archiveLocs []location.Location
	var archiveEntries []imagelist.Entry
	type repoEntry struct {
		entry imagelist.Entry
		repo  name.Repository
		tags  []string
	}
	var repos []*repoEntry
	for _, e := range req.Entries {
		loc, err := location.Parse(e.Source)
		if err != nil {
			return res, usage(e, "%v", err)
		}
		switch {
		case loc.IsArchive():
			archiveLocs = append(archiveLocs, loc)
			archiveEntries = append(archiveEntries, e)
		case e.Repository:
			repo, err := name.NewRepository(normalizeName(e.Source))
			if err != nil {
				return res, usage(e, "%q is not a repository name: %v", e.Source, err)
			}
			repos = append(repos, &repoEntry{entry: e, repo: repo})
		default:
			src, err := parseSource(e.Source)
			if err != nil {
				return res, usage(e, "%v", err)
			}
			im, err := dst.image(e, src, nil, req.Platforms)
			if err != nil {
				return res, err
			}
			res.Images = append(res.Images, im)
		}
	}

	// Tag listings are small requests: a few at once.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, r := range repos {
		g.Go(func() error {
			repo, err := req.Registry.Repository(gctx, r.repo, registry.Pull)
			if err != nil {
				return err
			}
			all, err := repo.ListTags(gctx)
			if err != nil {
				return fmt.Errorf("list the tags of %s (%s): %w", r.repo.Name(), origin(r.entry), err)
			}
			r.tags = r.entry.Tags.Select(all)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	for _, r := range repos {
		if len(r.tags) == 0 && req.Warnf != nil {
			req.Warnf("warning: %s (%s): tag selection %s matched none of its tags", r.repo.Name(), origin(r.entry), r.entry.Tags)
		}
		for _, tag := range r.tags {
			im, err := dst.image(r.entry, r.repo.Tag(tag), nil, req.Platforms)
			if err != nil {
				return res, err
			}
			res.Images = append(res.Images, im)
		}
	}

	if len(archiveLocs) > 0 {
		var sources []store.Archive
		if len(archiveLocs) > 1 && req.OpenArchives != nil {
			a, err := req.OpenArchives(ctx, archiveLocs)
			if err != nil {
				return res, err
			}
			res.Opened = append(res.Opened, a)
			sources = []store.Archive{a}
			archiveEntries = archiveEntries[:1]
		} else {
			for _, loc := range archiveLocs {
				a, err := req.OpenArchive(ctx, loc, false)
				if err != nil {
					return res, err
				}
				res.Opened = append(res.Opened, a)
				sources = append(sources, a)
			}
		}
		for i, a := range sources {
			names, err := a.Images(ctx)
			if err != nil {
				return res, err
			}
			if len(names) == 0 && req.Warnf != nil {
				req.Warnf("warning: %s holds no images", a)
			}
			e := archiveEntries[min(i, len(archiveEntries)-1)]
			for _, n := range names {
				im, err := dst.image(e, n, a.Repository(n.Context()), req.Platforms)
				if err != nil {
					return res, err
				}
				im.Origin = a.String()
				res.Images = append(res.Images, im)
			}
		}
	}
	res.Images, err = dedupe(res.Images)
	return res, err
}

// CheckSinglePlatform refuses, before anything is written, an image bound
// for a docker-save archive (one platform per image) whose source has
// several platforms and no --platform picking one: the copy would find out
// only once the batch had started. It reads each such source's manifest;
// one it cannot read is left for the copy to report.
func CheckSinglePlatform(ctx context.Context, images []Image, target store.Archive, reg *registry.Client) error {
	for _, im := range images {
		switch {
		case !im.SinglePlatform || len(im.Platforms) == 1:
			continue
		case len(im.Platforms) > 1:
			return errdefs.New(errdefs.InvalidArgument, "%s holds one platform per image: give one --platform, e.g. --platform %s", target, platforms.Format(im.Platforms[0]))
		}
		src := im.SourceStore
		if src == nil {
			repo, err := reg.Repository(ctx, im.Source.Context(), registry.PullSource)
			if err != nil {
				continue
			}
			src = repo
		}
		body, desc, err := src.GetManifest(ctx, im.Source.Identifier())
		if err != nil || !desc.MediaType.IsIndex() {
			continue
		}
		index, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			continue
		}
		var have []string
		for _, m := range index.Manifests {
			if m.Platform != nil && !platforms.IsUnknown(m.Platform) {
				have = append(have, platforms.Format(*m.Platform))
			}
		}
		if len(have) > 1 {
			return errdefs.New(errdefs.InvalidArgument, "%s holds one platform per image, and %s%s has %d (%s): pick one with --platform, e.g. --platform %s",
				target, im.Label(), im.from(), len(have), strings.Join(have, ", "), have[0])
		}
	}
	return nil
}

// parseDestination reads DST as a place: an archive, or a registry prefix
// ("harbor.lan/mirror", or a registry's root: "localhost:5000").
func parseDestination(s string, exact bool) (destination, error) {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid DST %q: it holds a control character (a newline or tab pasted in?); give a registry prefix such as harbor.lan/mirror", s)
	}
	loc, err := location.Parse(s)
	if err != nil {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid DST: %v", err)
	}
	if loc.IsArchive() {
		return destination{loc: loc}, nil
	}
	if exact {
		named, err := location.ParseReference(s)
		if err != nil {
			return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid reference for DST: %v", err)
		}
		if _, ok := named.(reference.Digested); ok {
			return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid reference %q for DST: give a tag, not a digest; the digest is the source's", s)
		}
		return destination{loc: loc, exact: named.String()}, nil
	}
	if location.IsRegistryHost(s) {
		if err := location.CheckHost(s); err != nil {
			return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid DST %q: it has %v", s, err)
		}
		if _, err := name.NewRegistry(s); err != nil {
			return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid DST %q: %v; give a registry (harbor.lan, localhost:5000) or a prefix such as harbor.lan/mirror", s, err)
		}
		return destination{loc: loc, host: s}, nil
	}
	named, err := location.ParseReference(s)
	if err != nil {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid DST: %v; give a registry prefix such as harbor.lan/mirror", err)
	}
	if _, ok := named.(reference.Tagged); ok {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "DST %q is a full tag, but several images go there: give a registry prefix such as %s, under which each image keeps its repository path", s, reference.TrimNamed(named).String())
	}
	if _, ok := named.(reference.Digested); ok {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "DST %q names a digest, but several images go there: give a registry prefix such as %s", s, reference.TrimNamed(named).String())
	}
	return destination{loc: loc, host: reference.Domain(named), path: reference.Path(named)}, nil
}

// image maps one source to its destination.
func (d destination) image(e imagelist.Entry, src name.Reference, srcStore store.Store, runPlatforms []v1.Platform) (Image, error) {
	plats := runPlatforms
	if len(e.Platforms) > 0 {
		p, err := platforms.ParseList(e.Platforms)
		if err != nil {
			return Image{}, usage(e, "%v", err)
		}
		plats = p
	}
	target := d.target(e, src)
	dstNamed, err := location.ParseReference(target)
	if err != nil {
		return Image{}, usage(e, "destination for %s: %v", src.Name(), err)
	}
	if _, ok := dstNamed.(reference.Digested); ok {
		return Image{}, usage(e, "target %q names a digest: give a tag; the digest is the source's", e.Target)
	}
	ref := dstNamed.String()
	if _, ok := dstNamed.(reference.Tagged); !ok {
		switch s := src.(type) {
		case name.Tag:
			ref += ":" + s.TagStr()
		case name.Digest:
			if d.loc.IsArchive() {
				return Image{}, usage(e, "%s is pinned by digest only, and an archive names each image by a tag: give one (SRC NAME:TAG on a list line)", src.Name())
			}
			if len(plats) > 0 {
				return Image{}, usage(e, "%s is pinned by digest only, and with --platform its digest changes: give a destination tag (SRC DST:TAG)", src.Name())
			}
			ref += "@" + s.DigestStr()
		}
	}
	dstRef, err := name.ParseReference(ref)
	if err != nil {
		return Image{}, usage(e, "destination %q for %s is not valid: %v", ref, src.Name(), err)
	}
	im := Image{Source: src, Destination: dstRef, SourceStore: srcStore, Platforms: plats, Origin: origin(e), ListLine: e.Source}
	switch {
	case e.Repository:
		im.ListLine = src.Name()
	case e.Target != "":
		im.ListLine += " " + e.Target
	}
	if d.archive != nil {
		im.DestinationStore = d.archive.Repository(dstRef.Context())
		if t, ok := dstRef.(name.Tag); ok && e.Target != "" && d.exact == "" && !hasHost(e.Target) {
			// A name given without a registry is stored as given, and is
			// what ctr and k3s import; stdout says it too.
			if a, ok := d.archive.(interface {
				RepositoryAs(name.Repository, string) store.Store
			}); ok {
				given := reference.FamiliarName(dstNamed)
				im.DestinationStore = a.RepositoryAs(dstRef.Context(), given)
				im.DestinationName = given + ":" + t.TagStr()
			}
		}
		im.SinglePlatform = d.loc.Transport == location.DockerArchive
	}
	return im, nil
}

// target names the destination, before the source's tag is added. Into an
// archive an image keeps its full name; under a registry prefix, its
// repository path. A list line's target with a registry host is taken as it
// is; without one it is a path under the prefix.
func (d destination) target(e imagelist.Entry, src name.Reference) string {
	switch {
	case d.exact != "":
		return d.exact
	case e.Target == "" && d.loc.IsArchive():
		return src.Context().Name()
	case e.Target == "":
		return d.under(src.Context().RepositoryStr())
	case d.loc.IsArchive() || hasHost(e.Target):
		return e.Target
	}
	return d.under(e.Target)
}

// hasHost reports a name whose first component is a registry host.
func hasHost(s string) bool {
	first, _, ok := strings.Cut(s, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// under puts a repository path under the registry prefix.
func (d destination) under(repoPath string) string {
	if d.path == "" {
		return d.host + "/" + repoPath
	}
	return d.host + "/" + d.path + "/" + repoPath
}

// dedupe drops an image named twice, and refuses two sources that would write
// the same destination tag.
func dedupe(images []Image) ([]Image, error) {
	seen := map[string]Image{}
	var out []Image
	for _, im := range images {
		key := im.Destination.Name()
		if prev, ok := seen[key]; ok {
			if prev.Source.Name() == im.Source.Name() {
				continue
			}
			return nil, errdefs.New(errdefs.InvalidArgument, "%s%s and %s%s would both write %s: rename one with a target (SRC DST on a list line)",
				prev.Source.Name(), prev.from(), im.Source.Name(), im.from(), familiar(im.Destination))
		}
		seen[key] = im
		out = append(out, im)
	}
	return out, nil
}

// Shard keeps the images of shard i of n (1-based): a stable, disjoint share
// chosen by a hash of each source, so that editing a list moves few images
// between shards, and the n shards together cover the list exactly.
func Shard(images []Image, i, n int) []Image {
	if n <= 1 {
		return images
	}
	var out []Image
	for _, im := range images {
		h := fnv.New64a()
		h.Write([]byte(im.Source.Name()))
		if int(h.Sum64()%uint64(n)) == i-1 {
			out = append(out, im)
		}
	}
	return out
}

// parseSource applies docker's normalisation: "nginx" is
// docker.io/library/nginx:latest; a digest-pinned source is read by digest.
func parseSource(s string) (name.Reference, error) {
	if location.NamesRegistry(s) {
		return nil, fmt.Errorf("%q names a registry, not an image: give a repository and tag, e.g. %s/library/nginx:1.27", s, s)
	}
	named, err := location.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("invalid reference: %v", err)
	}
	named = reference.TagNameOnly(named)
	text := named.String()
	if d, ok := named.(reference.Digested); ok {
		text = reference.TrimNamed(named).String() + "@" + d.Digest().String()
	}
	return name.ParseReference(text)
}

// normalizeName applies docker's normalisation to a repository name.
func normalizeName(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return named.String()
}

func origin(e imagelist.Entry) string {
	if e.File == "" {
		return originArgument
	}
	return fmt.Sprintf("%s line %d", e.File, e.Line)
}

func usage(e imagelist.Entry, format string, args ...any) error {
	return errdefs.New(errdefs.InvalidArgument, "%s: %s", origin(e), fmt.Sprintf(format, args...))
}

// absentArchive is an archive DST that does not exist yet, seen by a run that
// only reads: it holds nothing.
type absentArchive struct{ loc location.Location }

func (a absentArchive) String() string                                   { return a.loc.Text }
func (a absentArchive) Images(context.Context) ([]name.Reference, error) { return nil, nil }
func (a absentArchive) Repository(name.Repository) store.Store           { return absentStore(a) }
func (a absentArchive) Commit(context.Context) error                     { return nil }
func (a absentArchive) Close() error                                     { return nil }

type absentStore absentArchive

func (a absentStore) String() string { return a.loc.Text }
func (a absentStore) notFound() error {
	return errdefs.New(errdefs.NotFound, "%s does not exist yet", a.loc.Path)
}
func (a absentStore) HeadManifest(context.Context, string) (v1.Descriptor, error) {
	return v1.Descriptor{}, a.notFound()
}
func (a absentStore) GetManifest(context.Context, string) ([]byte, v1.Descriptor, error) {
	return nil, v1.Descriptor{}, a.notFound()
}
func (a absentStore) PutManifest(context.Context, string, types.MediaType, []byte) error {
	return errdefs.New(errdefs.InvalidArgument, "%s is opened only to read", a.loc)
}
func (a absentStore) BlobExists(context.Context, v1.Hash) (bool, error) { return false, nil }
func (a absentStore) GetBlob(context.Context, v1.Hash) (io.ReadCloser, error) {
	return nil, a.notFound()
}
func (a absentStore) PutBlob(context.Context, v1.Hash, int64, io.Reader) error {
	return errdefs.New(errdefs.InvalidArgument, "%s is opened only to read", a.loc)
}
