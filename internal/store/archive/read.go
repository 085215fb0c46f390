package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store/sparse"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// notIndex tells what an index.json is when it is not an image index (an
// image manifest put in its place, say), or "" when it may be one.
func notIndex(doc map[string]json.RawMessage) string {
	var mt types.MediaType
	if raw, ok := doc["mediaType"]; ok {
		_ = json.Unmarshal(raw, &mt)
	}
	switch {
	case mt != "" && mt.IsImage():
		return "an image manifest (" + string(mt) + ")"
	case mt != "" && !mt.IsIndex():
		return "a document of media type " + string(mt)
	case doc["config"] != nil || doc["layers"] != nil:
		return "an image manifest"
	}
	return ""
}

// settle makes what a layout read from another tool holds copyable as a
// reader of that tool would read it:
//
//   - an entry whose manifest is not in the archive is damaged: every read
//     of it is the sentence that names the missing file;
//   - an index of whose children the archive holds only some whole (Docker
//     25+'s `docker save` of an image pulled for one platform, `ctr images
//     export --platform` of an image with attestations) is served as an index
//     of those, with a note naming their platforms and the new digest, as
//     `docker load` and the merge store take the platforms present;
//   - a layout none of whose entries can be read, beside a manifest.json
//     that names images (Docker 25+'s `docker save` writes both), is read
//     from manifest.json, as `docker load` reads it.
func (a *Archive) settle(ctx context.Context) error {
	a.dropAttachments()
	readable := 0
	trimmed := map[v1.Hash]*entry{}
	for _, e := range a.entries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if done, ok := trimmed[e.desc.Digest]; ok {
			e.desc.Digest, e.desc.Size, e.damaged = done.desc.Digest, done.desc.Size, done.damaged
		} else {
			root := e.desc.Digest
			a.settleEntry(ctx, e)
			trimmed[root] = e
		}
		if e.damaged == nil {
			readable++
		}
	}
	if readable > 0 {
		return nil
	}
	if _, ok := a.files.size("manifest.json"); ok {
		err := a.fromManifestJSON(ctx)
		if err == nil || len(a.entries) == 0 {
			return err
		}
		// Neither can be read: the index.json entries' sentences say why.
	}
	if len(a.entries) == 0 {
		a.empty = errdefs.New(errdefs.InvalidArgument, "%s holds no image: its index.json lists none", a.loc.Path)
	}
	return nil
}

// annotationSubject marks an index.json entry that is an attachment of
// another (Docker 25+'s `docker save --platform` puts the image's attestation
// manifest beside it so): not an image of its own.
const annotationSubject = "io.containerd.manifest.subject"

// dropAttachments leaves out the index.json entries that are attachments of
// an image rather than images, with a note: copied alone they would be an
// image no one can run, under a made-up name.
func (a *Archive) dropAttachments() {
	var images []*entry
	for _, e := range a.entries {
		subject := e.desc.Annotations[annotationSubject]
		if subject == "" || !e.derived {
			images = append(images, e)
			continue
		}
		if a.opts.Notef != nil {
			a.opts.Notef("note: %s holds manifest %s beside the image it describes (%s), an attestation or other attachment, not an image: left out",
				a.loc.Path, e.desc.Digest, a.subjectName(subject))
		}
	}
	a.entries = images
}

// subjectName names the entry whose manifest is digest s, or s itself.
func (a *Archive) subjectName(s string) string {
	for _, e := range a.entries {
		if e.desc.Digest.String() == s && !e.derived {
			return wording.Familiar(e.ref)
		}
	}
	return s
}

// fromManifestJSON reads the archive as a docker save archive instead.
func (a *Archive) fromManifestJSON(ctx context.Context) error {
	entries, descs, doc := a.entries, a.descs, a.indexDoc
	a.entries, a.descs, a.indexDoc = nil, map[v1.Hash]v1.Descriptor{}, nil
	a.kind = dockerSave
	err := a.loadSave(ctx)
	if err != nil {
		a.entries, a.descs, a.indexDoc, a.kind = entries, descs, doc, ociLayout
		a.synth, a.paths = map[v1.Hash][]byte{}, map[v1.Hash]string{}
	}
	return err
}

