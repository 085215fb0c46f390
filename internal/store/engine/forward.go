package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
	"golang.org/x/sync/errgroup"
)

// Out of an engine into a registry, the save stream is read once and nothing
// of it is spooled: each layer is compressed (in parallel) and put into the
// destination repository as it streams, with its digest known only at its
// end (store.StreamPutter), while the small files (configs, manifests,
// manifest.json, index.json) are kept in memory. Once the stream has ended,
// the image is presented with those compressed layers (a streamedImage): the
// copy then finds every layer at the destination and pushes only the config
// and the manifests, the tag last. A failure or an interrupt leaves blobs
// without a tag, never a tag.

// Compression is deterministic, so that a layer compressed again gives the
// same digest (what LayerRecord relies on): one library (pgzip), one level,
// one block size, and no name or time in the gzip header. pgzip compresses
// each block with the end of the one before as its dictionary, so its output
// depends on the block size but not on how many blocks are compressed at
// once (gzipBlocks, the parallelism) nor on how the input is written
// (TestCompressionDeterministic).
const (
	gzipLevel     = gzip.DefaultCompression
	gzipBlockSize = 1 << 20
)

// gzipBlocks is how many blocks are compressed at once: one per core.
var gzipBlocks = max(runtime.GOMAXPROCS(0), 2)

// newGzip is the layer compressor, writing to w.
func newGzip(w io.Writer, blocks int) *pgzip.Writer {
	zw, _ := pgzip.NewWriterLevel(w, gzipLevel)
	_ = zw.SetConcurrency(gzipBlockSize, blocks)
	return zw
}

// maxPendingUploads bounds the uploads still finishing while the stream
// goes on.
const maxPendingUploads = 4

// maxSmallFile bounds what of a save is kept in memory: configs, manifests
// and the archive's JSON files. A file larger than that which is not a layer
// is not something `docker load` reads either.
const maxSmallFile = 16 << 20

// Forward reads the image out of the engine once, putting its layers into
// dst as they stream when dst is a registry repository (store.Forwarder);
// for any other destination it puts nothing, and the save is spooled when
// the copy reads it.
func (r *sourceRepo) Forward(ctx context.Context, dst store.Store, ref string, pw *progress.Writer, claims store.LayerClaimer) (store.Forwarded, error) {
	sp, ok := dst.(store.StreamPutter)
	if !ok {
		return nil, nil
	}
	var fwd store.Forwarded
	ran := false
	r.s.once.Do(func() {
		ran = true
		fwd, r.s.err = r.s.stream(ctx, dst, ref, sp, pw, claims)
	})
	if !ran {
		return nil, r.s.err
	}
	return fwd, r.s.err
}

// saveStream is one read of an engine's save stream into a destination.
type saveStream struct {
	s   *Source
	dst store.Store
	sp  store.StreamPutter
	pw  *progress.Writer
	// host and repo name the destination for the record (repo is the
	// repository's path in host).
	host, repo string
	rec        *manifestcache.LayerRecord
	// claims, when not nil, say which layers another image of the run is
	// sending into the same registry now (a classic layer by diff_id, an
	// OCI layout's blob by digest).
	claims store.LayerClaimer
	// chain are the image's chain IDs, by which a classic layer is known
	// before it is read (v1LayerID).
	chain []v1.Hash
	// tagged are the layers of the image the destination tag points at, by
	// diff_id (underTag, read once).
	tagged   func() map[v1.Hash]v1.Descriptor
	underTag map[v1.Hash]v1.Descriptor
	// uploads finish each layer's upload (its last bytes, the commit) while
	// the stream goes on to the next layer; upCtx ends with the first that
	// fails. mu guards what they fill in (layers, blobs, fwd).
	uploads *errgroup.Group
	upCtx   context.Context
	mu      sync.Mutex

	files  map[string][]byte        // small files by path
	links  map[string]string        // symlink path → the path it names
	layers map[string]streamedLayer // classic layers by path (NAME/layer.tar)
	blobs  map[v1.Hash]int64        // OCI layout blobs at the destination
	fwd    store.Forwarded          // what this read put there
	wantID map[v1.Hash]bool         // the image's diff_ids, as the engine gave them
}

// streamedLayer is a classic layer once streamed: what it uncompressed to,
// and the blob it became at the destination.
type streamedLayer struct {
	diffID v1.Hash
	desc   v1.Descriptor
}

