// Package archive is the store.Archive of the three archive locations: an OCI
// image layout directory (oci:DIR), the same layout in one tar file
// (oci-archive:FILE, .tar, .tar.gz or .tar.zst), and what `docker save` writes
// (docker-archive:FILE).
//
// Reading tells the format from the content, whatever the prefix says: a tar
// or directory with an index.json is an OCI layout (containerd's `ctr images
// export`, docker 25+'s `docker save`, skopeo, crane), one with only a
// manifest.json is a docker save archive, whose single-platform images are
// presented as Docker v2 schema 2 manifests made up from its files. An
// uncompressed tar is read in place; a compressed one in passes of one
// decompressing stream each (see streamFiles), with temporary space only for
// what waits to be copied.
//
// Writing builds an OCI layout: index.json (one entry per image, named the way
// containerd and skopeo look for it) and a Docker-style manifest.json are
// written once, at Commit. Into a directory, blobs are streamed into a
// temporary file and renamed into blobs/sha256/ only once their whole body
// arrived and was verified. An archive file is written as one stream (see
// tarStream): every blob goes into the tar (compressed by the file's
// extension) once, as it arrives, and the temporary file beside the target
// is renamed over it only when complete.
//
// go-containerregistry's pkg/v1/layout does not fit the write side, which is
// why it is not used: Path.WriteBlob writes straight to the blob's final name
// (a broken stream leaves a blob that looks finished), and AppendDescriptor
// rewrites index.json on every call while several images are written at once.
// On the read side a tar is served from offsets, which layout cannot do, and
// pkg/v1/tarball reads one whole image at a time rather than blobs on demand.
package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options tune how an archive is opened.
type Options struct {
	// Force replaces an existing archive file (oci-archive:, docker-archive:).
	// A directory (oci:) is never replaced: new images are added to it.
	Force bool
	// Platforms are preferred, in order, when manifest.json (read by `docker
	// load`) can name one platform of a multi-platform image; then the host's,
	// then the index's first. Pass the --platform list.
	Platforms []v1.Platform
	// TempDir is where a compressed archive read keeps what waits to be
	// copied (see streamFiles); "" means os.TempDir() ($TMPDIR). It never
	// needs more room than the archive's size.
	TempDir string
	// WholeIndexes serves every index as index.json names it, even one of
	// whose children the archive holds only some: the merge store completes
	// such indexes from other archives. Without it, such an index is served
	// as an index of the children the archive holds whole (see settle).
	WholeIndexes bool
	// Notef is told what a reader should know about an archive read (an
	// index served with only the platforms present, and its new digest), and
	// what a writer did beside the user's request (it removed the temporary
	// file a killed run left). Nil says nothing.
	Notef func(format string, args ...any)
	// Debugf is told how a compressed archive is read: each pass over its
	// stream, and why one more is needed. Nil says nothing.
	Debugf func(format string, args ...any)
}

// maxManifestSize bounds what is read into memory as one manifest, as for a
// registry.
const maxManifestSize = 4 << 20

// maxJSONSize bounds index.json, manifest.json and image configs.
const maxJSONSize = 64 << 20

// format is what an archive holds.
type format int

const (
	ociLayout  format = iota // index.json and blobs/
	dockerSave               // manifest.json, configs and layer tars
)

// Archive is an archive location opened for reading or writing. It is a
// store.Archive; Entries tells more about each image than Images does.
type Archive struct {
	loc   location.Location
	opts  Options
	files fileSet
	kind  format
	// unnamed is the repository of images the archive does not name.
	unnamed name.Repository

	mu      sync.Mutex
	entries []*entry
	// descs are the descriptors learnt for manifests: their media types.
	descs map[v1.Hash]v1.Descriptor
	// indexDoc is index.json as read, to keep its other fields on rewrite.
	indexDoc map[string]json.RawMessage

	// A docker save archive: its made-up manifests, and the file of each
	// config and layer.
	synth map[v1.Hash][]byte
	paths map[v1.Hash]string

	// w is the state of an archive opened for writing; nil when reading.
	w *writer

	// empty, when set, says why a read archive holds no image.
	empty error
	// layers are what each layer blob must uncompress to, learnt from the
	// image configs of the manifests read; checks are their results, once
	// per blob (see checkLayer).
	layers map[v1.Hash]layerWant
	checks map[v1.Hash]*layerCheck
	// sizes are the sizes the manifests read give their blobs.
	sizes map[v1.Hash]blobSize

	closeOnce sync.Once
	closeErr  error
}

