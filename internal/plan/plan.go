// Package plan decides what a migration copies. It only reads: HEADs against
// the destination to find what is already there, and GETs from the source for
// what is not. The result is the full list of manifests and blobs with the action
// for each, which --dry-run prints and the strategies execute.
package plan

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/referrers"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Action is what happens to one manifest or blob.
type Action string

const (
	Copy  Action = "copy"  // stream from the source
	Mount Action = "mount" // cross-repository mount within the destination registry
	Skip  Action = "skip"  // the destination already has it
	// Foreign layers (non-distributable) stay where their URLs point, as the
	// engine and crane leave them.
	Foreign Action = "foreign"
)

// Blob is one config or layer, listed once however many manifests use it.
type Blob struct {
	Digest    v1.Hash
	Size      int64
	MediaType types.MediaType
	Action    Action
	// Owner is the first platform that uses the blob, for progress display.
	Owner string
	// MountFrom are repositories of the destination's registry that held the
	// blob in an earlier run (copyopts.Shared.Blobs): a Mount tries them, in order,
	// before it uploads.
	MountFrom []string
}

// Manifest is one manifest of the graph.
type Manifest struct {
	Digest    v1.Hash
	MediaType types.MediaType
	Size      int64
	// Body is nil for a manifest that is skipped: it is never fetched.
	Body   []byte
	Label  string
	Action Action
	Blobs  []v1.Hash
	// Children are the manifests an index among the children names (a
	// nested index): they are pushed before it.
	Children []v1.Hash
	// Attestation marks a buildx attestation manifest (platform unknown/unknown).
	Attestation bool

	blobDescs []v1.Descriptor
	// nested are the planned children of an index among the children.
	nested []*Manifest
	// artifactType is set for a manifest whose config is not an image
	// config (a Helm chart, a WASM module, a signature): it has no platform.
	artifactType types.MediaType
	// present marks a manifest read from the destination, which holds it: the
	// blobs it names are there too (a registry refuses a manifest without them).
	present bool
}

// PlatformDigest pairs a platform with its manifest at both ends.
type PlatformDigest struct {
	Platform          string  `json:"platform"`
	SourceDigest      v1.Hash `json:"sourceDigest"`
	DestinationDigest v1.Hash `json:"destinationDigest"`
	// Source is the source's descriptor for this platform: its media type and
	// the platform fields (os.version, features) a rebuilt index must repeat.
	Source v1.Descriptor `json:"-"`
}

// Plan is everything a migration will do.
type Plan struct {
	Source      name.Reference
	Destination name.Reference
	// SourceDigest is the digest SRC resolved to when the plan was made.
	SourceDigest v1.Hash
	// Root is the top manifest as it will be written to the destination tag.
	Root *Manifest
	// Manifests are the children, in an order where each comes after those it
	// refers to; Root is pushed after all of them.
	Manifests []*Manifest
	Blobs     []*Blob
	Platforms []PlatformDigest
	// DigestChanged is true when Root differs from the source (a platform subset).
	DigestChanged bool
	ChangeReason  string
	// UpToDate means the destination tag already points at the same digest.
	UpToDate bool
	// DestinationTag is what the destination tag pointed at when the plan was
	// made (zero when it did not exist), once DestinationTagRead is set.
	DestinationTag     v1.Hash
	DestinationTagRead bool
	// ConvertedTo is the family of media types Convert rewrote the
	// manifests to; empty for a plan that copies them as they are.
	ConvertedTo Format
}