// stream reads the save of the image into dst and presents what it read.
func (s *Source) stream(ctx context.Context, dst store.Store, ref string, sp store.StreamPutter, pw *progress.Writer, claims store.LayerClaimer) (store.Forwarded, error) {
	sv := &saveStream{s: s, dst: dst, sp: sp, pw: pw, rec: s.opts.Layers, claims: claims,
		files: map[string][]byte{}, links: map[string]string{}, layers: map[string]streamedLayer{},
		blobs: map[v1.Hash]int64{}, fwd: store.Forwarded{}, wantID: map[v1.Hash]bool{}}
	if p, ok := dst.(store.Placed); ok {
		sv.host = p.Place()
		// A registry repository is named HOST/PATH.
		sv.repo = strings.TrimPrefix(dst.String(), sv.host+"/")
	}
	for _, d := range s.diffIDs {
		sv.wantID[d] = true
	}
	sv.chain = chainIDs(s.diffIDs)
	// What the destination tag holds now, asked while the engine starts
	// its save: a run again without a record, or after a `docker push`.
	tagged := make(chan map[v1.Hash]v1.Descriptor, 1)
	go func() { tagged <- taggedLayers(ctx, dst, ref, s.platform) }()
	sv.tagged = func() map[v1.Hash]v1.Descriptor {
		if sv.underTag == nil {
			sv.underTag = <-tagged
			if sv.underTag == nil {
				sv.underTag = map[v1.Hash]v1.Descriptor{}
			}
		}
		return sv.underTag
	}
	if s.notify != nil {
		s.notify("reading %s from the Docker engine %s, its layers straight into %s", reference.FamiliarString(mustNamed(s.image)), s.eng, dst)
	}
	rc, err := s.openSave(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sv.uploads, sv.upCtx = errgroup.WithContext(ctx)
	sv.uploads.SetLimit(maxPendingUploads)
	err = sv.read(ctx, rc)
	if uerr := sv.uploads.Wait(); uerr != nil {
		err = uerr // an upload's failure stopped the read
	}
	if err != nil {
		if ctx.Err() != nil {
			// What arrived whole is said: a run again finds it there.
			return sv.fwd, ctx.Err()
		}
		if _, ok := err.(*errdefs.Error); ok {
			return nil, err
		}
		return nil, errdefs.Wrap(err, errdefs.Unknown, "cannot read the save of %s from the Docker engine %s: %v", s.image, s.eng, err)
	}
	img, err := sv.image(ctx)
	if err != nil {
		return nil, err
	}
	s.archive = img
	return sv.fwd, nil
}

// read goes through the save stream once.
func (sv *saveStream) read(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(store.ContextReader{Ctx: ctx, R: r})
	for {
		if sv.upCtx.Err() != nil {
			return nil // an upload failed: Wait says why
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			// dockerd links a layer two images share to the first copy.
			if !path.IsAbs(h.Linkname) {
				sv.links[name] = path.Clean(path.Join(path.Dir(name), h.Linkname))
			}
		case tar.TypeReg:
			if err := sv.file(ctx, name, h.Size, tr); err != nil {
				return err
			}
		}
	}
}

// file takes one regular file of the stream: a classic layer, a blob of an
// OCI layout, or a small file kept.
func (sv *saveStream) file(ctx context.Context, name string, size int64, r io.Reader) error {
	if path.Base(name) == "layer.tar" {
		return sv.classicLayer(ctx, name, size, r)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(1)
	d, isBlob := blobDigest(name)
	if isBlob && (size > maxSmallFile || len(head) == 0 || head[0] != '{') {
		return sv.ociBlob(ctx, d, size, br)
	}
	if size > maxSmallFile {
		_, err := io.Copy(io.Discard, br)
		return err
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return err
	}
	if isBlob {
		if got, _, _ := v1.SHA256(strings.NewReader(string(data))); got != d {
			return errdefs.New(errdefs.DigestMismatch, "the Docker engine %s saved blob %s of %s with digest %s: run again, and if it persists, check the engine's storage", sv.s.eng, d, sv.s.image, got)
		}
	}
	sv.files[name] = data
	return nil
}

// blobDigest reads the digest an OCI layout's blob path names.
func blobDigest(name string) (v1.Hash, bool) {
	rest, ok := strings.CutPrefix(name, "blobs/")
	if !ok {
		return v1.Hash{}, false
	}
	alg, hex, ok := strings.Cut(rest, "/")
	if !ok {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(alg + ":" + hex)
	return h, err == nil
}

// classicLayer puts one uncompressed layer of a classic save into the
// destination: read past when a record says what it was compressed to there
// and the destination has that blob (a run again), else compressed as it
// streams. Either way it must uncompress to the diff_id it was known by (or,
// when it could not be known before, one of the image's) before anything is
// committed or kept.
func (sv *saveStream) classicLayer(ctx context.Context, name string, size int64, r io.Reader) error {
	dir := path.Dir(name)
	id := path.Base(dir)
	short := id[:min(len(id), 12)]
	want := sv.wantID
	diffID, known := sv.layerDiffID(dir)
	finish := func(bool) {}
	var t *progress.Task
	if known {
		want = map[v1.Hash]bool{diffID: true}
		d, ok, claim, err := sv.claimed(ctx, diffID, "layer "+short, size)
		if err != nil {
			return err
		}
		if claim.owned != nil {
			finish = claim.owned.Finish
		}
		t = claim.waited
		if ok {
			h := sha256.New()
			if _, err := io.Copy(h, r); err != nil {
				return err
			}
			if got := (v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}); got != diffID {
				return errdefs.New(errdefs.DigestMismatch, "layer %s of %s from the Docker engine %s uncompresses to %s, not %s; run again, and if it persists, check the engine's storage", short, wording.Familiar(sv.s.image), sv.s.eng, got, diffID)
			}
			if t != nil {
				t.Done("exists")
			}
			sv.mu.Lock()
			sv.layers[name] = streamedLayer{diffID: diffID, desc: d}
			sv.mu.Unlock()
			return nil
		}
	}
	if t == nil {
		t = sv.pw.Task(sv.s.label, "layer "+short, size)
	}
	body := newCompressor(sv.upCtx, r, t, want)
	sv.uploads.Go(func() (err error) {
		// Another image of the run waiting for this layer finds it (the
		// record) once it is committed, or sends it itself.
		defer func() { finish(err == nil) }()
		desc, err := sv.sp.PutBlobStream(sv.upCtx, types.DockerLayer, body)
		body.stop()
		if err != nil {
			t.Reset()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errdefs.Wrap(err, errdefs.KindOf(err), "layer %s, streamed into %s: %s", short, sv.dst, errdefs.Message(err))
		}
		t.Done("copied")
		sv.mu.Lock()
		sv.layers[name] = streamedLayer{diffID: body.diffID, desc: desc}
		sv.fwd[desc.Digest] = desc.Size
		sv.mu.Unlock()
		sv.rec.Put(sv.host, sv.repo, body.diffID, desc)
		return nil
	})
	// The stream goes on once the layer is read from it; its upload ends
	// (the last blocks, the commit) beside the next one.
	<-body.read
	return nil
}

// claimed finds layer diffID at the destination (atDestination), or, when
// it is not there, claims it for this image to send (owned, to Finish once
// sent): when another image of the run is sending it into the same
// registry, it waits for that (its task, waited, says so) and looks again.
func (sv *saveStream) claimed(ctx context.Context, diffID v1.Hash, what string, size int64) (d v1.Descriptor, there bool, c claimOutcome, err error) {
	if d, ok := sv.atDestination(ctx, diffID); ok || sv.claims == nil {
		return d, ok, c, nil
	}
	claim := sv.claims.ClaimLayer(sv.dst, diffID)
	if !claim.Follower() {
		return v1.Descriptor{}, false, claimOutcome{owned: claim}, nil
	}
	c.waited = sv.waiting(claim, what, size)
	if _, err := claim.Wait(ctx); err != nil {
		return v1.Descriptor{}, false, c, err
	}
	// The other image sent it (or failed to: then this one sends it).
	d, ok := sv.atDestination(ctx, diffID)
	return d, ok, c, nil
}

// claimOutcome is what a claim on a layer made of this image: its owner
// (owned), or a follower that waited for the owner (waited, the layer's
// task, to end once the layer is found or sent).
type claimOutcome struct {
	owned  store.LayerClaim
	waited *progress.Task
}

// waiting says that this image waits for another image of the run to send
// a layer (what) into the registry: a line naming where that upload goes,
// and the layer's task, shown from now on.
func (sv *saveStream) waiting(c store.LayerClaim, what string, size int64) *progress.Task {
	into := "the registry"
	if o := c.Owner(); o != nil {
		into = o.String()
	}
	sv.pw.Logf("%s: %s: waiting for its upload into %s by another image of this run", wording.Familiar(sv.s.image), what, into)
	return sv.pw.Task(sv.s.label, what, size)
}

// blobClaimed is claimed for a blob of an OCI layout save, known by its
// digest: there when the destination has it, or once another image of the
// run that claimed it has sent it (mounted from where it went); else owned
// is this image's claim, to Finish once sent.
func (sv *saveStream) blobClaimed(ctx context.Context, d v1.Hash, size int64) (there bool, c claimOutcome, err error) {
	if ok, err := store.BlobPresent(ctx, sv.dst, d, size, nil); (err == nil && ok) || sv.claims == nil {
		return err == nil && ok, c, nil
	}
	claim := sv.claims.ClaimBlob(sv.dst, d)
	if !claim.Follower() {
		return false, claimOutcome{owned: claim}, nil
	}
	c.waited = sv.waiting(claim, "blob "+wording.ID(d), size)
	holder, err := claim.Wait(ctx)
	if err != nil || holder == nil {
		return false, c, err // the other image failed: this one sends it
	}
	status := "exists"
	if m, ok := sv.dst.(store.Mounter); ok && m.CanMount(holder) {
		if ok, err := m.Mount(ctx, d, holder); err == nil && ok {
			status = "mounted"
		}
	}
	if ok, err := store.BlobPresent(ctx, sv.dst, d, size, nil); err == nil && ok {
		c.waited.Done(status)
		return true, c, nil
	}
	return false, c, nil
}

// atDestination is the blob layer diffID is at the destination as: the one
// the image under the destination tag has for it, or the one the record
// says it was compressed to in this registry, when the repository has it or
// takes it by a mount from the repository it was put into.
func (sv *saveStream) atDestination(ctx context.Context, diffID v1.Hash) (v1.Descriptor, bool) {
	if d, ok := sv.tagged()[diffID]; ok {
		if there, err := store.BlobPresent(ctx, sv.dst, d.Digest, d.Size, nil); err == nil && there {
			return d, true
		}
	}
	d, from, ok := sv.rec.Compressed(sv.host, diffID)
	if !ok {
		return v1.Descriptor{}, false
	}
	if there, err := store.BlobPresent(ctx, sv.dst, d.Digest, d.Size, nil); err == nil && there {
		return d, true
	}
	m, ok := sv.dst.(store.RecordedMounter)
	if !ok || from == "" || from == sv.repo {
		return v1.Descriptor{}, false
	}
	if mounted, err := m.MountFrom(ctx, d.Digest, from); err != nil || !mounted {
		return v1.Descriptor{}, false
	}
	if there, err := store.BlobPresent(ctx, sv.dst, d.Digest, d.Size, nil); err == nil && there {
		sv.rec.Put(sv.host, sv.repo, diffID, d)
		return d, true
	}
	return v1.Descriptor{}, false
}

// taggedImage is the image a destination tag points at, as far as the
// engine's platform of it goes.
type taggedImage struct {
	// digest is what the tag points at (an index or a manifest).
	digest v1.Hash
	// diffIDs and layers are the platform's image: its config's
	// rootfs.diff_ids and its manifest's layers, one for one; both nil when
	// the tag holds no such image (another platform, an artifact).
	diffIDs []v1.Hash
	layers  []v1.Descriptor
}

// readTagged reads the image ref points at in dst (for an index, its
// manifest for platform p); ok is false when ref is not there or cannot be
// read.
func readTagged(ctx context.Context, dst store.Store, ref string, p v1.Platform) (t taggedImage, ok bool) {
	if ref == "" {
		return t, false
	}
	body, desc, err := dst.GetManifest(ctx, ref)
	if err != nil {
		return t, false
	}
	t.digest = desc.Digest
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return t, true
		}
		var child *v1.Descriptor
		for i, m := range idx.Manifests {
			if m.Platform != nil && m.MediaType.IsImage() && platforms.Match(p, *m.Platform) {
				child = &idx.Manifests[i]
				break
			}
		}
		if child == nil {
			return t, true
		}
		if body, _, err = dst.GetManifest(ctx, child.Digest.String()); err != nil {
			return t, true
		}
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil || m.Config.Size > maxSmallFile {
		return t, true
	}
	rc, err := dst.GetBlob(ctx, m.Config.Digest)
	if err != nil {
		return t, true
	}
	defer rc.Close()
	cfg, err := v1.ParseConfigFile(io.LimitReader(rc, maxSmallFile))
	if err != nil || len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return t, true
	}
	t.diffIDs, t.layers = cfg.RootFS.DiffIDs, m.Layers
	return t, true
}