// entry is one image of the archive: an index.json entry, or an image of a
// docker save archive under one of its names.
type entry struct {
	ref     name.Reference
	derived bool
	desc    v1.Descriptor
	// raw is the index.json entry as read, written back unchanged; nil for
	// an entry made in this run.
	raw   json.RawMessage
	fresh bool
	// damaged is why the image cannot be read (its manifest is not in the
	// archive, or none of its index's children is): the sentence every read
	// of it returns.
	damaged error
}

// Entry is one image an archive holds.
type Entry struct {
	// Name is the image's full name, docker.io/rancher/klipper-lb:v0.3.4. For
	// an image the archive does not name it is localhost/BASE:TAG or
	// localhost/BASE@DIGEST, BASE being the file's name.
	Name name.Reference
	// Descriptor is the root manifest: an index or an image manifest.
	Descriptor v1.Descriptor
	// Unnamed says that Name was made up: the archive gives no repository.
	Unnamed bool
}

var (
	_ store.Archive  = (*Archive)(nil)
	_ store.Store    = (*repository)(nil)
	_ store.Streamed = (*repository)(nil)
)

// Open opens an archive location for reading (write false) or writing (write
// true). Every error is one sentence that names the file; a bad archive is an
// errdefs.InvalidArgument error.
func Open(ctx context.Context, loc location.Location, write bool, opts Options) (store.Archive, error) {
	switch loc.Transport {
	case location.OCIDir, location.OCIArchive, location.DockerArchive:
	default:
		return nil, errdefs.New(errdefs.InvalidArgument, "%s is not an archive location", loc)
	}
	if loc.Path == "" {
		return nil, errdefs.New(errdefs.InvalidArgument, "%s names no path", loc)
	}
	if write {
		return openWrite(ctx, loc, opts)
	}
	return openRead(ctx, loc, opts)
}

func newArchive(loc location.Location, opts Options) *Archive {
	return &Archive{
		loc:     loc,
		opts:    opts,
		unnamed: unnamedRepository(loc.Path),
		descs:   map[v1.Hash]v1.Descriptor{},
		synth:   map[v1.Hash][]byte{},
		paths:   map[v1.Hash]string{},
		layers:  map[v1.Hash]layerWant{},
		checks:  map[v1.Hash]*layerCheck{},
		sizes:   map[v1.Hash]blobSize{},
	}
}

func openRead(ctx context.Context, loc location.Location, opts Options) (*Archive, error) {
	st, err := os.Stat(loc.Path)
	if err != nil {
		return nil, openError(loc.Path, err)
	}
	a := newArchive(loc, opts)
	if st.IsDir() {
		a.files = dirFiles{root: loc.Path}
	} else if a.files, err = openTar(ctx, loc.Path, opts, a.layerDigests); err != nil {
		return nil, err
	}
	if err := a.load(ctx); err != nil {
		a.files.close()
		return nil, err
	}
	if a.kind == ociLayout {
		if err := a.settle(ctx); err != nil {
			a.files.close()
			return nil, err
		}
	}
	return a, nil
}