// Build makes the plan for copying im.Source from src to im.Destination in
// dst (im's stores, or the registry repositories its references name), with
// sh's jobs and caches.
func Build(ctx context.Context, src, dst store.Store, im copyopts.Image, sh copyopts.Shared) (*Plan, error) {
	p := &Plan{Source: im.Source, Destination: im.Destination}
	w := &walker{src: src, dst: dst, blobs: map[v1.Hash]*Blob{}, jobs: max(sh.Jobs, 1), cache: sh.Manifests}
	dstTag := readTag(ctx, dst, im.Destination)
	desc, err := describeSource(ctx, src, im.Source)
	if err != nil {
		return nil, err
	}
	p.SourceDigest = desc.Digest
	if isSchema1(desc.MediaType) {
		return nil, schema1Error(im.Source.Name())
	}
	// The children, when the index is known from before, are asked of the
	// destination now: a no-op then takes the round trip of the tag alone.
	w.prefetch(ctx, desc.Digest)
	if desc, err = w.readRoot(ctx, p, desc, <-dstTag, im); err != nil {
		return nil, err
	}
	w.upToDate = p.UpToDate
	if p.Root.MediaType.IsIndex() {
		err = w.root(ctx, p, im)
	} else {
		err = w.single(ctx, p, desc, im)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := dst.(store.Mounter); ok && sh.Blobs != nil && im.Destination != nil {
		w.seen, w.dstHost, w.dstRepo = sh.Blobs, im.Destination.Context().RegistryStr(), im.Destination.Context().RepositoryStr()
	}
	if err := w.checkBlobs(ctx, canMount(src, dst)); err != nil {
		return nil, err
	}
	p.Blobs = w.order
	if p.UpToDate {
		p.Root.Action = Skip
	}
	if err := askHolder(ctx, dst, p, im); err != nil {
		return nil, err
	}
	if err := checkUnreadLayers(ctx, src, p); err != nil {
		return nil, err
	}
	return p, nil
}

// tagRead is the destination's answer for its tag.
type tagRead struct {
	body []byte
	desc v1.Descriptor
	err  error
}

// readTag reads the destination's tag while the source's is asked: on a
// far link each is a round trip. A GET, not a HEAD: a no-op needs the body
// (to check the children), and the destination's GETs cost no one's pull
// quota the way the source's would. What it finds also tells whether the
// copy will replace another image (DestinationTag).
func readTag(ctx context.Context, dst store.Store, ref name.Reference) <-chan tagRead {
	read := make(chan tagRead, 1)
	go func() {
		// Not while a copy of this batch writes the tag, when it is a
		// referrers fallback tag (see referrers.Lock).
		unlock := referrers.Lock(dst, ref.Identifier())
		body, d, err := dst.GetManifest(ctx, ref.Identifier())
		unlock()
		read <- tagRead{body, d, err}
	}()
	return read
}

// describeSource resolves the source reference to a descriptor, and says
// in one sentence why it could not.
func describeSource(ctx context.Context, src store.Store, ref name.Reference) (v1.Descriptor, error) {
	desc, err := store.Describe(ctx, src, ref.Identifier())
	if err == nil {
		return desc, nil
	}
	if ee, ok := errors.AsType[*registry.EndpointsError](err); ok {
		// Read through mirrors: the sentence names each endpoint and why.
		hint := ""
		if errdefs.Is(err, errdefs.NotFound) {
			hint = "; check the repository name and tag"
		}
		return desc, errdefs.Wrap(err, errdefs.KindOf(err), "source %s: %s%s", wording.Reference(ref), ee, hint)
	}
	if errdefs.Is(err, errdefs.NotFound) {
		return desc, SourceNotFound(ctx, src, ref, err)
	}
	return desc, err
}

// readRoot sets p.Root, the top manifest, read where it costs least: from
// the destination's answer h when its tag already has the source's digest
// (up to date), else from the source. It returns the root's descriptor.
func (w *walker) readRoot(ctx context.Context, p *Plan, desc v1.Descriptor, h tagRead, im copyopts.Image) (v1.Descriptor, error) {
	switch {
	case h.err == nil:
		p.DestinationTag = h.desc.Digest
	case !errdefs.Is(h.err, errdefs.NotFound):
		return desc, h.err
	}
	p.DestinationTagRead = true
	// Up to date, the destination has the very same manifest, already read
	// there: a no-op spends none of the source's pull quota (Docker Hub counts
	// manifest GETs, not HEADs). A platform subset is a new index, compared
	// once it is made.
	var body []byte
	// A single-platform image is what it is whatever --platform names (a
	// platform it lacks is refused below), so its digest decides too.
	samePlatforms := len(im.Platforms) == 0 || !h.desc.MediaType.IsIndex()
	if samePlatforms && h.err == nil && h.desc.Digest == desc.Digest {
		p.UpToDate = true
		body, desc = h.body, h.desc
	}
	var err error
	if p.UpToDate {
		w.cache.Put(desc.Digest, body)
	} else if body, err = w.sourceManifest(ctx, desc.Digest); err != nil {
		return desc, err
	}
	if isSchema1(desc.MediaType) {
		return desc, schema1Error(im.Source.Name())
	}
	mt, err := store.MediaType(body, desc.MediaType)
	if err != nil {
		return desc, fmt.Errorf("source %s: %w", im.Source.Name(), err)
	}
	p.Root = &Manifest{Digest: desc.Digest, MediaType: mt, Size: int64(len(body)), Body: body, Label: "index", Action: Copy}
	return desc, nil
}

// single plans a root that is one image's manifest (desc): its blobs, and
// its platform, which must be one --platform names.
func (w *walker) single(ctx context.Context, p *Plan, desc v1.Descriptor, im copyopts.Image) error {
	srcName := im.Source.Name()
	p.Root.Label = "manifest"
	plat, err := w.image(ctx, p.Root, "")
	if err != nil {
		return err
	}
	if len(im.Platforms) > 0 && p.Root.artifactType != "" && plat.OS == "unknown" {
		return errdefs.New(errdefs.PlatformMissing, "platform %s not found in %s: it is an artifact (%s), which has no platform; copy it without --platform",
			formatList(im.Platforms), srcName, p.Root.artifactType)
	}
	if len(im.Platforms) > 0 && !slices.ContainsFunc(im.Platforms, func(want v1.Platform) bool { return platforms.Match(want, plat) }) {
		return errdefs.New(errdefs.PlatformMissing, "platform %s not found in %s: it is a single-platform image for %s",
			formatList(im.Platforms), srcName, platforms.Format(plat))
	}
	rootDesc := desc
	rootDesc.MediaType, rootDesc.Platform = p.Root.MediaType, &plat
	p.Platforms = []PlatformDigest{{Platform: platforms.Format(plat), SourceDigest: desc.Digest, DestinationDigest: desc.Digest, Source: rootDesc}}
	p.Root.Label = platforms.Format(plat)
	w.register(p.Root)
	return nil
}

// checkUnreadLayers asks a source that checks layers as they are read (an
// archive) to check the ones this copy will not read, because the
// destination has them already or takes them by a mount: the manifests it
// pushes name them, and a layer that is not what its config says makes an
// image nobody can pull. An up-to-date image pushes nothing.
func checkUnreadLayers(ctx context.Context, src store.Store, p *Plan) error {
	lc, ok := src.(store.LayerChecker)
	if !ok || p.UpToDate {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2) // decompression is CPU: two at once, whatever --jobs says
	for _, b := range p.Blobs {
		if b.Action == Copy {
			continue
		}
		g.Go(func() error { return lc.CheckLayer(gctx, b.Digest) })
	}
	return g.Wait()
}

// canMount reports whether dst can take src's blobs by a mount (two
// repositories of one registry) instead of a copy.
func canMount(src, dst store.Store) bool {
	m, ok := dst.(store.Mounter)
	return ok && m.CanMount(src)
}

func isSchema1(mt types.MediaType) bool {
	return mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed
}

func schema1Error(src string) error {
	return errdefs.New(errdefs.Rejected, "source %s is a Docker schema 1 manifest, which registries no longer accept: rebuild or re-push it with a current docker first", src)
}

func formatList(ps []v1.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = platforms.Format(p)
	}
	return strings.Join(s, ", ")
}

