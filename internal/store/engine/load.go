package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// tarTime is the modification time of every entry of the stream.
var tarTime = time.Unix(0, 0)

// Target is an engine opened as a DST: a store.Archive whose blobs stream
// into one image load. Opened to read only (a dry run, --check), it writes
// nothing and shows what the engine holds.
type Target struct {
	eng  *Engine
	loc  location.Location
	info Info

	// The load, once the first blob or manifest is written.
	mu        sync.Mutex
	started   bool
	pw        *io.PipeWriter
	buf       *bufio.Writer
	tw        *tar.Writer
	done      chan error
	broken    error
	written   map[v1.Hash]bool
	manifests map[v1.Hash][]byte
	entries   []tagEntry
	finished  bool
	readOnly  bool
	cancel    context.CancelFunc
	loaded    []string
	views     map[v1.Hash]*imageView
}

// tagEntry is one name the load gives.
type tagEntry struct {
	tag  name.Tag
	desc v1.Descriptor
}

var (
	_ store.Archive = (*Target)(nil)
	_ store.Store   = (*targetRepo)(nil)
)

// TargetOptions tune a target.
type TargetOptions struct {
	// Platforms is --platform.
	Platforms []v1.Platform
	// ReadOnly opens the engine only to read (--dry-run, --check).
	ReadOnly bool
}

// OpenTarget opens eng as the DST loc. It asks the engine what it is first,
// so that a missing engine is one sentence before anything is copied.
func OpenTarget(ctx context.Context, eng *Engine, loc location.Location, opts TargetOptions) (*Target, error) {
	info, err := eng.Probe(ctx)
	if err != nil {
		return nil, err
	}
	return &Target{
		eng: eng, loc: loc, info: info, readOnly: opts.ReadOnly,
		written: map[v1.Hash]bool{}, manifests: map[v1.Hash][]byte{},
	}, nil
}

// String names the engine as the user wrote it, with where it is.
func (t *Target) String() string {
	return fmt.Sprintf("%s (%s)", t.loc.Text, t.eng)
}

// Place names the engine for a batch's ledger: its images share one load.
func (t *Target) Place() string { return "engine:" + t.eng.String() }

// Info is what the engine said of itself.
func (t *Target) Info() Info { return t.info }

// OnePlatform reports an engine that holds one platform per image (the
// classic image store), and the platform it takes when none is asked for:
// its own, as `docker pull` picks.
func (t *Target) OnePlatform() (v1.Platform, bool) {
	return t.info.Platform, !t.info.Containerd
}

// Images lists nothing: an engine as a DST is a place.
func (t *Target) Images(ctx context.Context) ([]name.Reference, error) { return nil, nil }

// Repository is one repository's view of the engine.
func (t *Target) Repository(repo name.Repository) store.Store { return &targetRepo{t: t, repo: repo} }

