package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layoutFile is the oci-layout file of every layout written.
const layoutFile = `{"imageLayoutVersion":"1.0.0"}`

// writer is the state of an archive opened for writing.
type writer struct {
	// root is the directory written (oci:DIR); "" for an archive file, which
	// stream writes.
	root string
	// target is FILE for an archive file, "" for a directory.
	target string
	comp   compression
	// docker restricts a docker-archive to single-platform images, which is
	// all `docker load` reads.
	docker bool
	// stream is the archive file being written, for a target file.
	stream *tarStream

	mu        sync.Mutex
	temps     map[string]bool
	committed bool
	closed    bool
}

func openWrite(ctx context.Context, loc location.Location, opts Options) (*Archive, error) {
	a := newArchive(loc, opts)
	a.w = &writer{temps: map[string]bool{}}
	if loc.Transport == location.OCIDir {
		if err := a.openDir(); err != nil {
			return nil, err
		}
		return a, nil
	}
	target := loc.Path
	dir := filepath.Dir(target)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, errdefs.New(errdefs.InvalidArgument, "%s cannot be written: directory %s does not exist", target, dir)
	}
	if st, err := os.Stat(target); err == nil {
		switch {
		case st.IsDir():
			return nil, errdefs.New(errdefs.InvalidArgument, "%s is a directory: an archive file cannot replace it", target)
		case !opts.Force:
			return nil, errdefs.New(errdefs.InvalidArgument, "%s exists: pass --force to replace it", target)
		}
	}
	for _, n := range sweepTemps(target) {
		if opts.Notef != nil {
			opts.Notef("note: removed %s, left in %s by an earlier run that did not finish", n, dir)
		}
	}
	stream, err := openStream(target, compressionFor(target))
	if err != nil {
		return nil, err
	}
	a.w.target, a.w.stream = target, stream
	a.w.docker = loc.Transport == location.DockerArchive
	a.files = stream
	return a, nil
}

// openDir opens oci:DIR for writing: a new directory, an empty one, or an OCI
// layout, to which images are added (an image of the same name is replaced).
func (a *Archive) openDir() error {
	dir := a.loc.Path
	a.w.root = dir
	a.files = dirFiles{root: dir}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(filepath.Clean(dir))
		if pst, err := os.Stat(parent); err != nil || !pst.IsDir() {
			return errdefs.New(errdefs.InvalidArgument, "%s cannot be written: directory %s does not exist", dir, parent)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return writeError(err, dir, parent)
		}
		return nil
	case err != nil:
		return openError(dir, err)
	case !st.IsDir():
		return errdefs.New(errdefs.InvalidArgument, "%s is a file, not a directory: write an oci-archive: to make a tar", dir)
	}
	if _, ok := a.files.size("index.json"); ok {
		return a.loadLayout()
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return openError(dir, err)
	}
	for _, n := range names {
		// Blobs of an interrupted run, or the layout file alone, are fine.
		if n.Name() != "blobs" && n.Name() != "oci-layout" && !strings.HasPrefix(n.Name(), ".") {
			return errdefs.New(errdefs.InvalidArgument, "%s is neither empty nor an OCI image layout: choose another directory", dir)
		}
	}
	return nil
}

// writeError says why a file could not be made in dir.
func writeError(err error, target, dir string) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s cannot be written: permission denied in %s", target, dir)
	case errors.Is(err, syscall.ENOSPC):
		return errdefs.Wrap(err, errdefs.Unknown, "%s cannot be written: no space left in %s", target, dir)
	case errors.Is(err, syscall.EROFS):
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s cannot be written: %s is on a read-only file system", target, dir)
	}
	return errdefs.Wrap(err, errdefs.Unknown, "%s cannot be written: %v", target, err)
}

// writable reports an archive that takes no more writes.
func (a *Archive) writable() error {
	if a.w == nil {
		return errdefs.New(errdefs.InvalidArgument, "%s was opened for reading, not writing", a.loc.Path)
	}
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	if a.w.committed || a.w.closed {
		return errdefs.New(errdefs.InvalidArgument, "%s is already committed or closed", a.loc.Path)
	}
	return nil
}

// tempFile makes a temporary file in the root, tracked so that Close removes
// it if it was never renamed.
func (a *Archive) tempFile(pattern string) (*pendingFile, error) {
	f, err := createPending(a.w.root, pattern)
	if err != nil {
		return nil, writeError(err, a.loc.Path, a.w.root)
	}
	a.w.mu.Lock()
	a.w.temps[f.Name()] = true
	a.w.mu.Unlock()
	return f, nil
}