// load reads what the archive holds, telling its format from its content.
func (a *Archive) load(ctx context.Context) error {
	if _, ok := a.files.size("index.json"); ok {
		return a.loadLayout()
	}
	if _, ok := a.files.size("manifest.json"); ok {
		a.kind = dockerSave
		return a.loadSave(ctx)
	}
	return errdefs.New(errdefs.InvalidArgument,
		"%s is neither an OCI image layout (it has no index.json) nor a docker save archive (it has no manifest.json)", a.loc.Path)
}

// readJSON reads a small file of the archive whole.
func (a *Archive) readJSON(name string) ([]byte, error) {
	rc, err := a.files.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSONSize+1))
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "cannot read %s in %s: %v", name, a.loc.Path, err)
	}
	if len(b) > maxJSONSize {
		return nil, errdefs.New(errdefs.InvalidArgument, "%s in %s is larger than %d MiB", name, a.loc.Path, maxJSONSize>>20)
	}
	return b, nil
}

// loadLayout reads index.json.
func (a *Archive) loadLayout() error {
	b, err := a.readJSON("index.json")
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s has an index.json that does not parse: %v", a.loc.Path, err)
	}
	if what := notIndex(doc); what != "" {
		return errdefs.New(errdefs.InvalidArgument, "%s is not an image index but %s: the layout is damaged; an OCI layout's index.json lists its images", a.filePath("index.json"), what)
	}
	var raws []json.RawMessage
	if m, ok := doc["manifests"]; ok && string(m) != "null" {
		if err := json.Unmarshal(m, &raws); err != nil {
			return errdefs.Wrap(err, errdefs.InvalidArgument, "%s has an index.json whose manifests do not parse: %v", a.loc.Path, err)
		}
	}
	a.indexDoc = doc
	for i, raw := range raws {
		var d v1.Descriptor
		if err := json.Unmarshal(raw, &d); err != nil {
			return errdefs.Wrap(err, errdefs.InvalidArgument, "%s has an index.json whose entry %d does not parse: %v", a.loc.Path, i+1, err)
		}
		if d.Digest.Hex == "" {
			return errdefs.New(errdefs.InvalidArgument, "%s has an index.json whose entry %d has no digest", a.loc.Path, i+1)
		}
		ref, derived := entryName(d.Annotations, d.Digest, a.unnamed)
		a.entries = append(a.entries, &entry{ref: ref, derived: derived, desc: d, raw: raw})
		if d.MediaType != "" {
			a.descs[d.Digest] = v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
		}
	}
	return nil
}

// String names the archive as the user wrote it.
func (a *Archive) String() string { return a.loc.Text }

// Place names the archive's blob space for a batch's ledger: every image of
// one archive shares its blobs.
func (a *Archive) Place() string {
	p, err := filepath.Abs(a.loc.Path)
	if err != nil {
		p = a.loc.Path
	}
	return "archive:" + p
}

// Images lists the images, each by its full name, in the archive's order;
// a name given twice is listed once. An archive read that holds no image is
// an error that says why: there is nothing to copy, and a copy of nothing is
// no success.
func (a *Archive) Images(ctx context.Context) ([]name.Reference, error) {
	var out []name.Reference
	for _, e := range a.Entries() {
		out = append(out, e.Name)
	}
	if len(out) == 0 && a.w == nil {
		if a.empty != nil {
			return nil, a.empty
		}
		return nil, errdefs.New(errdefs.InvalidArgument, "%s holds no image: there is nothing to copy", a.loc.Path)
	}
	return out, nil
}

// Entries lists the images with their root descriptors and whether their
// names were made up.
func (a *Archive) Entries() []Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Entry
	seen := map[string]bool{}
	for _, e := range a.ordered() {
		if seen[e.ref.Name()] {
			continue
		}
		seen[e.ref.Name()] = true
		out = append(out, Entry{Name: e.ref, Descriptor: e.desc, Unnamed: e.derived})
	}
	return out
}

