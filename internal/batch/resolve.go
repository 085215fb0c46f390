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
	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/docker-migrate/docker-migrate/internal/wording"
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
	// OpenEngine opens a docker-daemon location: as a SRC (target false), or
	// as the DST (target true; readOnly as ReadOnly says).
	OpenEngine func(ctx context.Context, loc location.Location, target, readOnly bool) (store.Archive, error)
	Warnf      func(format string, args ...any)
	// LoadKey reads an entry's verify: key; nil refuses entries that name keys.
	LoadKey func(path string) (*verify.Key, error)
}

// Resolved is the batch: its images, and the archives opened for it, which the
// caller commits (a written archive, when every image arrived) and closes.
type Resolved struct {
	Images []Image
	// Target is the archive DST names, or nil for a registry prefix.
	Target store.Archive
	// Opened are every archive opened, Target included.
	Opened []store.Archive
	// Selections are the repositories whose tags were listed and selected
	// (-a, -r, repository and registry entries), for --prune.
	Selections []Selection
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
	// loadKey reads an entry's verify: keys (Request.LoadKey).
	loadKey func(path string) (*verify.Key, error)
}

// Resolve turns the request into images: lists tags of repository entries,
// opens archives, maps every source to its destination, and refuses two
// sources that would write one destination tag.
func Resolve(ctx context.Context, req Request) (res Resolved, err error) {
	r := &resolver{req: req}
	defer func() {
		if err != nil {
			r.res.Close()
		}
	}()
	// One archive SRC and a DST with a tag: the archive's one image goes
	// there, as a registry image would; told once the archive is open.
	r.oneArchive = !req.Exact && oneArchiveSource(req.Entries) && isTagged(req.Destination)
	if !req.Exact && !r.oneArchive && isTagged(req.Destination) {
		if names := sourceNames(req.Entries); len(names) > 1 {
			return r.res, severalImages(req.Destination, fmt.Sprintf("%d images go there", len(names)), names)
		}
	}
	if err := r.openDestination(ctx); err != nil {
		return r.res, err
	}
	entries, err := expandRegistries(ctx, req, req.Entries)
	if err != nil {
		return r.res, err
	}
	for _, e := range entries {
		if err := r.add(ctx, e); err != nil {
			return r.res, err
		}
	}
	if err := r.listTags(ctx); err != nil {
		return r.res, err
	}
	if err := r.addRepositories(); err != nil {
		return r.res, err
	}
	if err := r.addArchives(ctx); err != nil {
		return r.res, err
	}
	r.res.Images, err = dedupe(r.res.Images)
	if err == nil && r.dst.archive != nil {
		defaultPlatforms(ctx, r.res.Images, req.Registry)
	}
	return r.res, err
}

// resolver is one Resolve under way.
type resolver struct {
	req Request
	dst destination
	res Resolved
	// oneArchive is one archive SRC whose one image goes to a DST with a tag.
	oneArchive bool
	// archiveLocs are the archive SRCs, opened together once every entry is
	// known (several may be one multi-arch set); archiveEntries name them.
	archiveLocs    []location.Location
	archiveEntries []imagelist.Entry
	// repos are the repository entries, whose tags are listed together.
	repos []*repoEntry
}

// repoEntry is a repository entry and the tags its selection keeps.
type repoEntry struct {
	entry imagelist.Entry
	repo  name.Repository
	tags  []string
}

// openDestination reads DST and opens it when it is an archive or an engine:
// a run that only reads sees an archive not written yet as empty.
func (r *resolver) openDestination(ctx context.Context) error {
	req := r.req
	dst, err := parseDestination(req.Destination, req.Exact || r.oneArchive)
	if err != nil {
		return err
	}
	dst.loadKey = req.LoadKey
	switch {
	case dst.loc.IsArchive():
		if _, statErr := os.Stat(dst.loc.Path); req.ReadOnly && os.IsNotExist(statErr) {
			dst.archive = absentArchive{dst.loc}
		} else if dst.archive, err = req.OpenArchive(ctx, dst.loc, !req.ReadOnly); err != nil {
			return err
		}
	case dst.loc.IsEngine():
		if dst.archive, err = req.OpenEngine(ctx, dst.loc, true, req.ReadOnly); err != nil {
			return err
		}
	}
	if dst.archive != nil {
		r.res.Target = dst.archive
		r.res.Opened = append(r.res.Opened, dst.archive)
	}
	r.dst = dst
	return nil
}