// taggedLayers gives the layers of the image ref points at in dst by
// diff_id; nil when there is none or it cannot be read. Whoever compressed
// them (an earlier run, `docker push`), a layer that uncompresses to the
// same diff_id is the same layer.
func taggedLayers(ctx context.Context, dst store.Store, ref string, p v1.Platform) map[v1.Hash]v1.Descriptor {
	t, ok := readTagged(ctx, dst, ref, p)
	if !ok || t.diffIDs == nil {
		return nil
	}
	out := map[v1.Hash]v1.Descriptor{}
	for i, l := range t.layers {
		if l.MediaType.IsDistributable() {
			out[t.diffIDs[i]] = v1.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		}
	}
	return out
}

// OtherImageAt is what ref points at in dst when that is an image whose
// layers are not the engine's image's (its rootfs.diff_ids, of the engine's
// platform), checked before Forward sends anything so that -n refuses
// without leaving layers behind; the zero hash when ref is not there or
// holds the same layers. Then Forward sends nothing that is not there
// already (the layers under the tag are found by diff_id), and the check
// after the plan, by digest, is the one that decides.
func (r *sourceRepo) OtherImageAt(ctx context.Context, dst store.Store, ref string) v1.Hash {
	if strings.HasPrefix(ref, "sha256:") {
		return v1.Hash{} // a digest names one image; no tag is replaced
	}
	t, ok := readTagged(ctx, dst, ref, r.s.platform)
	if !ok || slices.Equal(t.diffIDs, r.s.diffIDs) {
		return v1.Hash{}
	}
	return t.digest
}