// walker fetches the children of the root and collects their blobs.
type walker struct {
	src, dst store.Store
	jobs     int
	upToDate bool
	cache    *manifestcache.Cache
	// prefetched are the destination's answers for the children of an index
	// known from the cache, asked before the tag's answer came (prefetch).
	// Written before the children are walked, only read after.
	prefetched map[v1.Hash]*destinationRead

	blobs map[v1.Hash]*Blob
	order []*Blob

	// seen is the record of earlier runs, for a registry destination:
	// dstHost and dstRepo say where the destination is.
	seen             *manifestcache.BlobRecord
	dstHost, dstRepo string
}

// attestation annotations written by buildx/BuildKit.
const (
	refTypeAnnotation   = "vnd.docker.reference.type"
	refDigestAnnotation = "vnd.docker.reference.digest"
	attestationType     = "attestation-manifest"
)

type indexEntry struct {
	raw  json.RawMessage
	desc v1.Descriptor
}

func (w *walker) root(ctx context.Context, p *Plan, im copyopts.Image) error {
	doc, entries, err := parseIndex(p.Root.Body)
	if err != nil {
		return fmt.Errorf("source %s: %w", im.Source.Name(), err)
	}

	kept := entries
	if len(im.Platforms) > 0 {
		if kept, err = filterPlatforms(entries, im.Platforms, im.Source.Name()); err != nil {
			return err
		}
		if len(kept) != len(entries) {
			doc["manifests"], _ = json.Marshal(rawsOf(kept))
			body, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			d, _, _ := v1.SHA256(strings.NewReader(string(body)))
			p.Root.Body, p.Root.Digest, p.Root.Size = body, d, int64(len(body))
			p.DigestChanged = true
			p.ChangeReason = fmt.Sprintf("only %d of the source's %d platforms were kept", countPlatforms(kept), countPlatforms(entries))
			// A rewritten index is new, so it cannot be up to date with the
			// source's digest; it may be with the one the tag has.
			if p.DestinationTag == d {
				p.UpToDate = true
				w.upToDate = true
			}
		}
	}

	labels := labelsOf(kept)
	children, err := w.children(ctx, kept, 1)
	if errors.Is(err, errIncomplete) {
		// The tag has the source's digest, but the index is sparse: a lax
		// registry accepted it without every child. Not up to date after all:
		// plan the copy of what is missing, and write the index again.
		p.UpToDate, w.upToDate = false, false
		children, err = w.children(ctx, kept, 1)
	}
	if err != nil {
		return err
	}
	for i, e := range kept {
		w.add(p, children[i])
		if e.desc.Platform != nil && !isAttestation(e.desc) {
			p.Platforms = append(p.Platforms, PlatformDigest{Platform: labels[e.desc.Digest], SourceDigest: e.desc.Digest, DestinationDigest: e.desc.Digest, Source: e.desc})
		}
	}
	if im.SinglePlatform {
		return w.unwrap(ctx, p, im)
	}
	return nil
}