// start opens the load: the POST's body is the read end of a pipe this
// target writes the tar into. The caller holds t.mu.
func (t *Target) start() error {
	if t.broken != nil {
		return t.broken
	}
	if t.finished {
		return errdefs.New(errdefs.InvalidArgument, "%s was already loaded", t)
	}
	if t.readOnly {
		return errdefs.New(errdefs.InvalidArgument, "%s is opened only to read", t)
	}
	if t.started {
		return nil
	}
	pr, pw := io.Pipe()
	// The load outlives the context of the image that started it: it ends at
	// Commit, or Close aborts it.
	ctx, cancel := context.WithCancel(context.Background())
	t.pw, t.cancel = pw, cancel
	t.buf = bufio.NewWriterSize(pw, 1<<20)
	t.tw = tar.NewWriter(t.buf)
	t.done = make(chan error, 1)
	t.started = true
	// No platform parameter (API 1.48): the stream holds only the platforms
	// asked for, since the plan filtered the index, so the engine loads all
	// of it, and engines before 1.48 take the same request.
	opts := []client.ImageLoadOption{client.ImageLoadWithQuiet(true)}
	go func() {
		err := t.load(ctx, pr, opts)
		// Whatever ended the request, writers must not block on the pipe.
		pr.CloseWithError(errLoadEnded(err))
		t.done <- err
	}()
	return t.writeEntry("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
}

func errLoadEnded(err error) error {
	if err == nil {
		return errors.New("the engine ended the load early")
	}
	return err
}

// load runs the POST and reads the engine's answer: JSON messages, of which
// an error one means the engine refused the archive.
func (t *Target) load(ctx context.Context, body io.Reader, opts []client.ImageLoadOption) error {
	resp, err := t.eng.client.ImageLoad(ctx, body, opts...)
	if err != nil {
		return t.refused(err)
	}
	defer resp.Close()
	dec := json.NewDecoder(resp)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return errdefs.Wrap(err, errdefs.Unavailable, "the Docker engine %s broke off the image load: %v", t.eng, err)
		}
		if m.Error != nil {
			return t.refused(errors.New(m.Error.Message))
		}
		if s, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), "Loaded image: "); ok {
			t.loaded = append(t.loaded, s)
		}
	}
}

func (t *Target) refused(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return errdefs.Wrap(err, errdefs.Unknown, "the Docker engine %s refused the images: %s", t.eng, firstLine(err.Error()))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// writeEntry writes a small file into the stream. The caller holds t.mu.
func (t *Target) writeEntry(name string, body []byte) error {
	if err := t.tw.WriteHeader(header(name, int64(len(body)))); err != nil {
		return t.breakStream(err)
	}
	if _, err := t.tw.Write(body); err != nil {
		return t.breakStream(err)
	}
	return nil
}

func header(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: tarTime, Format: tar.FormatPAX}
}

// breakStream records that the stream can take no more: a blob that broke
// halfway cannot be taken back out of a tar. Every later write fails with the
// same sentence, and the engine, whose stream is then cut, loads nothing.
func (t *Target) breakStream(cause error) error {
	if t.broken == nil {
		if errors.Is(cause, context.Canceled) {
			t.broken = cause
		} else {
			t.broken = errdefs.Wrap(cause, errdefs.Unknown, "the stream to the Docker engine %s broke: %s; nothing was loaded, run the same command again", t.eng, firstLine(cause.Error()))
		}
		t.pw.CloseWithError(t.broken)
	}
	return t.broken
}

// putBlob streams one blob into the load, checked against its digest as it
// goes. Blobs go in one at a time: a tar has one writer.
func (t *Target) putBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	name, ok := blobName(d)
	if !ok {
		return errdefs.New(errdefs.InvalidArgument, "blob digest %s cannot be loaded into an engine (sha256 only)", d)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return err
	}
	if t.written[d] {
		// Another image's copy put it in first. The copy trusts a store only
		// once it has read the whole body, so read it, beside the stream.
		t.mu.Unlock()
		_, err := io.Copy(io.Discard, store.ContextReader{Ctx: ctx, R: body})
		t.mu.Lock()
		return err
	}
	if err := t.tw.WriteHeader(header(name, size)); err != nil {
		return t.breakStream(err)
	}
	h := sha256.New()
	n, err := io.Copy(t.tw, io.TeeReader(store.ContextReader{Ctx: ctx, R: io.LimitReader(body, size)}, h))
	if err == nil && n != size {
		err = fmt.Errorf("blob %s ended after %d of its %d bytes", d, n, size)
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != d.Hex {
		err = errdefs.New(errdefs.DigestMismatch, "blob %s arrived with another digest", d)
	}
	if err != nil {
		return t.breakStream(err)
	}
	t.written[d] = true
	return nil
}