// ordered is the entries as index.json lists them: those read first, in
// their order, then this run's, sorted by name so that the same images always
// make the same file. The caller holds a.mu.
func (a *Archive) ordered() []*entry {
	var old, fresh []*entry
	for _, e := range a.entries {
		if e.fresh {
			fresh = append(fresh, e)
		} else {
			old = append(old, e)
		}
	}
	slices.SortStableFunc(fresh, func(x, y *entry) int { return strings.Compare(x.ref.Name(), y.ref.Name()) })
	return append(old, fresh...)
}

// Repository is the store of one repository of the archive.
func (a *Archive) Repository(repo name.Repository) store.Store {
	return &repository{a: a, repo: repo}
}

// RepositoryAs is Repository for a repository the user named without a
// registry ("tools/bb" on a list line): its images are stored under that name
// as given (io.containerd.image.name "tools/bb:1.36"), which is what ctr and
// k3s import them as, rather than under docker.io. given "" is Repository.
func (a *Archive) RepositoryAs(repo name.Repository, given string) store.Store {
	return &repository{a: a, repo: repo, given: given}
}

// repository is one repository's view of an archive: its tags, and the blobs
// all of the archive's images share.
type repository struct {
	a    *Archive
	repo name.Repository
	// given is the repository as the user wrote it, "" to store the full name.
	given string
}

func (r *repository) String() string {
	n := r.repo.Name()
	if named, err := reference.ParseNormalizedNamed(n); err == nil {
		n = named.Name()
	}
	return fmt.Sprintf("%s (%s)", r.a.loc.Text, n)
}

// Place is the archive's: see Archive.Place.
func (r *repository) Place() string { return r.a.Place() }

func (r *repository) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	d, known, err := r.resolve(ref)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if known.MediaType != "" && r.a.hasBlob(d) {
		return known, nil
	}
	_, desc, err := r.a.manifest(d, known.MediaType)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return desc, nil
}

func (r *repository) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	d, known, err := r.resolve(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return r.a.manifest(d, known.MediaType)
}

// resolve turns a tag of this repository, or a digest, into the digest of a
// manifest and what is known of it.
func (r *repository) resolve(ref string) (v1.Hash, v1.Descriptor, error) {
	if h, err := v1.NewHash(ref); err == nil {
		r.a.mu.Lock()
		defer r.a.mu.Unlock()
		for _, e := range r.a.entries {
			if e.damaged != nil && e.desc.Digest == h {
				return v1.Hash{}, v1.Descriptor{}, e.damaged // an image named by its digest alone
			}
		}
		return h, r.a.descs[h], nil
	}
	r.a.mu.Lock()
	defer r.a.mu.Unlock()
	for _, e := range r.a.entries {
		t, ok := e.ref.(name.Tag)
		if ok && t.TagStr() == ref && sameRepository(t.Context(), r.repo) {
			if e.damaged != nil {
				return v1.Hash{}, v1.Descriptor{}, e.damaged
			}
			return e.desc.Digest, v1.Descriptor{MediaType: e.desc.MediaType, Digest: e.desc.Digest, Size: e.desc.Size}, nil
		}
	}
	return v1.Hash{}, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "%s has no image %s:%s", r.a.loc.Path, wording.FamiliarRepository(r.repo), ref)
}

func (r *repository) PutManifest(ctx context.Context, ref string, mt types.MediaType, body []byte) error {
	return r.a.putManifest(ctx, r.repo, r.given, ref, mt, body)
}

func (r *repository) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	return r.a.hasBlob(d), nil
}

// CheckLayer proves layer d uncompresses to the diff_id its config gives
// (store.LayerChecker), for a layer the copy will not read.
func (r *repository) CheckLayer(ctx context.Context, d v1.Hash) error {
	return r.a.checkLayer(d)
}

// BlobSize is the size of blob d's file (store.BlobSizer), so that a blob
// a manifest describes with another size is not taken as present.
func (r *repository) BlobSize(ctx context.Context, d v1.Hash) (int64, bool, error) {
	if b, ok := r.a.synth[d]; ok {
		return int64(len(b)), true, nil
	}
	f, ok := r.a.fileOf(d)
	if !ok {
		return 0, false, nil
	}
	n, ok := r.a.files.size(f)
	return n, ok, nil
}