// layerDiffID finds which of the image's layers the classic layer directory
// dir holds, before its layer.tar is read: dockerd names the directory by a
// v1 ID made from the directory's json (read before layer.tar: the stream
// is in name order) and the layer's chain ID, so the chain ID that makes the
// directory's name is the layer's. False when none does (the layer is then
// known once read).
func (sv *saveStream) layerDiffID(dir string) (v1.Hash, bool) {
	raw, ok := sv.files[dir+"/json"]
	if !ok {
		return v1.Hash{}, false
	}
	id := path.Base(dir)
	for i, c := range sv.chain {
		if v1LayerID(raw, c, id) {
			return sv.s.diffIDs[i], true
		}
	}
	return v1.Hash{}, false
}

// v1LayerID reports whether id is the ID dockerd (image/tarexport,
// v1.CreateID) gives the directory of the layer with chain ID chain, whose
// json is raw: the digest of that json without its id, with the parent as a
// digest and the chain ID as layer_id, in Go's encoding. For every layer but
// the top one, the json's os was set after the ID was made: both are tried.
func v1LayerID(raw []byte, chain v1.Hash, id string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	var parent string
	_ = json.Unmarshal(m["parent"], &parent)
	delete(m, "id")
	if parent != "" {
		m["parent"], _ = json.Marshal("sha256:" + parent)
	}
	m["layer_id"], _ = json.Marshal(chain.String())
	for {
		b, err := json.Marshal(m)
		if err != nil {
			return false
		}
		if fmt.Sprintf("%x", sha256.Sum256(b)) == id {
			return true
		}
		if _, ok := m["os"]; !ok {
			return false
		}
		delete(m, "os")
	}
}