func (a *Archive) dropTemp(path string, remove bool) {
	if remove {
		os.Remove(path)
	}
	a.w.mu.Lock()
	delete(a.w.temps, path)
	a.w.mu.Unlock()
}

// putBlob streams body into a temporary file and renames it to its blob name
// only once body was read to its end and checked: by the reader itself when
// it can say so (the copy engine's digest verifier), else by hashing here.
// Nothing is held in memory but a copy buffer.
func (a *Archive) putBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	if err := a.writable(); err != nil {
		return err
	}
	final, ok := blobName(d)
	if !ok {
		return errdefs.New(errdefs.InvalidArgument, "blob digest %s cannot be stored in an OCI layout", d)
	}
	if a.w.stream != nil {
		if size < 0 {
			return errdefs.New(errdefs.InvalidArgument, "blob %s has no size, which %s needs to store it", d, a.loc.Path)
		}
		return a.w.stream.putBlob(ctx, final, d, size, body)
	}
	r, verified := checkedBody(ctx, body)
	return a.writeBlobFile(final, d, func(f *os.File) error {
		n, err := io.Copy(f, r)
		if err != nil {
			if e, ok := errors.AsType[*errdefs.Error](err); ok {
				return e // the verifier's digest mismatch, as it said it
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) && pathErr.Path == f.Name() {
				return writeError(err, a.loc.Path, a.w.root)
			}
			return err
		}
		if size >= 0 && n != size {
			return errdefs.New(errdefs.DigestMismatch, "blob %s: %d bytes arrived, not the %d its manifest gives", d, n, size)
		}
		return verified(d)
	})
}

// checkedBody reads body, stopping when ctx is cancelled; verified, once it
// was read to its end, says whether it had digest d: by the reader itself
// when it can say so (the copy engine's digest verifier), else by the hash
// taken here.
func checkedBody(ctx context.Context, body io.Reader) (r io.Reader, verified func(d v1.Hash) error) {
	r = store.ContextReader{Ctx: ctx, R: body}
	if v, ok := body.(store.Verifier); ok {
		return r, func(v1.Hash) error { return v.Verified() }
	}
	h := sha256.New()
	return io.TeeReader(r, h), func(d v1.Hash) error {
		if got := (v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}); d.Algorithm == "sha256" && got != d {
			return errdefs.New(errdefs.DigestMismatch, "blob %s arrived with digest %s", d, got)
		}
		return nil
	}
}

// writeBlobFile writes a blob through fill into a temporary file, then gives
// it its name.
func (a *Archive) writeBlobFile(final string, d v1.Hash, fill func(*os.File) error) error {
	dst := filepath.Join(a.w.root, filepath.FromSlash(final))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return writeError(err, a.loc.Path, a.w.root)
	}
	f, err := a.tempFile(".blob-" + d.Hex[:min(12, len(d.Hex))] + "-*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() { a.dropTemp(f.Name(), !renamed) }()
	if err := fill(f.File); err != nil {
		f.Close()
		return err
	}
	if err := f.commit(dst); err != nil {
		return writeError(err, a.loc.Path, a.w.root)
	}
	renamed = true
	return nil
}

// putManifest writes a manifest as a blob; under a tag it also becomes the
// image's index.json entry (in memory until Commit), replacing an entry of the
// same name.
func (a *Archive) putManifest(ctx context.Context, repo name.Repository, given, ref string, mt types.MediaType, body []byte) error {
	if err := a.writable(); err != nil {
		return err
	}
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	want, err := v1.NewHash(ref)
	byDigest := err == nil
	if byDigest && want != d {
		return errdefs.New(errdefs.DigestMismatch, "manifest %s has digest %s", want, d)
	}
	var tag name.Tag
	if !byDigest {
		if tag, err = name.NewTag(repo.Name() + ":" + ref); err != nil {
			return errdefs.Wrap(err, errdefs.InvalidArgument, "%q is not a valid tag for %s", ref, wording.FamiliarRepository(repo))
		}
		if a.w.docker && !mt.IsImage() {
			return errdefs.New(errdefs.InvalidArgument,
				"%s can hold only single-platform images, which is all docker load reads, but %s is %s: pick one platform with --platform",
				a.loc.Path, wording.Familiar(tag), describeType(mt))
		}
	}
	if s := a.w.stream; s != nil {
		// Manifests go into the tar at Commit, the ones the images name:
		// they are small, and one of an image that failed is left out.
		s.putInline("blobs/sha256/"+d.Hex, body)
	} else if !a.hasBlob(d) {
		if err := a.writeBlobFile("blobs/sha256/"+d.Hex, d, func(f *os.File) error {
			_, err := f.Write(body)
			return err
		}); err != nil {
			return err
		}
	}
	desc := v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.descs[d] = desc
	if byDigest {
		return nil
	}
	stored := normalizedName(tag)
	if given != "" {
		stored = given + ":" + tag.TagStr()
	}
	desc.Annotations = map[string]string{
		AnnotationImageName: stored,
		AnnotationRefName:   tag.TagStr(),
	}
	e := &entry{ref: tag, desc: desc, fresh: true}
	for i, old := range a.entries {
		if old.ref.Name() == tag.Name() {
			// Replaced where it was, so an image keeps its place in the list.
			e.fresh = old.fresh
			a.entries[i] = e
			return nil
		}
	}
	a.entries = append(a.entries, e)
	return nil
}