// add lists m in p after the manifests it names (those of a nested index,
// at any depth), so that each is pushed before the index that names it.
func (w *walker) add(p *Plan, m *Manifest) {
	for _, c := range m.nested {
		w.add(p, c)
	}
	w.register(m)
	p.Manifests = append(p.Manifests, m)
}

// labelsOf names the platform of each entry that has one (attestations
// left out), for progress lines.
func labelsOf(entries []indexEntry) map[v1.Hash]string {
	labels := map[v1.Hash]string{}
	for _, e := range entries {
		if e.desc.Platform != nil && !isAttestation(e.desc) {
			labels[e.desc.Digest] = platforms.Format(*e.desc.Platform)
		}
	}
	return labels
}

// parseIndex reads the entries of an index, each with its raw JSON, so that
// a rewritten index repeats every field of the entries it keeps.
func parseIndex(body []byte) (map[string]json.RawMessage, []indexEntry, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("index is not JSON: %w", err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &raws); err != nil {
		return nil, nil, fmt.Errorf("index has no manifests list: %w", err)
	}
	entries := make([]indexEntry, len(raws))
	for i, raw := range raws {
		entries[i].raw = raw
		if err := json.Unmarshal(raw, &entries[i].desc); err != nil {
			return nil, nil, fmt.Errorf("bad index entry %d: %w", i, err)
		}
	}
	return doc, entries, nil
}

// maxIndexDepth bounds how deep indexes nest (an index in an index in …):
// the OCI spec sets no limit, and real images nest two or three deep.
const maxIndexDepth = 8