// putManifest streams a manifest as a blob; under a tag it also becomes a
// name the load gives, written at Commit.
func (t *Target) putManifest(repo name.Repository, ref string, mt types.MediaType, body []byte) error {
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	if want, err := v1.NewHash(ref); err == nil && want != d {
		return errdefs.New(errdefs.DigestMismatch, "manifest %s has digest %s", want, d)
	}
	var tag name.Tag
	byDigest := strings.HasPrefix(ref, "sha256:")
	if !byDigest {
		var err error
		if tag, err = name.NewTag(repo.Name() + ":" + ref); err != nil {
			return errdefs.Wrap(err, errdefs.InvalidArgument, "%q is not a valid tag for %s", ref, repo.Name())
		}
		if !t.info.Containerd && !mt.IsImage() {
			return errdefs.New(errdefs.InvalidArgument,
				"the Docker engine %s has the classic image store, which holds one platform per image, but %s is a multi-platform index: pick one platform with --platform",
				t.eng, wording.Familiar(tag))
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return err
	}
	if !t.written[d] {
		if err := t.writeEntry("blobs/sha256/"+d.Hex, body); err != nil {
			return err
		}
		t.written[d] = true
	}
	t.manifests[d] = body
	if byDigest {
		return nil
	}
	desc := v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}
	t.entries = slices.DeleteFunc(t.entries, func(e tagEntry) bool { return e.tag.Name() == tag.Name() })
	t.entries = append(t.entries, tagEntry{tag: tag, desc: desc})
	return nil
}

// Commit ends the stream with the names (index.json, manifest.json) and
// waits for the engine to load it. Nothing was written: nothing to load.
func (t *Target) Commit(ctx context.Context) error {
	t.mu.Lock()
	if !t.started || t.finished {
		t.mu.Unlock()
		return nil
	}
	err := t.finish()
	t.finished = true
	t.mu.Unlock()
	if err != nil {
		t.abort()
		return err
	}
	select {
	case err = <-t.done:
	case <-ctx.Done():
		t.abort()
		return ctx.Err()
	}
	t.cancel()
	return err
}

// finish writes the names and closes the stream. The caller holds t.mu.
func (t *Target) finish() error {
	if t.broken != nil {
		return t.broken
	}
	slices.SortFunc(t.entries, func(a, b tagEntry) int { return strings.Compare(a.tag.Name(), b.tag.Name()) })
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	var saved []saveImage
	for _, e := range t.entries {
		d := e.desc
		d.Annotations = map[string]string{archive.AnnotationImageName: normalized(e.tag), archive.AnnotationRefName: e.tag.TagStr()}
		index.Manifests = append(index.Manifests, d)
		if img, ok := t.saveEntry(e); ok {
			saved = append(saved, img)
		}
	}
	body, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := t.writeEntry("index.json", body); err != nil {
		return err
	}
	if saved == nil {
		saved = []saveImage{}
	}
	if body, err = json.Marshal(saved); err != nil {
		return err
	}
	if err := t.writeEntry("manifest.json", body); err != nil {
		return err
	}
	if err := t.tw.Close(); err != nil {
		return t.breakStream(err)
	}
	if err := t.buf.Flush(); err != nil {
		return t.breakStream(err)
	}
	return t.pw.Close()
}

// saveImage is one entry of manifest.json, which engines before 25 load from.
type saveImage struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// saveEntry is the manifest.json entry of an image manifest; an index has
// none (only containerd-store engines take one, from index.json).
func (t *Target) saveEntry(e tagEntry) (saveImage, bool) {
	if !e.desc.MediaType.IsImage() {
		return saveImage{}, false
	}
	m, err := v1.ParseManifest(bytes.NewReader(t.manifests[e.desc.Digest]))
	if err != nil {
		return saveImage{}, false
	}
	img := saveImage{Config: "blobs/sha256/" + m.Config.Digest.Hex, RepoTags: []string{wording.Familiar(e.tag)}, Layers: []string{}}
	for _, l := range m.Layers {
		img.Layers = append(img.Layers, "blobs/sha256/"+l.Digest.Hex)
	}
	return img, true
}