// add takes one entry: an image, a repository whose tags are to be listed,
// an archive to open with the others, or an engine whose images it reads.
func (r *resolver) add(ctx context.Context, e imagelist.Entry) error {
	loc, err := location.Parse(e.Source)
	if err != nil {
		return usage(e, "%v", err)
	}
	switch {
	case loc.IsArchive():
		r.archiveLocs = append(r.archiveLocs, loc)
		r.archiveEntries = append(r.archiveEntries, e)
	case loc.IsEngine():
		a, err := r.req.OpenEngine(ctx, loc, false, true)
		if err != nil {
			return err
		}
		r.res.Opened = append(r.res.Opened, a)
		names, err := a.Images(ctx)
		if err != nil {
			return err
		}
		return r.addArchiveImages(e, a, names)
	case e.Repository:
		repo, err := name.NewRepository(normalizeName(e.Source))
		if err != nil {
			return usage(e, "%q is not a repository name: %v", e.Source, err)
		}
		r.repos = append(r.repos, &repoEntry{entry: e, repo: repo})
	default:
		src, err := parseSource(e.Source)
		if err != nil {
			return usage(e, "%v", err)
		}
		im, err := r.dst.image(e, src, nil, r.req.Platforms)
		if err != nil {
			return err
		}
		r.res.Images = append(r.res.Images, im)
	}
	return nil
}

// addArchiveImages adds the images names of a, an archive or an engine SRC.
func (r *resolver) addArchiveImages(e imagelist.Entry, a store.Archive, names []name.Reference) error {
	for _, n := range names {
		im, err := r.dst.image(e, n, a.Repository(n.Context()), r.req.Platforms)
		if err != nil {
			return err
		}
		im.Origin = a.String()
		r.res.Images = append(r.res.Images, im)
	}
	return nil
}

// listTags lists and selects the tags of every repository entry. Tag
// listings are small requests: a few at once.
func (r *resolver) listTags(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, re := range r.repos {
		g.Go(func() error {
			repo, err := r.req.Registry.Repository(gctx, re.repo, registry.Pull)
			if err != nil {
				return err
			}
			all, err := repo.ListTags(gctx)
			if err != nil {
				return fmt.Errorf("list the tags of %s (%s): %w", re.repo.Name(), origin(re.entry), err)
			}
			re.tags, err = selectTags(gctx, repo, re.entry, all)
			return err
		})
	}
	return g.Wait()
}

// addRepositories adds the selected tags of each repository entry, and the
// selection itself, for --prune.
func (r *resolver) addRepositories() error {
	for _, re := range r.repos {
		if len(re.tags) == 0 && r.req.Warnf != nil {
			r.req.Warnf("warning: %s (%s): tag selection %s matched none of its tags", re.repo.Name(), origin(re.entry), re.entry.Tags)
		}
		for _, tag := range re.tags {
			im, err := r.dst.image(re.entry, re.repo.Tag(tag), nil, r.req.Platforms)
			if err != nil {
				return err
			}
			r.res.Images = append(r.res.Images, im)
		}
		if sel, err := r.dst.image(re.entry, re.repo.Tag("latest"), nil, r.req.Platforms); err == nil {
			r.res.Selections = append(r.res.Selections, Selection{Entry: re.entry, Source: re.repo, Destination: sel.Destination.Context(), Tags: re.tags, Archive: r.dst.archive != nil})
		}
	}
	return nil
}

// addArchives opens the archive SRCs, several as one where the request can
// (k3s's per-architecture airgap archives), and adds their images.
func (r *resolver) addArchives(ctx context.Context) error {
	if len(r.archiveLocs) == 0 {
		return nil
	}
	var sources []store.Archive
	entries := r.archiveEntries
	if len(r.archiveLocs) > 1 && r.req.OpenArchives != nil {
		a, err := r.req.OpenArchives(ctx, r.archiveLocs)
		if err != nil {
			return err
		}
		r.res.Opened = append(r.res.Opened, a)
		sources, entries = []store.Archive{a}, entries[:1]
	} else {
		for _, loc := range r.archiveLocs {
			a, err := r.req.OpenArchive(ctx, loc, false)
			if err != nil {
				return err
			}
			r.res.Opened = append(r.res.Opened, a)
			sources = append(sources, a)
		}
	}
	for i, a := range sources {
		names, err := a.Images(ctx)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return errdefs.New(errdefs.InvalidArgument, "%s holds no image: there is nothing to copy", a)
		}
		if r.oneArchive && len(names) != 1 {
			return severalImages(r.req.Destination, fmt.Sprintf("%s holds %d images", a, len(names)), names)
		}
		if err := r.addArchiveImages(entries[min(i, len(entries)-1)], a, names); err != nil {
			return err
		}
	}
	return nil
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

// oneArchiveSource reports a run of one archive SRC argument.
func oneArchiveSource(entries []imagelist.Entry) bool {
	if len(entries) != 1 || entries[0].File != "" || entries[0].Target != "" {
		return false
	}
	loc, err := location.Parse(entries[0].Source)
	return err == nil && loc.IsArchive()
}

// isTagged reports a DST that names a registry image with a tag.
func isTagged(s string) bool {
	if loc, err := location.Parse(s); err != nil || loc.IsArchive() || location.IsRegistryHost(s) {
		return false
	}
	named, err := location.ParseReference(s)
	if err != nil {
		return false
	}
	_, ok := named.(reference.Tagged)
	return ok
}