// nested plans the children of m, an index found depth levels below the
// top. Each is copied whole: its digest is the one its parent names.
func (w *walker) nested(ctx context.Context, m *Manifest, depth int) error {
	if depth >= maxIndexDepth {
		return errdefs.New(errdefs.Rejected, "manifest %s (%s) nests indexes more than %d deep; refusing to follow them further", m.Digest, m.Label, maxIndexDepth)
	}
	_, entries, err := parseIndex(m.Body)
	if err != nil {
		return fmt.Errorf("manifest %s (%s): %w", m.Digest, m.Label, err)
	}
	kids, err := w.children(ctx, entries, depth+1)
	if err != nil {
		return err
	}
	m.nested = kids
	for _, k := range kids {
		m.Children = append(m.Children, k.Digest)
	}
	return nil
}

// errIncomplete is an up-to-date tag whose index lacks a child at the
// destination.
var errIncomplete = errors.New("the destination's index lacks a child")

// children plans the children of an index depth levels below the top (1
// for the top index's own), at most jobs*4 at once.
func (w *walker) children(ctx context.Context, kept []indexEntry, depth int) ([]*Manifest, error) {
	labels := labelsOf(kept)
	children := make([]*Manifest, len(kept))
	g, gctx := errgroup.WithContext(ctx)
	// Planning requests are small (HEADs, manifest GETs): more of them at once
	// than blob copies, so the first byte moves sooner; an 8-platform index
	// with attestations (17 children) is asked in one round trip.
	g.SetLimit(max(w.jobs*4, 32))
	for i, e := range kept {
		label := labels[e.desc.Digest]
		if isAttestation(e.desc) {
			label = "attestation for " + labelOr(labels[v1Hash(e.desc.Annotations[refDigestAnnotation])], e.desc.Annotations[refDigestAnnotation])
		} else if label == "" {
			label = "manifest " + wording.Digest(e.desc.Digest)
		}
		g.Go(func() error {
			m, err := w.child(gctx, e.desc, label, depth)
			if m != nil {
				m.Attestation = isAttestation(e.desc)
			}
			children[i] = m
			return err
		})
	}
	return children, g.Wait()
}

// unwrap makes the one platform's manifest the root, dropping the index and
// its attestations (which describe the index's children, not a lone image).
func (w *walker) unwrap(ctx context.Context, p *Plan, im copyopts.Image) error {
	if len(p.Platforms) != 1 {
		var have []string
		for _, pd := range p.Platforms {
			have = append(have, pd.Platform)
		}
		return errdefs.New(errdefs.InvalidArgument, "%s holds one platform per image, and %s has %d (%s): pick one with --platform", w.dst, im.Source.Name(), len(have), strings.Join(have, ", "))
	}
	pd := p.Platforms[0]
	var m *Manifest
	for _, c := range p.Manifests {
		if c.Digest == pd.SourceDigest {
			m = c
		}
	}
	if m.Body == nil {
		body, err := w.sourceManifest(ctx, m.Digest)
		if err != nil {
			return err
		}
		m.Body = body
	}
	root := *m
	root.Label, root.Action = pd.Platform, Copy
	p.Root, p.Manifests = &root, nil
	p.DigestChanged = true
	reason := fmt.Sprintf("the %s image's own manifest is written, not an index", pd.Platform)
	if p.ChangeReason != "" {
		// Say that a multi-platform source became one platform.
		reason = p.ChangeReason + "; " + reason
	}
	p.ChangeReason = reason
	keep := map[v1.Hash]bool{}
	for _, d := range m.Blobs {
		keep[d] = true
	}
	w.order = slices.DeleteFunc(w.order, func(b *Blob) bool { return !keep[b.Digest] })
	p.UpToDate, w.upToDate = p.DestinationTag == root.Digest, false

	return nil
}

func labelOr(label, digest string) string {
	if label != "" {
		return label
	}
	if h, err := v1.NewHash(digest); err == nil {
		return wording.Digest(h)
	}
	return "unknown"
}

func v1Hash(s string) v1.Hash {
	h, _ := v1.NewHash(s)
	return h
}