// chainIDs are the chain IDs of a stack of layers, as the engine computes
// them: the first diff_id, then each the digest of "PARENT DIFFID".
func chainIDs(diffIDs []v1.Hash) []v1.Hash {
	var out []v1.Hash
	for i, d := range diffIDs {
		if i == 0 {
			out = append(out, d)
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out = append(out, v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)})
	}
	return out
}

// ociBlob puts one blob of an OCI layout save (Docker 25+) into the
// destination as it is: its digest is its name, so a blob the destination
// holds is read past, and one it lacks is checked as it streams.
func (sv *saveStream) ociBlob(ctx context.Context, d v1.Hash, size int64, r io.Reader) error {
	there, claim, err := sv.blobClaimed(ctx, d, size)
	if err != nil {
		return err
	}
	if there {
		sv.mu.Lock()
		sv.blobs[d] = size
		sv.mu.Unlock()
		_, err := io.Copy(io.Discard, r)
		return err
	}
	t := claim.waited
	if t == nil {
		t = sv.pw.Task(sv.s.label, "blob "+wording.ID(d), size)
	}
	finish := func(bool) {}
	if claim.owned != nil {
		finish = claim.owned.Finish
	}
	body := &checkedBlob{r: r, h: sha256.New(), want: d, size: size, t: t, read: make(chan struct{})}
	uploaded := make(chan struct{})
	sv.uploads.Go(func() (err error) {
		defer close(uploaded)
		// Another image of the run waiting for this blob mounts it once it
		// is committed, or sends it itself.
		defer func() { finish(err == nil) }()
		if err := sv.dst.PutBlob(sv.upCtx, d, size, body); err != nil {
			t.Reset()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errdefs.Wrap(err, errdefs.KindOf(err), "blob %s, streamed into %s: %s", wording.ID(d), sv.dst, errdefs.Message(err))
		}
		t.Done("copied")
		sv.mu.Lock()
		sv.blobs[d] = size
		sv.fwd[d] = size
		sv.mu.Unlock()
		return nil
	})
	// On to the next entry once this one is read (or its upload is over).
	select {
	case <-body.read:
	case <-uploaded:
	}
	return nil
}

