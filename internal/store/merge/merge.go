// Package merge reads several archives as one, grouping their images by name:
// k3s ships its airgap images as one archive per architecture
// (k3s-airgap-images-amd64.tar.zst, …-arm64…, …-arm…), and a mirror wants one
// multi-arch image per name.
//
//   - Sparse OCI archives (`ctr images export --platform linux/ARCH`) name the
//     full upstream index while holding one architecture's children. When the
//     archives together hold every child, the upstream index is served as it
//     is, so the mirror gets the upstream digest byte for byte; otherwise an
//     index of the platforms present is made (a new digest, and a note says so),
//     never a sparse index a registry may refuse.
//   - `docker save` archives hold one single-platform image per name: their
//     images become one manifest list per name.
//
// Before an image is served, every child's platform is checked against its
// config's os/architecture/variant, and every layer against its diff_id.
package merge

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/sparse"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Archive is several archives read as one. It is read-only.
type Archive struct {
	parts  []store.Archive
	order  []string
	images map[string]*image
}

var (
	_ store.Archive  = (*Archive)(nil)
	_ store.Streamed = (*repository)(nil)
)

// image is one name, merged: the root it is served under, and where each of
// its manifests and blobs lives.
type image struct {
	ref  name.Reference
	root []byte
	desc v1.Descriptor
	// stores are the archives' views of the image's repository, in which its
	// children and blobs are looked for.
	stores []store.Store
}

// child is one platform manifest an archive holds for a name.
type child struct {
	desc  v1.Descriptor
	body  []byte
	from  int // which archive
	store store.Store
}

// Open reads the archives' images and merges them by name. notef is told what
// a user should know: a new digest where the upstream index could not be
// completed, a name only some archives hold.
func Open(ctx context.Context, parts []store.Archive, notef func(format string, args ...any)) (*Archive, error) {
	if notef == nil {
		notef = func(string, ...any) {}
	}
	a := &Archive{parts: parts, images: map[string]*image{}}
	type member struct {
		from  int
		ref   name.Reference
		store store.Store
	}
	groups := map[string][]member{}
	for i, p := range parts {
		refs, err := p.Images(ctx)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			key := ref.Name()
			if _, ok := groups[key]; !ok {
				a.order = append(a.order, key)
			}
			groups[key] = append(groups[key], member{from: i, ref: ref, store: p.Repository(ref.Context())})
		}
	}
	for _, key := range a.order {
		ms := groups[key]
		im := &image{ref: ms[0].ref}
		var roots []rootOf
		for _, m := range ms {
			im.stores = append(im.stores, m.store)
			body, desc, err := m.store.GetManifest(ctx, m.ref.Identifier())
			if err != nil {
				return nil, fmt.Errorf("%s in %s: %w", m.ref.Name(), parts[m.from], err)
			}
			if mt, err := store.MediaType(body, desc.MediaType); err == nil {
				desc.MediaType = mt
			}
			roots = append(roots, rootOf{from: m.from, body: body, desc: desc, store: m.store})
		}
		if err := a.merge(ctx, im, roots, len(ms) < len(parts), notef); err != nil {
			return nil, err
		}
		a.images[key] = im
	}
	return a, nil
}

type rootOf struct {
	from  int
	body  []byte
	desc  v1.Descriptor
	store store.Store
}

// merge picks what the name is served as: the upstream index when the
// archives complete it, else a new index of the platforms they hold.
func (a *Archive) merge(ctx context.Context, im *image, roots []rootOf, partial bool, notef func(string, ...any)) error {
	label := im.ref.Name()
	children, upstream, err := a.children(ctx, roots, label)
	if err != nil {
		return err
	}
	if children, err = a.dedupe(children, label); err != nil {
		return err
	}
	if len(children) == 0 {
		return errdefs.New(errdefs.InvalidArgument, "%s: the archives hold none of its platforms' images", label)
	}
	if upstream != nil {
		return a.fromUpstream(im, upstream, children, partial, notef)
	}
	return a.asList(im, children, len(roots), partial, notef)
}