// settleEntry checks one index.json entry: its manifest is there, and, for
// an index, which of its children are whole.
func (a *Archive) settleEntry(ctx context.Context, e *entry) {
	f, _ := blobName(e.desc.Digest)
	if !a.hasBlob(e.desc.Digest) {
		e.damaged = errdefs.New(errdefs.InvalidArgument, "%s is damaged or incomplete: its index.json names %s (manifest %s), but %s is not in it",
			a.loc.Path, wording.Familiar(e.ref), e.desc.Digest, f)
		return
	}
	body, desc, err := a.manifest(e.desc.Digest, e.desc.MediaType)
	if err != nil {
		e.damaged = errdefs.Wrap(err, errdefs.InvalidArgument, "%s", errdefs.Message(err))
		return
	}
	if !desc.MediaType.IsIndex() || a.opts.WholeIndexes {
		return
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		e.damaged = errdefs.New(errdefs.InvalidArgument, "%s is damaged: the index of %s (%s) does not parse: %v", a.loc.Path, wording.Familiar(e.ref), f, err)
		return
	}
	repo := &repository{a: a, repo: e.ref.Context()}
	present := map[v1.Hash]bool{}
	for _, c := range idx.Manifests {
		if !a.hasBlob(c.Digest) {
			continue
		}
		if c.MediaType.IsIndex() {
			present[c.Digest] = true // a nested index is the planner's to walk
			continue
		}
		cb, _, err := a.manifest(c.Digest, c.MediaType)
		if err != nil {
			continue
		}
		if ok, _ := sparse.Complete(ctx, repo, cb); ok {
			present[c.Digest] = true
		}
	}
	kept := sparse.Keep(idx.Manifests, func(d v1.Descriptor) bool { return present[d.Digest] })
	switch {
	case len(kept) == len(idx.Manifests):
		return
	case len(kept) == 0:
		e.damaged = errdefs.New(errdefs.InvalidArgument, "%s is damaged or incomplete: it holds none of the %d manifests the index of %s lists",
			a.loc.Path, len(idx.Manifests), wording.Familiar(e.ref))
		return
	}
	out, err := sparse.Rewrite(body, kept)
	if err != nil {
		e.damaged = errdefs.New(errdefs.InvalidArgument, "%s is damaged: the index of %s (%s) does not parse: %v", a.loc.Path, wording.Familiar(e.ref), f, err)
		return
	}
	d, size, _ := v1.SHA256(bytes.NewReader(out))
	a.mu.Lock()
	a.synth[d] = out
	a.descs[d] = v1.Descriptor{MediaType: desc.MediaType, Digest: d, Size: size}
	a.mu.Unlock()
	switch {
	case a.opts.Notef == nil:
	case len(a.opts.Platforms) > 0:
		// --platform makes its own index of what it picks, and says so.
		a.opts.Notef("note: %s holds only %s of %s's index (%s): --platform picks from those",
			a.loc.Path, sparse.Platforms(kept), wording.Familiar(e.ref), leftOut(idx.Manifests, kept))
	default:
		a.opts.Notef("note: %s holds only %s of %s's index (%s): copying an index of those, a new digest %s instead of %s",
			a.loc.Path, sparse.Platforms(kept), wording.Familiar(e.ref), leftOut(idx.Manifests, kept), d, e.desc.Digest)
	}
	e.desc.Digest, e.desc.Size = d, size
	if _, byDigest := e.ref.(name.Digest); byDigest {
		// An image the archive does not name is known by its digest: the one
		// served now (`docker save IMAGE-ID` writes such entries).
		e.ref = e.ref.Context().Digest(d.String())
	}
}

// leftOut says what of an index an archive lacks: "not in the archive: the
// images of linux/arm64/v8, linux/arm/v7 and 3 attestations".
func leftOut(all, kept []v1.Descriptor) string {
	have := map[v1.Hash]bool{}
	for _, d := range kept {
		have[d.Digest] = true
	}
	var images []v1.Descriptor
	attestations, other := 0, 0
	for _, d := range all {
		switch {
		case have[d.Digest]:
		case sparse.IsAttestation(d):
			attestations++
		case d.Platform != nil:
			images = append(images, d)
		default:
			other++
		}
	}
	var parts []string
	if names := sparse.Platforms(images); names != "" {
		parts = append(parts, "the images of "+names)
	} else if len(images) > 0 {
		other += len(images)
	}
	if attestations > 0 {
		parts = append(parts, wording.Count(attestations, "attestation manifest"))
	}
	if other > 0 {
		parts = append(parts, wording.Count(other, "other manifest"))
	}
	return "not in the archive: " + strings.Join(parts, " and ")
}