func describeType(mt types.MediaType) string {
	if mt.IsIndex() {
		return "a multi-platform index (" + string(mt) + ")"
	}
	return "of media type " + string(mt)
}

// commit writes index.json, manifest.json and oci-layout: into the directory
// (index.json last, each file through a temporary name), or with every blob
// into a tar, compressed by the target's extension, under a temporary name
// renamed over the target once complete.
func (a *Archive) commit(ctx context.Context) error {
	a.w.mu.Lock()
	done, closed := a.w.committed, a.w.closed
	a.w.mu.Unlock()
	switch {
	case done:
		return nil
	case closed:
		return errdefs.New(errdefs.InvalidArgument, "%s is closed", a.loc.Path)
	}
	a.mu.Lock()
	entries := a.ordered()
	a.mu.Unlock()
	index, err := a.indexJSON(entries)
	if err != nil {
		return err
	}
	manifest, err := a.dockerManifest(entries)
	if err != nil {
		return err
	}
	if a.w.stream != nil {
		// oci-layout began the tar.
		meta := []metaFile{{"index.json", index}}
		if manifest != nil {
			meta = append(meta, metaFile{"manifest.json", manifest})
		}
		err = a.w.stream.finish(ctx, a.namedManifests(entries), meta)
	} else {
		meta := []metaFile{{"oci-layout", []byte(layoutFile)}, {"index.json", index}}
		if manifest != nil {
			meta = append(meta, metaFile{"manifest.json", manifest})
		}
		err = a.commitDir(meta, manifest == nil)
	}
	if err != nil {
		return err
	}
	a.w.mu.Lock()
	a.w.committed = true
	a.w.mu.Unlock()
	return nil
}

type metaFile struct {
	name string
	body []byte
}