// sourceNames are the images the registry entries name, as far as they are
// known before anything is asked: none for a repository or an archive.
func sourceNames(entries []imagelist.Entry) []name.Reference {
	var out []name.Reference
	for _, e := range entries {
		if e.Repository || e.Target != "" {
			continue
		}
		if loc, err := location.Parse(e.Source); err != nil || loc.IsArchive() {
			continue
		}
		if ref, err := parseSource(e.Source); err == nil {
			out = append(out, ref)
		}
	}
	return out
}

// severalImages refuses a DST with a tag for several images (why says where
// they come from), with the prefix that leads where the user meant: DST
// without the path of the image it names (harbor.lan/mirror for
// harbor.lan/mirror/golang:1.25-alpine and docker.io/library/golang), not DST
// itself, under which every image would land a level deeper
// (harbor.lan/mirror/golang/library/golang).
func severalImages(dst, why string, names []name.Reference) error {
	named, _ := location.ParseReference(dst)
	host, path := reference.Domain(named), reference.Path(named)
	var list []string
	for _, n := range names {
		list = append(list, wording.Reference(n))
	}
	example := names[0]
	prefixPath := path
	for _, n := range names {
		repoPath := n.Context().RepositoryStr()
		short := repoPath
		if named, err := reference.ParseNormalizedNamed(n.Context().Name()); err == nil {
			// golang for docker.io/library/golang, as a user writes it.
			short = strings.TrimPrefix(reference.FamiliarName(named), reference.Domain(named)+"/")
		}
		last := repoPath[strings.LastIndexByte(repoPath, '/')+1:]
		if p, ok := cutTail(path, repoPath, short, last); ok {
			example, prefixPath = n, p
			break
		}
	}
	prefix := host
	if prefixPath != "" {
		prefix += "/" + prefixPath
	}
	to := prefix + "/" + example.Context().RepositoryStr() + ":" + example.Identifier()
	shown := list
	if len(shown) > 3 {
		shown = append(shown[:3:3], "…")
	}
	return errdefs.New(errdefs.InvalidArgument, "DST %q is a full tag, but %s (%s): give a registry prefix such as %s (each image keeps its repository path under it: %s goes to %s)",
		dst, why, strings.Join(shown, ", "), prefix, wording.Reference(example), to)
}

// cutTail returns path without one of tails at its end, on a '/' boundary.
func cutTail(path string, tails ...string) (string, bool) {
	for _, tail := range tails {
		if path == tail {
			return "", true
		}
		if p, ok := strings.CutSuffix(path, "/"+tail); ok {
			return p, true
		}
	}
	return "", false
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
	if loc.IsEngine() {
		return engineDestination(loc)
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
			if d.loc.IsArchive() || d.loc.IsEngine() {
				return Image{}, usage(e, "%s is pinned by digest only, and %s names each image by a tag: give one (SRC NAME:TAG on a list line)", src.Name(), d.loc)
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
	im := Image{Image: copyopts.Image{Source: src, Destination: dstRef, SourceStore: srcStore, Platforms: plats}, Origin: origin(e), ListLine: e.Source}
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
	if one, ok := d.archive.(onePlatform); ok {
		if p, single := one.OnePlatform(); single {
			if len(im.Platforms) > 1 {
				return Image{}, usage(e, "%s holds one platform per image (the classic image store), and %s asks for %d: give one --platform", d.archive, src.Name(), len(im.Platforms))
			}
			if len(im.Platforms) == 0 {
				im.Platforms, im.defaultPlatform = []v1.Platform{p}, true
			}
			im.SinglePlatform = true
		}
	}
	for _, path := range e.VerifyKeys {
		if d.loadKey == nil {
			return Image{}, usage(e, "verify: keys are not read here")
		}
		k, err := d.loadKey(path)
		if err != nil {
			return Image{}, usage(e, "%s", errdefs.Message(err))
		}
		im.VerifyKeys = append(im.VerifyKeys, k)
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
	case e.Target == "" && (d.loc.IsArchive() || d.loc.IsEngine()):
		return src.Context().Name()
	case e.Target == "":
		return d.under(src.Context().RepositoryStr())
	case d.loc.IsArchive() || d.loc.IsEngine() || hasHost(e.Target):
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
				prev.Source.Name(), prev.from(), im.Source.Name(), im.from(), wording.Reference(im.Destination))
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

// engineDestination reads a docker-daemon DST: the engine alone is a place
// (each image keeps its name); with a name, it is the one image's.
func engineDestination(loc location.Location) (destination, error) {
	d := destination{loc: loc}
	if loc.Image == "" {
		return d, nil
	}
	named, err := location.ParseReference(loc.Image)
	if err != nil {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid image name in DST %q: %v", loc.Text, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return destination{}, errdefs.New(errdefs.InvalidArgument, "invalid DST %q: give a tag, not a digest; an engine names images by tag", loc.Text)
	}
	d.exact = named.String()
	return d, nil
}