func (r *repository) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	return r.a.openBlob(ctx, d)
}

// Expect says which blobs a copy will read (store.Streamed): a compressed
// archive, read as one stream, keeps those that pass before their reader
// asks for them.
func (r *repository) Expect(ctx context.Context, ds []v1.Hash) {
	s, ok := r.a.files.(*streamFiles)
	if !ok {
		return
	}
	var names []string
	for _, d := range ds {
		if _, synth := r.a.synth[d]; synth {
			continue
		}
		if f, ok := r.a.fileOf(d); ok {
			names = append(names, f)
		}
	}
	s.Expect(ctx, names)
}

// StreamOrder is where blob d passes in a compressed archive's stream
// (store.Streamed), and false when it is not read from the stream.
func (r *repository) StreamOrder(d v1.Hash) (int, bool) {
	s, ok := r.a.files.(*streamFiles)
	if !ok {
		return 0, false
	}
	if _, synth := r.a.synth[d]; synth {
		return 0, false
	}
	f, ok := r.a.fileOf(d)
	if !ok {
		return 0, false
	}
	return s.position(f)
}

func (r *repository) PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	return r.a.putBlob(ctx, d, size, body)
}

// blobName is where blob d is in an OCI layout. Only the digest algorithms
// the layout spec names are accepted, so a digest never makes a path.
func blobName(d v1.Hash) (string, bool) {
	switch d.Algorithm {
	case "sha256", "sha512":
	default:
		return "", false
	}
	if d.Hex == "" || strings.Trim(d.Hex, "0123456789abcdef") != "" {
		return "", false
	}
	return "blobs/" + d.Algorithm + "/" + d.Hex, true
}

// fileOf is the file that holds blob d, and false when there is none.
func (a *Archive) fileOf(d v1.Hash) (string, bool) {
	if a.kind == dockerSave {
		p, ok := a.paths[d]
		return p, ok
	}
	return blobName(d)
}

func (a *Archive) hasBlob(d v1.Hash) bool {
	if _, ok := a.synth[d]; ok {
		return true
	}
	f, ok := a.fileOf(d)
	if !ok {
		return false
	}
	_, ok = a.files.size(f)
	return ok
}

func (a *Archive) openBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	if b, ok := a.synth[d]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	f, ok := a.fileOf(d)
	if !ok {
		return nil, a.missingBlob(d)
	}
	if err := a.checkSize(d, f); err != nil {
		return nil, err
	}
	w, stream, err := a.layerToCheck(d)
	if err != nil {
		return nil, err
	}
	var rc io.ReadCloser
	size, sized := a.files.size(f)
	if s, ok := a.files.(*streamFiles); ok {
		if stream && s.hasDigests(f) {
			// A pass over the stream found the layer's diff_id already:
			// checking it again in this read would cost a second
			// decompression for nothing. Else it is checked in this read.
			if err := a.checkLayer(d); err != nil {
				return nil, err
			}
			stream = false
		}
		rc, err = s.openContext(ctx, f)
	} else {
		if stream && !sized {
			// Where its end is not known, the layer is checked whole first.
			if err := a.checkLayer(d); err != nil {
				return nil, err
			}
			stream = false
		}
		rc, err = a.files.open(f)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, a.missingBlob(d)
	}
	if err != nil {
		return nil, a.readError(err, "blob "+d.String())
	}
	if stream {
		return a.checkingReader(rc, d, f, size, w), nil
	}
	return rc, nil
}

// missingBlob is NotFound, as the store contract has it, and says what it
// means of a file: the archive is damaged or incomplete.
func (a *Archive) missingBlob(d v1.Hash) error {
	if f, ok := a.fileOf(d); ok && a.w == nil {
		return errdefs.New(errdefs.NotFound, "%s is damaged or incomplete: it lacks %s (blob %s)", a.loc.Path, f, d)
	}
	return errdefs.New(errdefs.NotFound, "blob %s is not in %s", d, a.loc.Path)
}