// abort cuts the stream: the engine gets a broken tar and loads nothing.
func (t *Target) abort() {
	t.mu.Lock()
	started := t.started
	if started && t.broken == nil {
		t.broken = errdefs.New(errdefs.Unknown, "the load into %s was abandoned", t.eng)
		t.pw.CloseWithError(t.broken)
	}
	t.mu.Unlock()
	if started {
		t.cancel()
		<-t.done
		t.done <- nil
	}
}

// Close abandons a load that was not committed, and waits for the engine's
// request to end.
func (t *Target) Close() error {
	t.mu.Lock()
	finished := t.finished
	t.mu.Unlock()
	if !finished {
		t.abort()
	}
	return nil
}

// Loaded lists the names the engine said it loaded.
func (t *Target) Loaded() []string { return t.loaded }

// blobName is a blob's file in the stream.
func blobName(d v1.Hash) (string, bool) {
	if d.Algorithm != "sha256" || len(d.Hex) != 64 || strings.Trim(d.Hex, "0123456789abcdef") != "" {
		return "", false
	}
	return "blobs/sha256/" + d.Hex, true
}

// normalized is a tag as containerd names images: docker.io/library/nginx:1.27
// (go-containerregistry says index.docker.io, which the engine would keep as
// another registry's name).
func normalized(t name.Tag) string {
	if named, err := reference.ParseNormalizedNamed(t.Name()); err == nil {
		return named.String()
	}
	return t.Name()
}

// targetRepo is one repository's view of a target. What the engine already
// holds under a tag is shown as a made-up manifest of its layers (see
// view.go), so that --check and --dry-run can compare; a copy asks
// HeldImage (held.go) whether the engine holds the planned image already.
type targetRepo struct {
	t    *Target
	repo name.Repository
}

func (r *targetRepo) String() string { return fmt.Sprintf("%s (%s)", r.t.loc.Text, r.repo.Name()) }

// Place is the engine's: see Target.Place.
func (r *targetRepo) Place() string { return r.t.Place() }

func (r *targetRepo) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	_, d, err := r.GetManifest(ctx, ref)
	return d, err
}

func (r *targetRepo) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	if h, err := v1.NewHash(ref); err == nil {
		r.t.mu.Lock()
		body, ok := r.t.manifests[h]
		r.t.mu.Unlock()
		if ok {
			mt, _ := store.MediaType(body, "")
			return body, v1.Descriptor{MediaType: mt, Digest: h, Size: int64(len(body))}, nil
		}
		if v, ok := r.t.viewOf(h); ok {
			return v.manifest, v.desc, nil
		}
		return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "manifest %s is not in %s", h, r.t)
	}
	if !r.t.readOnly {
		// An engine keeps no manifest digest that a registry's source could
		// be compared with: the plan asks HeldImage what the tag names.
		return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "%s:%s is compared by content in %s", r.repo.Name(), ref, r.t)
	}
	v, err := r.t.view(ctx, r.repo.Tag(ref))
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return v.manifest, v.desc, nil
}

func (r *targetRepo) PutManifest(ctx context.Context, ref string, mt types.MediaType, body []byte) error {
	return r.t.putManifest(r.repo, ref, mt, body)
}

func (r *targetRepo) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if r.t.written[d] {
		return true, nil
	}
	if r.t.readOnly {
		return r.t.viewHasBlob(d), nil
	}
	return false, nil
}

func (r *targetRepo) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	if b, ok := r.t.viewBlob(d); ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return nil, errdefs.New(errdefs.NotFound, "blob %s cannot be read back from %s", d, r.t)
}

func (r *targetRepo) PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	return r.t.putBlob(ctx, d, size, body)
}

// matchPlatform reports whether an image's platform is one of want.
func matchPlatform(want []v1.Platform, have v1.Platform) bool {
	return slices.ContainsFunc(want, func(p v1.Platform) bool { return platforms.Match(p, have) })
}