// blobSize is the size a manifest gives a blob.
type blobSize struct {
	size     int64
	manifest v1.Hash
}

// checkSize refuses a blob whose file is not the size its manifest gives (a
// truncated or damaged archive): read as it is, the copy would find it short
// and read it again and again, though a file does not change between reads.
func (a *Archive) checkSize(d v1.Hash, f string) error {
	if a.w != nil || a.kind != ociLayout {
		return nil
	}
	a.mu.Lock()
	want, ok := a.sizes[d]
	a.mu.Unlock()
	have, found := a.files.size(f)
	if !ok || !found || have == want.size {
		return nil
	}
	return errdefs.New(errdefs.DigestMismatch, "%s is damaged or incomplete: blob %s (file %s) is %d bytes, but manifest %s says %d bytes",
		a.loc.Path, d, f, have, want.manifest, want.size)
}

// layerWant is what a layer must uncompress to, and the manifest that says so.
type layerWant struct {
	diffID   v1.Hash
	manifest v1.Hash
}

// layerCheck is the uncompressed digest of one layer blob, found once, and
// the digest of its bytes when they were read.
type layerCheck struct {
	once   sync.Once
	got    v1.Hash
	digest v1.Hash
	err    error
}

// learnLayers records, for an image manifest read from the archive, what
// each of its layers must uncompress to: the diff_ids of its image config.
// A manifest whose config is not an image's (an artifact) has none.
func (a *Archive) learnLayers(d v1.Hash, body []byte) {
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return
	}
	a.mu.Lock()
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if _, known := a.sizes[b.Digest]; !known && len(b.URLs) == 0 {
			a.sizes[b.Digest] = blobSize{size: b.Size, manifest: d}
		}
	}
	a.mu.Unlock()
	if m.Config.MediaType != types.OCIConfigJSON && m.Config.MediaType != types.DockerConfigJSON {
		return
	}
	f, ok := a.fileOf(m.Config.Digest)
	if !ok {
		return
	}
	size, ok := a.files.size(f)
	if !ok || size > maxJSONSize {
		return
	}
	rc, err := a.files.open(f)
	if err != nil {
		return
	}
	cfg, err := v1.ParseConfigFile(rc)
	rc.Close()
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, l := range m.Layers {
		if len(l.URLs) > 0 {
			continue
		}
		w := layerWant{manifest: d}
		if i < len(cfg.RootFS.DiffIDs) {
			w.diffID = cfg.RootFS.DiffIDs[i]
		}
		if _, known := a.layers[l.Digest]; !known {
			a.layers[l.Digest] = w
		}
	}
}

// checkLayer refuses a layer blob that does not uncompress to the diff_id its
// image's config gives, as docker load and docker pull refuse it: a registry
// takes such an image, and no one can pull it. It reads each layer once.
func (a *Archive) checkLayer(d v1.Hash) error {
	if a.w != nil {
		return nil
	}
	a.mu.Lock()
	w, ok := a.layers[d]
	a.mu.Unlock()
	if !ok {
		return nil
	}
	got, err := a.uncompressedDigest(d)
	if errdefs.KindOf(err) == errdefs.InvalidArgument {
		// Not wrapped: an InvalidArgument anywhere in the chain would make it
		// a refusal before anything moved (exit 125).
		return errdefs.New(errdefs.DigestMismatch, "%s", errdefs.Message(err))
	} else if err != nil {
		return err
	}
	// DigestMismatch, not InvalidArgument: found while the copy runs, after
	// other blobs may have moved, so not a refusal before anything moved.
	if w.diffID.Hex == "" {
		return errdefs.New(errdefs.DigestMismatch, "%s is damaged: the config of manifest %s lists fewer diff_ids than it has layers, so layer %s cannot be checked", a.loc.Path, w.manifest, d)
	}
	if got != w.diffID {
		return errdefs.New(errdefs.DigestMismatch, "%s is damaged: layer %s (of manifest %s) uncompresses to %s, but the image's config says %s; docker load and docker pull refuse such an image",
			a.loc.Path, d, w.manifest, got, w.diffID)
	}
	return nil
}