func (a *Archive) commitDir(meta []metaFile, dropManifest bool) error {
	// index.json is the commit point: written last, after what it names.
	slices.SortStableFunc(meta, func(x, y metaFile) int {
		return boolInt(x.name == "index.json") - boolInt(y.name == "index.json")
	})
	if dropManifest {
		// One left by an earlier export names images no longer described.
		os.Remove(filepath.Join(a.w.root, "manifest.json"))
	}
	for _, m := range meta {
		if err := a.writeFileAtomic(m.name, m.body); err != nil {
			return err
		}
	}
	return syncDir(a.w.root)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *Archive) writeFileAtomic(name string, body []byte) error {
	f, err := a.tempFile("." + name + "-*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() { a.dropTemp(f.Name(), !renamed) }()
	if _, err := f.Write(body); err != nil {
		f.Close()
		return writeError(err, a.loc.Path, a.w.root)
	}
	if err := f.commit(filepath.Join(a.w.root, name)); err != nil {
		return writeError(err, a.loc.Path, a.w.root)
	}
	renamed = true
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some file systems cannot sync a directory; the files themselves are synced.
	_ = d.Sync()
	return nil
}

// indexJSON is index.json: the entries read (unchanged), then this run's,
// keeping the other fields of an index.json that was there.
func (a *Archive) indexJSON(entries []*entry) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"schemaVersion":2,"mediaType":"` + string(types.OCIImageIndex) + `","manifests":[`)
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		raw := e.raw
		if raw == nil {
			var err error
			if raw, err = json.Marshal(e.desc); err != nil {
				return nil, err
			}
		}
		buf.Write(raw)
	}
	buf.WriteByte(']')
	var keys []string
	for k := range a.indexDoc {
		if k != "schemaVersion" && k != "mediaType" && k != "manifests" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(a.indexDoc[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// dockerManifest is manifest.json, for engines that read only that (dockerd
// before 25 runs `docker load` from it): one entry per image, for one platform
// of it, like containerd's export. For an index that is the first of
// Options.Platforms it has, else the host's, else its first platform; an image
// whose chosen manifest is not whole in the archive is left out (a sparse
// archive). Names that share a manifest share its entry. It is nil when no
// image qualifies.
func (a *Archive) dockerManifest(entries []*entry) ([]byte, error) {
	var out []*saveImage
	byManifest := map[v1.Hash]*saveImage{}
	for _, e := range entries {
		md, m, ok := a.pickImage(e.desc)
		if !ok {
			continue
		}
		img := byManifest[md]
		if img == nil {
			img = &saveImage{Config: "blobs/sha256/" + m.Config.Digest.Hex, RepoTags: []string{}}
			for _, l := range m.Layers {
				img.Layers = append(img.Layers, "blobs/sha256/"+l.Digest.Hex)
			}
			byManifest[md] = img
			out = append(out, img)
		}
		if t, ok := e.ref.(name.Tag); ok && !e.derived {
			if n := wording.Familiar(t); !slices.Contains(img.RepoTags, n) {
				img.RepoTags = append(img.RepoTags, n)
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return json.Marshal(out)
}

// pickImage chooses the image manifest manifest.json gives for a root.
func (a *Archive) pickImage(root v1.Descriptor) (v1.Hash, *v1.Manifest, bool) {
	body, desc, err := a.manifest(root.Digest, root.MediaType)
	if err != nil {
		return v1.Hash{}, nil, false
	}
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return v1.Hash{}, nil, false
		}
		child, ok := a.pickPlatform(idx.Manifests)
		if !ok {
			return v1.Hash{}, nil, false
		}
		if body, desc, err = a.manifest(child.Digest, child.MediaType); err != nil || !desc.MediaType.IsImage() {
			return v1.Hash{}, nil, false
		}
	}
	if !desc.MediaType.IsImage() {
		return v1.Hash{}, nil, false
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil || m.Config.Digest.Algorithm != "sha256" || !a.hasBlob(m.Config.Digest) {
		return v1.Hash{}, nil, false
	}
	for _, l := range m.Layers {
		if l.Digest.Algorithm != "sha256" || !a.hasBlob(l.Digest) {
			return v1.Hash{}, nil, false
		}
	}
	return desc.Digest, m, true
}

// pickPlatform chooses among an index's platform images that are in the archive.
func (a *Archive) pickPlatform(children []v1.Descriptor) (v1.Descriptor, bool) {
	var candidates []v1.Descriptor
	for _, c := range children {
		if c.Platform == nil || platforms.IsUnknown(c.Platform) || !c.MediaType.IsImage() || !a.hasBlob(c.Digest) {
			continue
		}
		candidates = append(candidates, c)
	}
	if len(candidates) == 0 {
		return v1.Descriptor{}, false
	}
	prefs := append(slices.Clone(a.opts.Platforms), v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH})
	for _, p := range prefs {
		for _, c := range candidates {
			if platforms.Match(p, *c.Platform) {
				return c, true
			}
		}
	}
	return candidates[0], true
}

// namedManifests lists the manifest files the entries need, so that those of
// an image that failed halfway do not go into the tar. When a manifest cannot
// be parsed, every manifest written goes in.
func (a *Archive) namedManifests(entries []*entry) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(d v1.Hash, depth int) bool
	walk = func(d v1.Hash, depth int) bool {
		f, ok := blobName(d)
		if !ok || seen[f] || !a.hasBlob(d) {
			return true // a sparse index names children that are not here
		}
		seen[f] = true
		out = append(out, f)
		if depth > 8 {
			return false
		}
		body, _, err := a.manifest(d, "")
		if err != nil {
			return false
		}
		var m struct {
			Manifests []v1.Descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return false
		}
		for _, c := range m.Manifests {
			if !walk(c.Digest, depth+1) {
				return false
			}
		}
		return true
	}
	for _, e := range entries {
		if !walk(e.desc.Digest, 0) {
			return a.w.stream.inlineNames()
		}
	}
	slices.Sort(out)
	return out
}

// tarTime is the modification time of every file in a tar written here: the
// same images always make the same bytes.
var tarTime = time.Unix(0, 0)

func fileHeader(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: tarTime}
}

// closeWrite ends a write. Without a Commit an archive file's work directory
// and partial tar are removed; a directory keeps the blobs that arrived whole
// (they are correct under their names, and a re-run does not fetch them
// again) and its index.json as it was.
func (a *Archive) closeWrite() error {
	a.w.mu.Lock()
	if a.w.closed {
		a.w.mu.Unlock()
		return nil
	}
	a.w.closed = true
	committed := a.w.committed
	temps := make([]string, 0, len(a.w.temps))
	for t := range a.w.temps {
		temps = append(temps, t)
	}
	a.w.mu.Unlock()
	var errs []error
	for _, t := range temps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if s := a.w.stream; s != nil {
		if !committed {
			// Without a Commit nothing is left of the file.
			if err := s.discard(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