// readError is a failure to read a file of the archive: the disk's, not a
// network's, so nothing says to try again.
func (a *Archive) readError(err error, what string) error {
	return errdefs.Wrap(err, errdefs.InvalidArgument, "cannot read %s from %s: %v", what, a.loc.Path, err)
}

// filePath names a file of the archive: its path for a directory, FILE:NAME
// inside a tar.
func (a *Archive) filePath(name string) string {
	if _, ok := a.files.(dirFiles); ok {
		return filepath.Join(a.loc.Path, filepath.FromSlash(name))
	}
	return a.loc.Path + ":" + name
}

// manifest reads manifest d, checks it against its digest and describes it;
// mt is its media type when known.
func (a *Archive) manifest(d v1.Hash, mt types.MediaType) ([]byte, v1.Descriptor, error) {
	body, ok := a.synth[d]
	if !ok {
		f, ok := a.fileOf(d)
		if !ok || a.kind == dockerSave {
			// A docker save archive has no manifests but the ones made up.
			return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "manifest %s is not in %s", d, a.loc.Path)
		}
		size, ok := a.files.size(f)
		if !ok {
			return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "manifest %s is not in %s", d, a.loc.Path)
		}
		if size > maxManifestSize {
			return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "blob %s in %s is %d bytes, too large for a manifest", d, a.loc.Path, size)
		}
		rc, err := a.files.open(f)
		if err != nil {
			return nil, v1.Descriptor{}, a.readError(err, "manifest "+d.String())
		}
		body, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, v1.Descriptor{}, a.readError(err, "manifest "+d.String())
		}
		got, _, _ := v1.SHA256(bytes.NewReader(body))
		if got != d {
			return nil, v1.Descriptor{}, errdefs.New(errdefs.DigestMismatch,
				"%s is damaged: the file of manifest %s has digest %s", a.loc.Path, d, got)
		}
	}
	if mt == "" {
		var err error
		if mt, err = store.MediaType(body, ""); err != nil {
			return nil, v1.Descriptor{}, errdefs.Wrap(err, errdefs.NotFound, "blob %s in %s is not a manifest", d, a.loc.Path)
		}
	}
	desc := v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}
	a.mu.Lock()
	if a.descs[d].MediaType == "" {
		a.descs[d] = desc
	}
	a.mu.Unlock()
	if !ok && a.w == nil && mt.IsImage() {
		a.learnLayers(d, body)
	}
	return body, desc, nil
}

// Commit makes what was written final; see writer.commit. Reading archives
// commit nothing.
func (a *Archive) Commit(ctx context.Context) error {
	if a.w == nil {
		return nil
	}
	return a.commit(ctx)
}

// Close releases the archive. An archive written but not committed is
// removed: of a file nothing is left, of a directory only blobs that arrived
// whole (a re-run does not fetch them again) with index.json untouched.
func (a *Archive) Close() error {
	if a.w != nil {
		return a.closeWrite()
	}
	a.closeOnce.Do(func() { a.closeErr = a.files.close() })
	return a.closeErr
}

// SameFile reports whether two archive locations are the same file or
// directory, so that a copy from a file onto itself can be refused before
// anything is read.
func SameFile(x, y location.Location) bool {
	if !x.IsArchive() || !y.IsArchive() {
		return false
	}
	sx, errX := os.Stat(x.Path)
	sy, errY := os.Stat(y.Path)
	if errX == nil && errY == nil {
		return os.SameFile(sx, sy)
	}
	return canonicalPath(x.Path) == canonicalPath(y.Path)
}

// canonicalPath resolves the directory of a path that may not exist yet.
func canonicalPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	dir, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return filepath.Join(dir, base)
}