// uncompressedDigest is the digest of a blob's uncompressed content: the
// blob's own digest when it is not compressed (the copy checks that as it
// streams), else found by decompressing it, once.
func (a *Archive) uncompressedDigest(d v1.Hash) (v1.Hash, error) {
	a.mu.Lock()
	c := a.checks[d]
	if c == nil {
		c = &layerCheck{}
		a.checks[d] = c
	}
	a.mu.Unlock()
	c.once.Do(func() {
		f, ok := a.fileOf(d)
		if !ok {
			c.err = a.missingBlob(d)
			return
		}
		if s, ok := a.files.(*streamFiles); ok && s.streamed(f) {
			c.got, c.digest, c.err = a.streamedDigests(s, d, f)
			return
		}
		rc, err := a.files.open(f)
		if errors.Is(err, fs.ErrNotExist) {
			c.err = a.missingBlob(d)
			return
		} else if err != nil {
			c.err = a.readError(err, "layer "+d.String())
			return
		}
		defer rc.Close()
		c.got, c.digest, c.err = a.diffIDOf(rc, d, f)
		if c.err == nil && c.digest != d {
			c.err = errdefs.New(errdefs.DigestMismatch, "%s is damaged: its file %s, blob %s, has digest %s; copy from a good archive", a.loc.Path, f, d, c.digest)
		}
	})
	return c.got, c.err
}

// diffIDOf reads a layer whole: it returns the digest of its uncompressed
// content, that of the bytes read, and an error naming the layer file when
// it does not uncompress. An uncompressed layer's diff_id is its digest,
// which is not computed (the caller knows it) unless asked: pass a zero d.
func (a *Archive) diffIDOf(r io.Reader, d v1.Hash, file string) (diffID, digest v1.Hash, err error) {
	head := make([]byte, 8)
	n, _ := io.ReadFull(r, head)
	c, other := detect(head[:n])
	if other != "" {
		return v1.Hash{}, v1.Hash{}, errdefs.New(errdefs.InvalidArgument,
			"%s has a layer %s compressed with %s, which registries do not take: only uncompressed, gzip and zstd layers are read", a.loc.Path, file, other)
	}
	if c == uncompressed && d.Hex != "" {
		return d, d, nil
	}
	raw := sha256.New()
	in := io.TeeReader(io.MultiReader(bytes.NewReader(head[:n]), r), raw)
	un := sha256.New()
	err = uncompressTo(un, in, c)
	// The rest of the blob's bytes, for its digest: a blob that does not
	// uncompress is most often one whose bytes are not its digest's.
	if _, rerr := io.Copy(io.Discard, in); rerr != nil && err == nil {
		err = rerr
	}
	digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(raw.Sum(nil))}
	if err != nil {
		if d.Hex != "" && digest != d {
			return v1.Hash{}, digest, nil
		}
		return v1.Hash{}, digest, errdefs.Wrap(err, errdefs.InvalidArgument, "%s is damaged: layer %s does not uncompress (%s): %v", a.loc.Path, file, c, err)
	}
	diffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(un.Sum(nil))}
	if c == uncompressed {
		diffID = digest
	}
	return diffID, digest, nil
}

// streamedDigests is uncompressedDigest for a file of a compressed archive
// that is read from its stream: what its first pass found, as its head says
// it is compressed or not.
func (a *Archive) streamedDigests(s *streamFiles, d v1.Hash, f string) (diffID, digest v1.Hash, err error) {
	l, ok := s.digestsOf(f)
	if ok && l.err != nil && l.digest.Hex == "" {
		return v1.Hash{}, v1.Hash{}, l.err // the stream's failure
	}
	if !ok {
		head, _ := s.headOf(f)
		// Uncompressed: its diff_id is its digest, which the copy checks as
		// it streams; else the compression no registry takes.
		return a.diffIDOf(bytes.NewReader(head), d, f)
	}
	if l.digest != d {
		return v1.Hash{}, l.digest, errdefs.New(errdefs.DigestMismatch, "%s is damaged: its file %s, blob %s, has digest %s; copy from a good archive", a.loc.Path, f, d, l.digest)
	}
	return l.diffID, l.digest, l.err
}

// layerDigests finds what a compressed file of an archive read as a stream
// uncompresses to, and its digest, as the first pass goes by (digestFunc).
func (a *Archive) layerDigests(r io.Reader, name string) (diffID, digest v1.Hash, err error) {
	return a.diffIDOf(r, v1.Hash{}, name)
}

// UncompressedDigest is the digest of layer d's uncompressed content, read
// once and kept: the merge store checks diff_ids with it.
func (r *repository) UncompressedDigest(ctx context.Context, d v1.Hash) (v1.Hash, error) {
	return r.a.uncompressedDigest(d)
}