// children gathers the platform manifests the archives hold whole for one
// name, each checked, and the upstream index when every archive names the
// same one (nil otherwise).
func (a *Archive) children(ctx context.Context, roots []rootOf, label string) ([]child, *rootOf, error) {
	var children []child
	var upstream *rootOf
	sameIndex := true
	for i := range roots {
		r := &roots[i]
		if !r.desc.MediaType.IsIndex() || r.desc.Digest != roots[0].desc.Digest {
			sameIndex = false
		}
		if !r.desc.MediaType.IsIndex() {
			plat, err := a.checkImage(ctx, r.store, r.body, nil, label, r.from)
			if err != nil {
				return nil, nil, err
			}
			d := r.desc
			d.Size = int64(len(r.body))
			d.Platform = &plat
			children = append(children, child{desc: d, body: r.body, from: r.from, store: r.store})
			continue
		}
		found, err := a.indexChildren(ctx, r, label)
		if err != nil {
			return nil, nil, err
		}
		children = append(children, found...)
		upstream = r
	}
	if !sameIndex {
		upstream = nil
	}
	return children, upstream, nil
}

// indexChildren is the children of index root r that its archive holds
// whole, each checked against the platform the index gives it.
func (a *Archive) indexChildren(ctx context.Context, r *rootOf, label string) ([]child, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(r.body))
	if err != nil {
		return nil, errdefs.New(errdefs.InvalidArgument, "%s in %s: its index does not parse: %v", label, a.parts[r.from], err)
	}
	var children []child
	for _, d := range idx.Manifests {
		body, _, err := r.store.GetManifest(ctx, d.Digest.String())
		if errdefs.Is(err, errdefs.NotFound) {
			continue // a sparse archive: another archive may hold it
		} else if err != nil {
			return nil, err
		}
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue
		}
		if ok, err := sparse.Complete(ctx, r.store, body); err != nil || !ok {
			continue
		}
		if d.Platform != nil && !platforms.IsUnknown(d.Platform) {
			if _, err := a.checkImage(ctx, r.store, body, d.Platform, label, r.from); err != nil {
				return nil, err
			}
		}
		children = append(children, child{desc: d, body: body, from: r.from, store: r.store})
	}
	return children, nil
}

// fromUpstream serves the upstream index every archive names: as it is when
// the archives hold all of its children, else an index of those they hold.
func (a *Archive) fromUpstream(im *image, upstream *rootOf, children []child, partial bool, notef func(string, ...any)) error {
	label := im.ref.Name()
	idx, _ := v1.ParseIndexManifest(bytes.NewReader(upstream.body))
	have := map[v1.Hash]bool{}
	for _, c := range children {
		have[c.desc.Digest] = true
	}
	missing := 0
	for _, d := range idx.Manifests {
		if !have[d.Digest] {
			missing++
		}
	}
	if missing == 0 {
		im.root, im.desc = upstream.body, upstream.desc
		if partial {
			notef("note: %s is in only some of the archives; it is complete all the same", label)
		}
		return nil
	}
	// The children present, in the upstream index's own order and with its
	// entries as they were: the same index one archive alone gives.
	kept := sparse.Keep(idx.Manifests, func(d v1.Descriptor) bool { return have[d.Digest] })
	body, err := sparse.Rewrite(upstream.body, kept)
	if err != nil {
		return err
	}
	im.root, im.desc = body, descriptorOf(body, upstream.desc.MediaType)
	notef("note: the archives hold %d of the %d manifests of %s's upstream index (%s): serving an index of %s, a new digest %s instead of %s",
		len(kept), len(idx.Manifests), label, platformList(kept), platformList(kept), im.desc.Digest, upstream.desc.Digest)
	return nil
}

// asList serves single-platform images (docker save), or children of
// different indexes, as one list made here.
func (a *Archive) asList(im *image, children []child, holders int, partial bool, notef func(string, ...any)) error {
	var descs []v1.Descriptor
	docker := true
	for _, c := range children {
		descs = append(descs, c.desc)
		if c.desc.MediaType != types.DockerManifestSchema2 {
			docker = false
		}
	}
	mt := types.OCIImageIndex
	if docker {
		mt = types.DockerManifestList
	}
	body, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: descs})
	if err != nil {
		return err
	}
	im.root, im.desc = body, descriptorOf(body, mt)
	note := fmt.Sprintf("note: %s: a list of %s made from the archives' images", im.ref.Name(), platformList(descs))
	if partial {
		note += fmt.Sprintf(" (only %d of %d archives hold it)", holders, len(a.parts))
	}
	notef("%s", note)
	return nil
}