// compressor is a layer's body for the registry: the uncompressed stream,
// hashed for its diff_id and gzip-compressed by pgzip on its own goroutines.
// Its last read fails when the layer is not one of the image's (so the
// upload commits nothing).
type compressor struct {
	pr *io.PipeReader
	// read is closed once the layer has been read from the stream (or its
	// upload stopped taking it), done once compression has ended.
	read, done chan struct{}
	diffID     v1.Hash
}

func newCompressor(ctx context.Context, r io.Reader, t *progress.Task, want map[v1.Hash]bool) *compressor {
	pr, pw := io.Pipe()
	c := &compressor{pr: pr, read: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		zw := newGzip(pw, gzipBlocks)
		h := sha256.New()
		_, err := io.Copy(zw, &tracked{r: store.ContextReader{Ctx: ctx, R: r}, h: h, t: t})
		close(c.read)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		c.diffID = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
		if err == nil && len(want) > 0 && !want[c.diffID] {
			err = errdefs.New(errdefs.DigestMismatch, "it uncompresses to %s, which is not one of the image's layers as the engine lists them; run again, and if it persists, check the engine's storage", c.diffID)
		}
		pw.CloseWithError(err)
	}()
	return c
}

func (c *compressor) Read(p []byte) (int, error) { return c.pr.Read(p) }

// stop ends the compression (the upload may have stopped reading) and waits
// for it.
func (c *compressor) stop() {
	c.pr.CloseWithError(io.ErrClosedPipe)
	<-c.done
}

// tracked hashes what it reads and shows it as progress.
type tracked struct {
	r io.Reader
	h hash.Hash
	t *progress.Task
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.h.Write(p[:n])
	t.t.Add(int64(n))
	return n, err
}

// checkedBlob is a blob of known digest as it streams: store.Verifier says
// whether it was that blob.
type checkedBlob struct {
	r    io.Reader
	h    hash.Hash
	want v1.Hash
	size int64
	n    int64
	t    *progress.Task
	// read is closed at the end of the blob (or a failed read): the stream
	// is no longer read through it.
	read   chan struct{}
	closed bool
}

func (b *checkedBlob) Read(p []byte) (int, error) {
	if b.closed {
		return 0, io.EOF
	}
	if int64(len(p)) > b.size-b.n {
		p = p[:b.size-b.n]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	b.t.Add(int64(n))
	if err == nil && b.n == b.size {
		err = io.EOF
	}
	if err != nil {
		b.closed = true
		close(b.read)
	}
	return n, err
}

func (b *checkedBlob) Verified() error {
	got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", b.h.Sum(nil))}
	if b.n != b.size || got != b.want {
		return errdefs.New(errdefs.DigestMismatch, "the Docker engine saved blob %s with digest %s (%d bytes): run again, and if it persists, check the engine's storage", b.want, got, b.n)
	}
	return nil
}