func rawsOf(es []indexEntry) []json.RawMessage {
	out := make([]json.RawMessage, len(es))
	for i, e := range es {
		out[i] = e.raw
	}
	return out
}

func isAttestation(d v1.Descriptor) bool {
	return d.Annotations[refTypeAnnotation] == attestationType
}

func countPlatforms(es []indexEntry) int {
	n := 0
	for _, e := range es {
		if e.desc.Platform != nil && !isAttestation(e.desc) {
			n++
		}
	}
	return n
}

// filterPlatforms keeps the entries for the wanted platforms and the attestation
// manifests that describe them. Every wanted platform must be there.
func filterPlatforms(entries []indexEntry, want []v1.Platform, src string) ([]indexEntry, error) {
	kept := map[v1.Hash]bool{}
	for _, w := range want {
		found := false
		for _, e := range entries {
			if e.desc.Platform != nil && !isAttestation(e.desc) && !platforms.IsUnknown(e.desc.Platform) && platforms.Match(w, *e.desc.Platform) {
				kept[e.desc.Digest] = true
				found = true
			}
		}
		if !found {
			var have []string
			for _, e := range entries {
				if e.desc.Platform != nil && !isAttestation(e.desc) && !platforms.IsUnknown(e.desc.Platform) {
					have = append(have, platforms.Format(*e.desc.Platform))
				}
			}
			nested := 0
			for _, e := range entries {
				if e.desc.MediaType.IsIndex() && (e.desc.Platform == nil || platforms.IsUnknown(e.desc.Platform)) {
					nested++
				}
			}
			if nested > 0 {
				// --platform picks among the top-level entries by the platform
				// their descriptors name; it does not rewrite nested indexes.
				return nil, errdefs.New(errdefs.PlatformMissing, "platform %s not found among the entries of %s (it has %s): %d of them are indexes that name no platform, which --platform does not look into; copy it without --platform",
					platforms.Format(w), src, cmp.Or(strings.Join(have, ", "), "none with a platform"), nested)
			}
			return nil, errdefs.New(errdefs.PlatformMissing, "platform %s not found in %s; it has %s", platforms.Format(w), src, strings.Join(have, ", "))
		}
	}
	var out []indexEntry
	for _, e := range entries {
		if kept[e.desc.Digest] || (isAttestation(e.desc) && kept[v1Hash(e.desc.Annotations[refDigestAnnotation])]) {
			out = append(out, e)
		}
	}
	return out, nil
}

// child plans one manifest of an index depth levels below the top: skipped
// without a GET when the destination has it, else fetched from the source
// with its blobs, or its own children when it is an index. It is pushed with
// the media type its body says, which real layouts do not always repeat in
// the parent's descriptor (skopeo does the same).
func (w *walker) child(ctx context.Context, d v1.Descriptor, label string, depth int) (*Manifest, error) {
	m := &Manifest{Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Label: label, Action: Copy}
	if w.upToDate {
		// The tag already points at this index: read the child where it is
		// (the destination, not the source's pull quota), so that the run can
		// report the blobs it found there. A child that is not there makes the
		// index incomplete, and the run no no-op (see errIncomplete). Its blobs
		// are not asked for one by one: a registry checks a manifest's blobs
		// when it takes the manifest, and --check asks for each.
		m.Action = Skip
		body, got, err := w.destinationManifest(ctx, d.Digest)
		if err != nil {
			if errdefs.Is(err, errdefs.NotFound) {
				return nil, errIncomplete
			}
			return nil, err
		}
		w.cache.Put(d.Digest, body)
		if mt, err := store.MediaType(body, cmp.Or(got.MediaType, d.MediaType)); err == nil {
			m.MediaType = mt
		}
		m.Body, m.present = body, true
		if m.MediaType.IsIndex() {
			if err := w.nested(ctx, m, depth); err != nil {
				return nil, err
			}
			return m, nil
		}
		if _, err := w.image(ctx, m, label); err != nil {
			return nil, err
		}
		return m, nil
	}
	if err := w.destinationHas(ctx, d.Digest); err == nil {
		m.Action = Skip
		return m, nil
	} else if !errdefs.Is(err, errdefs.NotFound) && !errors.Is(err, store.ErrNoDigest) {
		return nil, err
	}
	body, err := w.sourceManifest(ctx, d.Digest)
	if err != nil {
		if errdefs.Is(err, errdefs.NotFound) {
			return nil, errdefs.Wrap(err, errdefs.NotFound, "manifest %s (%s) is missing from %s: the source index is incomplete", d.Digest, label, w.src)
		}
		return nil, err
	}
	m.Body = body
	if m.MediaType, err = store.MediaType(body, d.MediaType); err != nil {
		return nil, fmt.Errorf("manifest %s (%s): %w", d.Digest, label, err)
	}
	if m.MediaType.IsIndex() {
		if err := w.nested(ctx, m, depth); err != nil {
			return nil, err
		}
		return m, nil
	}
	if _, err := w.image(ctx, m, label); err != nil {
		return nil, err
	}
	return m, nil
}