// dedupe drops a child two archives both hold, and refuses two archives that
// give one platform different content.
func (a *Archive) dedupe(children []child, label string) ([]child, error) {
	var out []child
	for _, c := range children {
		dup := slices.IndexFunc(out, func(o child) bool {
			if o.desc.Digest == c.desc.Digest {
				return true
			}
			return o.desc.Platform != nil && c.desc.Platform != nil && !platforms.IsUnknown(c.desc.Platform) &&
				platforms.Format(*o.desc.Platform) == platforms.Format(*c.desc.Platform)
		})
		if dup < 0 {
			out = append(out, c)
			continue
		}
		if o := out[dup]; o.desc.Digest != c.desc.Digest {
			return nil, errdefs.New(errdefs.InvalidArgument, "%s: %s and %s both hold %s with different content (%s and %s); keep one of them",
				label, a.parts[o.from], a.parts[c.from], platforms.Format(*c.desc.Platform), o.desc.Digest, c.desc.Digest)
		}
	}
	return out, nil
}

// checkImage reads an image's config: its platform must be the one the index
// gives it (when it gives one), and each layer must uncompress to its diff_id.
// It returns the config's platform.
func (a *Archive) checkImage(ctx context.Context, s store.Store, body []byte, want *v1.Platform, label string, from int) (v1.Platform, error) {
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return v1.Platform{}, errdefs.New(errdefs.InvalidArgument, "%s in %s: a manifest does not parse: %v", label, a.parts[from], err)
	}
	rc, err := s.GetBlob(ctx, m.Config.Digest)
	if err != nil {
		return v1.Platform{}, err
	}
	cf, err := v1.ParseConfigFile(io.LimitReader(rc, 16<<20))
	rc.Close()
	if err != nil {
		return v1.Platform{}, errdefs.New(errdefs.InvalidArgument, "%s in %s: its config %s does not parse: %v", label, a.parts[from], m.Config.Digest, err)
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
	if want != nil && !platforms.Match(*want, have) {
		return have, errdefs.New(errdefs.InvalidArgument, "%s in %s: the index says %s but the image's config says %s; the archive is inconsistent",
			label, a.parts[from], platforms.Format(*want), platforms.Format(have))
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return have, errdefs.New(errdefs.InvalidArgument, "%s (%s) in %s: %d layers but %d diff_ids in its config",
			label, platforms.Format(have), a.parts[from], len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		if len(l.URLs) > 0 {
			continue
		}
		got, err := diffID(ctx, s, l)
		if err != nil {
			return have, fmt.Errorf("%s (%s) in %s: layer %s: %w", label, platforms.Format(have), a.parts[from], l.Digest, err)
		}
		if got != cf.RootFS.DiffIDs[i] {
			return have, errdefs.New(errdefs.InvalidArgument, "%s (%s) in %s: layer %s uncompresses to %s, but its config says %s; the archive is corrupt",
				label, platforms.Format(have), a.parts[from], l.Digest, got, cf.RootFS.DiffIDs[i])
		}
	}
	return have, nil
}

// uncompressor is a store that tells a layer's uncompressed digest itself
// (an archive, which checks it before it hands the layer out, and keeps it):
// asking it saves decompressing every layer twice.
type uncompressor interface {
	UncompressedDigest(ctx context.Context, d v1.Hash) (v1.Hash, error)
}

// diffID is the digest of a layer's uncompressed content, read as it streams.
func diffID(ctx context.Context, s store.Store, l v1.Descriptor) (v1.Hash, error) {
	if u, ok := s.(uncompressor); ok {
		return u.UncompressedDigest(ctx, l.Digest)
	}
	if !compressed(l.MediaType) {
		return l.Digest, nil // the store's reader checks this digest as the copy streams
	}
	rc, err := s.GetBlob(ctx, l.Digest)
	if err != nil {
		return v1.Hash{}, err
	}
	defer rc.Close()
	var r io.Reader
	switch {
	case strings.HasSuffix(string(l.MediaType), "zstd"):
		zr, err := zstd.NewReader(rc)
		if err != nil {
			return v1.Hash{}, err
		}
		defer zr.Close()
		r = zr
	default:
		gz, err := gzip.NewReader(rc)
		if err != nil {
			return v1.Hash{}, errdefs.New(errdefs.InvalidArgument, "not gzip: %v", err)
		}
		defer gz.Close()
		r = gz
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return v1.Hash{}, errdefs.New(errdefs.InvalidArgument, "cannot uncompress it: %v", err)
	}
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}, nil
}

func compressed(mt types.MediaType) bool {
	s := string(mt)
	return strings.HasSuffix(s, "gzip") || strings.HasSuffix(s, "zstd")
}

func descriptorOf(body []byte, mt types.MediaType) v1.Descriptor {
	d, size, _ := v1.SHA256(bytes.NewReader(body))
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}
}