// destinationRead is the destination's answer to a GET of a manifest.
type destinationRead struct {
	done chan struct{}
	body []byte
	desc v1.Descriptor
	err  error
}

// prefetch asks the destination for each child of index d, all at once, when
// the cache holds d. Whether the tag turns out up to date (each child must be
// there) or not (each child is looked for there), these are the next
// questions the plan asks; this way they go out without waiting for the tag.
// Only answers for d's children are ever used, so a stale guess is not
// possible: d is the source's digest, and the cache is content-addressed.
func (w *walker) prefetch(ctx context.Context, d v1.Hash) {
	body, ok := w.cache.Get(d)
	if !ok {
		return
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil || len(idx.Manifests) == 0 {
		return
	}
	w.prefetched = map[v1.Hash]*destinationRead{}
	limit := make(chan struct{}, max(w.jobs*4, 32))
	for _, c := range idx.Manifests {
		if w.prefetched[c.Digest] != nil {
			continue
		}
		r := &destinationRead{done: make(chan struct{})}
		w.prefetched[c.Digest] = r
		go func() {
			defer close(r.done)
			select {
			case limit <- struct{}{}:
				defer func() { <-limit }()
			case <-ctx.Done():
				r.err = ctx.Err()
				return
			}
			r.body, r.desc, r.err = w.dst.GetManifest(ctx, c.Digest.String())
		}()
	}
}

// destinationManifest reads manifest d at the destination: the prefetched
// answer, or a GET now.
func (w *walker) destinationManifest(ctx context.Context, d v1.Hash) ([]byte, v1.Descriptor, error) {
	if r := w.prefetched[d]; r != nil {
		select {
		case <-r.done:
			return r.body, r.desc, r.err
		case <-ctx.Done():
			return nil, v1.Descriptor{}, ctx.Err()
		}
	}
	return w.dst.GetManifest(ctx, d.String())
}

// destinationHas is nil when the destination has manifest d: the prefetched
// answer, or a HEAD now.
func (w *walker) destinationHas(ctx context.Context, d v1.Hash) error {
	if w.prefetched[d] != nil {
		_, _, err := w.destinationManifest(ctx, d)
		return err
	}
	_, err := w.dst.HeadManifest(ctx, d.String())
	return err
}

// sourceManifest is manifest d of the source: from the cache when it has
// it, else read from the source and kept.
func (w *walker) sourceManifest(ctx context.Context, d v1.Hash) ([]byte, error) {
	if body, ok := w.cache.Get(d); ok {
		return body, nil
	}
	body, _, err := w.src.GetManifest(ctx, d.String())
	if err == nil {
		w.cache.Put(d, body)
	}
	return body, err
}

// image records the blobs of an image manifest and returns its platform, read
// from the config only when the caller has no platform for it (a single image).
func (w *walker) image(ctx context.Context, m *Manifest, owner string) (v1.Platform, error) {
	mf, err := v1.ParseManifest(strings.NewReader(string(m.Body)))
	if err != nil {
		return v1.Platform{}, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	m.blobDescs = append([]v1.Descriptor{mf.Config}, mf.Layers...)
	if !isImageConfig(mf.Config.MediaType) {
		m.artifactType = cmp.Or(types.MediaType(mf.ArtifactType), mf.Config.MediaType)
	}
	if owner != "" {
		return v1.Platform{}, nil
	}
	if mf.Config.Platform != nil {
		return *mf.Config.Platform, nil
	}
	if m.artifactType != "" {
		// Only an image config says a platform; any other config (a Helm
		// chart's, a WASM module's, bytes that are not JSON) is copied as
		// it is, unread.
		return v1.Platform{OS: "unknown", Architecture: "unknown"}, nil
	}
	// A single image: its platform is in its config.
	return w.configPlatform(ctx, mf.Config.Digest)
}

// isImageConfig reports a config media type that is an image's: the only
// kind that carries a platform.
func isImageConfig(mt types.MediaType) bool {
	return mt == types.OCIConfigJSON || mt == types.DockerConfigJSON
}

// maxConfigSize bounds what is read into memory for an image config.
const maxConfigSize = 16 << 20

func (w *walker) configPlatform(ctx context.Context, d v1.Hash) (v1.Platform, error) {
	repo := w.src
	if ok, err := w.dst.BlobExists(ctx, d); err == nil && ok {
		repo = w.dst // read what the destination already has, not the source
	}
	rc, err := repo.GetBlob(ctx, d)
	if err != nil {
		return v1.Platform{}, err
	}
	defer rc.Close()
	// A config is small: read it whole and check it before it is trusted.
	raw, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return v1.Platform{}, err
	}
	if len(raw) > maxConfigSize {
		return v1.Platform{}, errdefs.New(errdefs.Rejected, "config %s in %s is larger than %d bytes", d, repo, maxConfigSize)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); d.Algorithm == "sha256" && got != d {
		return v1.Platform{}, errdefs.New(errdefs.DigestMismatch,
			"digest mismatch: config %s from %s has digest %s; the source registry holds a corrupt blob: report it to its operator, or copy from another mirror", d, repo, got)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return v1.Platform{}, fmt.Errorf("config %s: %w", d, err)
	}
	p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if p.OS == "" {
		p.OS, p.Architecture = "unknown", "unknown"
	}
	return p, nil
}

// register lists m's blobs, each digest once. Called in index order, so a blob
// shared by several platforms belongs to the first of them, run after run.
func (w *walker) register(m *Manifest) {
	for _, d := range m.blobDescs {
		w.addBlob(d, m.Label, m)
		if b := w.blobs[d.Digest]; m.present && b.Action == Copy {
			b.Action = Skip
		}
	}
}

func (w *walker) addBlob(d v1.Descriptor, owner string, m *Manifest) {
	m.Blobs = append(m.Blobs, d.Digest)
	if _, ok := w.blobs[d.Digest]; ok {
		return
	}
	b := &Blob{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Action: Copy, Owner: owner}
	if len(d.URLs) > 0 && !d.MediaType.IsDistributable() {
		b.Action = Foreign
	}
	w.blobs[d.Digest] = b
	w.order = append(w.order, b)
}

// checkBlobs HEADs every blob at the destination, and marks the rest for a
// mount (same registry) or a copy.
func (w *walker) checkBlobs(ctx context.Context, mount bool) error {
	g, gctx := errgroup.WithContext(ctx)
	// All at once where they fit: each wave is a round trip on a far link.
	g.SetLimit(max(w.jobs*8, 64))
	for _, b := range w.order {
		if b.Action == Foreign || b.Action == Skip {
			continue
		}
		g.Go(func() error {
			ok, err := store.BlobPresent(gctx, w.dst, b.Digest, b.Size, w.src)
			if err != nil {
				return err
			}
			switch {
			case ok:
				b.Action = Skip
			case mount:
				b.Action = Mount
			default:
				if from := w.seen.Where(w.dstHost, b.Digest, w.dstRepo); len(from) > 0 {
					b.Action, b.MountFrom = Mount, from
				}
			}
			return nil
		})
	}
	return g.Wait()
}