func platformList(ds []v1.Descriptor) string {
	var out []string
	for _, d := range ds {
		if d.Platform != nil && !platforms.IsUnknown(d.Platform) {
			out = append(out, platforms.Format(*d.Platform))
		}
	}
	return strings.Join(out, ", ")
}

// String names the archives, as the user wrote them.
func (a *Archive) String() string {
	var names []string
	for _, p := range a.parts {
		names = append(names, p.String())
	}
	return strings.Join(names, " + ")
}

// Images lists every name, in the order the archives first give it.
func (a *Archive) Images(context.Context) ([]name.Reference, error) {
	var out []name.Reference
	for _, key := range a.order {
		out = append(out, a.images[key].ref)
	}
	return out, nil
}

// Repository is the merged view of one repository.
func (a *Archive) Repository(repo name.Repository) store.Store {
	return &repository{a: a, repo: repo}
}

// Commit has nothing to do: a merged archive is only read.
func (a *Archive) Commit(context.Context) error { return nil }

// Close closes every archive.
func (a *Archive) Close() error {
	var first error
	for _, p := range a.parts {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type repository struct {
	a    *Archive
	repo name.Repository
}

func (r *repository) String() string { return r.a.String() + " (" + r.repo.Name() + ")" }

// image returns the merged image ref names in this repository (a tag or the
// root's digest), or nil.
func (r *repository) image(ref string) *image {
	for _, key := range r.a.order {
		im := r.a.images[key]
		if im.ref.Context().Name() != r.repo.Name() {
			continue
		}
		if im.ref.Identifier() == ref || im.desc.Digest.String() == ref {
			return im
		}
	}
	return nil
}

// stores are the archives' views of this repository.
func (r *repository) stores() []store.Store {
	var out []store.Store
	for _, key := range r.a.order {
		if im := r.a.images[key]; im.ref.Context().Name() == r.repo.Name() {
			out = append(out, im.stores...)
		}
	}
	return out
}

func (r *repository) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	if im := r.image(ref); im != nil {
		return im.desc, nil
	}
	for _, s := range r.stores() {
		if d, err := s.HeadManifest(ctx, ref); err == nil {
			return d, nil
		}
	}
	return v1.Descriptor{}, errdefs.New(errdefs.NotFound, "%s has no manifest %s", r, ref)
}

func (r *repository) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	if im := r.image(ref); im != nil {
		return im.root, im.desc, nil
	}
	for _, s := range r.stores() {
		if body, d, err := s.GetManifest(ctx, ref); err == nil {
			return body, d, nil
		}
	}
	return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "%s has no manifest %s", r, ref)
}

func (r *repository) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	for _, s := range r.stores() {
		if ok, err := s.BlobExists(ctx, d); err == nil && ok {
			return true, nil
		}
	}
	return false, nil
}

func (r *repository) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	if s := r.holder(ctx, d); s != nil {
		return s.GetBlob(ctx, d)
	}
	return nil, errdefs.New(errdefs.NotFound, "blob %s is in none of %s", d, r.a)
}

// holder is the archive's view that GetBlob reads blob d from, or nil.
func (r *repository) holder(ctx context.Context, d v1.Hash) store.Store {
	for _, s := range r.stores() {
		if ok, err := s.BlobExists(ctx, d); err == nil && ok {
			return s
		}
	}
	return nil
}

// Expect tells each archive read as a stream which of its blobs a copy will
// read (store.Streamed).
func (r *repository) Expect(ctx context.Context, ds []v1.Hash) {
	per := map[store.Streamed][]v1.Hash{}
	var order []store.Streamed
	for _, d := range ds {
		s, ok := r.holder(ctx, d).(store.Streamed)
		if !ok {
			continue
		}
		if _, seen := per[s]; !seen {
			order = append(order, s)
		}
		per[s] = append(per[s], d)
	}
	for _, s := range order {
		s.Expect(ctx, per[s])
	}
}

// StreamOrder is where blob d passes in the stream of the archive it is read
// from (store.Streamed).
func (r *repository) StreamOrder(d v1.Hash) (int, bool) {
	if s, ok := r.holder(context.Background(), d).(store.Streamed); ok {
		return s.StreamOrder(d)
	}
	return 0, false
}

func (r *repository) PutManifest(context.Context, string, types.MediaType, []byte) error {
	return errdefs.New(errdefs.InvalidArgument, "%s is read only", r.a)
}

func (r *repository) PutBlob(context.Context, v1.Hash, int64, io.Reader) error {
	return errdefs.New(errdefs.InvalidArgument, "%s is read only", r.a)
}
