package engine

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/ledger"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/client"
)

// The layer directories of a real classic save (dockerd 20.10, three
// layers): each is known by its diff_id from its json alone.
func TestV1LayerID(t *testing.T) {
	var diffs []v1.Hash
	raw, err := os.ReadFile("testdata/v1ids/diff_ids.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &diffs); err != nil {
		t.Fatal(err)
	}
	chain := chainIDs(diffs)
	want := map[string]int{"aaa6353a6bd3": 0, "56a8e32f7436": 1, "54b132e075e7": 2}
	files, _ := filepath.Glob("testdata/v1ids/*.json")
	found := 0
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".json")
		if id == "diff_ids" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var at []int
		for i, c := range chain {
			if v1LayerID(data, c, id) {
				at = append(at, i)
			}
		}
		if !slices.Equal(at, []int{want[id[:12]]}) {
			t.Errorf("%s is layer %v; want %d", id[:12], at, want[id[:12]])
		}
		found++
	}
	if found != 3 {
		t.Fatalf("%d layer jsons in testdata", found)
	}
}

// classicSave is a classic `docker save` stream of one image, in the order
// dockerd 20.10 writes it (names sorted), with layer directories named as
// it names them.
type classicSave struct {
	layers  [][]byte
	diffIDs []v1.Hash
	config  []byte
	save    []byte
}

// randomLayer is an uncompressed layer of one file of n random bytes, and
// its diff_id.
func randomLayer(i, n int) ([]byte, v1.Hash) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := make([]byte, n)
	_, _ = rand.Read(data)
	_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("file%d", i), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
	_, _ = tw.Write(data)
	_ = tw.Close()
	d, _, _ := v1.SHA256(bytes.NewReader(buf.Bytes()))
	return buf.Bytes(), d
}

func newClassicSave(t *testing.T, tag string, sizes ...int) *classicSave {
	t.Helper()
	var layers [][]byte
	for i, n := range sizes {
		layer, _ := randomLayer(i, n)
		layers = append(layers, layer)
	}
	return classicSaveOf(t, tag, layers)
}

// classicSaveOf is the classic save of an image of the given layers.
func classicSaveOf(t *testing.T, tag string, layers [][]byte) *classicSave {
	t.Helper()
	cs := &classicSave{layers: layers}
	for _, l := range layers {
		d, _, _ := v1.SHA256(bytes.NewReader(l))
		cs.diffIDs = append(cs.diffIDs, d)
	}
	cfg := v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: cs.diffIDs}}
	cs.config, _ = json.Marshal(cfg)
	cd, _, _ := v1.SHA256(bytes.NewReader(cs.config))
	files := map[string][]byte{cd.Hex + ".json": cs.config}
	var paths []string
	parent := ""
	for i, c := range chainIDs(cs.diffIDs) {
		// As v1.CreateID: the json without id and os, with layer_id.
		m := map[string]any{"created": "1970-01-01T00:00:00Z", "layer_id": c.String()}
		if parent != "" {
			m["parent"] = "sha256:" + parent
		}
		b, _ := json.Marshal(m)
		id := fmt.Sprintf("%x", sha256.Sum256(b))
		delete(m, "layer_id")
		m["id"], m["os"] = id, "linux"
		if parent != "" {
			m["parent"] = parent
		}
		j, _ := json.Marshal(m)
		files[id+"/VERSION"], files[id+"/json"], files[id+"/layer.tar"] = []byte("1.0"), j, cs.layers[i]
		paths = append(paths, id+"/layer.tar")
		parent = id
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": cd.Hex + ".json", "RepoTags": []string{tag}, "Layers": paths}})
	files["manifest.json"] = mj
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		_, _ = tw.Write(files[n])
	}
	_ = tw.Close()
	cs.save = buf.Bytes()
	return cs
}

func (cs *classicSave) inspect() map[string]any {
	var layers []string
	for _, d := range cs.diffIDs {
		layers = append(layers, d.String())
	}
	return map[string]any{"Id": "sha256:x", "Os": "linux", "Architecture": "amd64", "RootFS": map[string]any{"Type": "layers", "Layers": layers}}
}

// forwardOnce opens the image in the engine f and forwards it into dst.
func forwardOnce(t *testing.T, f *fakeEngine, tag string, dst store.Store, rec *manifestcache.LayerRecord) (store.Store, store.Forwarded, error) {
	t.Helper()
	repo := openRepo(t, f, tag, rec)
	fwd, err := repo.(store.Forwarder).Forward(context.Background(), dst, "v1", progress.Discard(), nil)
	return repo, fwd, err
}

// openRepo opens the image tag in the engine f.
func openRepo(t *testing.T, f *fakeEngine, tag string, rec *manifestcache.LayerRecord) store.Store {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := location.Parse("docker-daemon:" + tag)
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource(context.Background(), New(c, "fake", ""), loc, SourceOptions{Layers: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	ref, _ := name.NewTag(tag)
	return src.Repository(ref.Context())
}

// Out of a classic-store engine into a registry: each layer is compressed
// into the registry as the save streams, and the image presented with those
// blobs, each of which uncompresses to its diff_id. A second run finds every
// layer there through the record, and sends and compresses none, with the
// same manifest (compression is deterministic). A layer that is not what the
// config says fails the read.
func TestForwardClassic(t *testing.T) {
	host := testRegistry(t)
	ctx := context.Background()
	tag := "example.com/app:v1"
	cs := newClassicSave(t, tag, 300<<10, 1000, 600<<10)
	f := &fakeEngine{images: map[string]any{tag: cs.inspect()}, save: cs.save}
	dstRepo, _ := name.NewRepository(host + "/out")
	dst, err := registry.New().Repository(ctx, dstRepo, registry.Push)
	if err != nil {
		t.Fatal(err)
	}
	rec := manifestcache.OpenLayerRecord(t.TempDir())

	src, fwd, err := forwardOnce(t, f, tag, dst, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd) != 3 {
		t.Fatalf("forwarded %v; want the three layers", fwd)
	}
	body, desc, err := src.GetManifest(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range m.Layers {
		if _, ok := fwd[l.Digest]; !ok {
			t.Errorf("layer %d (%s) was not forwarded", i, l.Digest)
		}
		rc, err := dst.GetBlob(ctx, l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(rc)
		if err != nil {
			t.Fatal(err)
		}
		got, _, _ := v1.SHA256(zr)
		rc.Close()
		if got != cs.diffIDs[i] {
			t.Errorf("layer %d uncompresses to %s; want %s", i, got, cs.diffIDs[i])
		}
	}
	if ok, _ := src.BlobExists(ctx, m.Config.Digest); !ok {
		t.Error("the config is not in the source")
	}

	t.Run("again", func(t *testing.T) {
		src2, fwd2, err := forwardOnce(t, f, tag, dst, rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(fwd2) != 0 {
			t.Errorf("a run again forwarded %v", fwd2)
		}
		if _, d2, _ := src2.GetManifest(ctx, "v1"); d2.Digest != desc.Digest {
			t.Errorf("a run again made manifest %s; want %s", d2.Digest, desc.Digest)
		}
	})
	t.Run("without a record", func(t *testing.T) {
		// Compressed again, the layers have the same digests.
		_, fwd3, err := forwardOnce(t, f, tag, dst, manifestcache.OpenLayerRecord(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		for d := range fwd3 {
			if _, ok := fwd[d]; !ok {
				t.Errorf("compressed again, a layer became %s", d)
			}
		}
	})
	t.Run("tagged without a record", func(t *testing.T) {
		// The copy pushes the config and manifest, the tag last; a later
		// run without the record finds the layers by the tag's config.
		rc, err := src.GetBlob(ctx, m.Config.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := io.ReadAll(rc)
		rc.Close()
		if err := dst.PutBlob(ctx, m.Config.Digest, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
			t.Fatal(err)
		}
		if err := dst.PutManifest(ctx, "v1", desc.MediaType, body); err != nil {
			t.Fatal(err)
		}
		_, fwd4, err := forwardOnce(t, f, tag, dst, manifestcache.OpenLayerRecord(t.TempDir()))
		if err != nil || len(fwd4) != 0 {
			t.Errorf("with the image under the tag, a run without a record forwarded %v (%v)", fwd4, err)
		}
		// -n asks before the stream: the same layers under the tag are not
		// another image; other layers are; no tag is nothing to replace.
		if have := src.(store.Forwarder).OtherImageAt(ctx, dst, "v1"); have != (v1.Hash{}) {
			t.Errorf("the same image under the tag is another image: %s", have)
		}
		if have := src.(store.Forwarder).OtherImageAt(ctx, dst, "absent"); have != (v1.Hash{}) {
			t.Errorf("no image under a tag is another image: %s", have)
		}
		other := newClassicSave(t, tag, 1000)
		otherRepo := openRepo(t, &fakeEngine{images: map[string]any{tag: other.inspect()}, save: other.save}, tag, manifestcache.OpenLayerRecord(t.TempDir()))
		if have := otherRepo.(store.Forwarder).OtherImageAt(ctx, dst, "v1"); have != desc.Digest {
			t.Errorf("another image under the tag is %s; want %s", have, desc.Digest)
		}
	})
	t.Run("tagged index without a record", func(t *testing.T) {
		// An index under the tag: its manifest for the engine's platform.
		idx, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []v1.Descriptor{
			{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		}})
		if err := dst.PutManifest(ctx, "v1", "application/vnd.oci.image.index.v1+json", idx); err != nil {
			t.Fatal(err)
		}
		_, fwd5, err := forwardOnce(t, f, tag, dst, manifestcache.OpenLayerRecord(t.TempDir()))
		if err != nil || len(fwd5) != 0 {
			t.Errorf("with an index under the tag, a run without a record forwarded %v (%v)", fwd5, err)
		}
	})
	t.Run("wrong layer", func(t *testing.T) {
		bad := newClassicSave(t, tag, 300<<10, 1000, 600<<10)
		in := cs.inspect() // the engine lists other layers than it saves
		fb := &fakeEngine{images: map[string]any{tag: in}, save: bad.save}
		_, _, err := forwardOnce(t, fb, tag, dst, manifestcache.OpenLayerRecord(t.TempDir()))
		if !errdefs.Is(err, errdefs.DigestMismatch) {
			t.Fatalf("err = %v; want a digest mismatch", err)
		}
	})
}

// The compressed bytes of a layer are the same however many blocks are
// compressed at once and however the layer is written: a layer compressed on
// another machine, or read in other pieces, has the same digest.
func TestCompressionDeterministic(t *testing.T) {
	data := make([]byte, 5<<20+333)
	_, _ = rand.Read(data[:2<<20])
	for i := 2 << 20; i < len(data); i++ {
		data[i] = byte(i % 251) // compressible
	}
	var outs [][]byte
	for _, blocks := range []int{1, 2, 8} {
		var buf bytes.Buffer
		zw := newGzip(&buf, blocks)
		n := 1
		for i := 0; i < len(data); {
			e := min(i+n, len(data))
			_, _ = zw.Write(data[i:e])
			i = e
			n = (n*7919+13*blocks)%200000 + 1
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, buf.Bytes())
	}
	for i := range outs[1:] {
		if !bytes.Equal(outs[i+1], outs[0]) {
			t.Fatalf("compressed with other blocks, the layer differs (%d and %d bytes)", len(outs[i+1]), len(outs[0]))
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(outs[0]))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(zr)
	if !bytes.Equal(back, data) {
		t.Fatal("the layer does not uncompress to itself")
	}
}

// ociSave is a Docker 25+ save stream (an OCI layout) of one image with
// gzip layers, blobs first and index.json last, as containerd writes it.
func ociSave(t *testing.T, tag string, sizes ...int) (save []byte, root v1.Hash, layers []v1.Hash, diffIDs []v1.Hash) {
	t.Helper()
	var raws [][]byte
	for i, n := range sizes {
		raw, _ := randomLayer(i, n)
		raws = append(raws, raw)
	}
	return ociSaveOf(t, tag, raws)
}

// ociSaveOf is the OCI layout save of an image of the given layers.
func ociSaveOf(t *testing.T, tag string, raws [][]byte) (save []byte, root v1.Hash, layers []v1.Hash, diffIDs []v1.Hash) {
	t.Helper()
	blobs := map[v1.Hash][]byte{}
	var m v1.Manifest
	m.SchemaVersion, m.MediaType = 2, "application/vnd.oci.image.manifest.v1+json"
	for _, raw := range raws {
		diff, _, _ := v1.SHA256(bytes.NewReader(raw))
		diffIDs = append(diffIDs, diff)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		d, size, _ := v1.SHA256(bytes.NewReader(z.Bytes()))
		blobs[d] = z.Bytes()
		layers = append(layers, d)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: d, Size: size})
	}
	cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cd, cn, _ := v1.SHA256(bytes.NewReader(cfg))
	blobs[cd] = cfg
	m.Config = v1.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cd, Size: cn}
	mb, _ := json.Marshal(m)
	md, mn, _ := v1.SHA256(bytes.NewReader(mb))
	blobs[md] = mb
	idx, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []v1.Descriptor{{
		MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: md, Size: mn,
		Annotations: map[string]string{"io.containerd.image.name": tag, "org.opencontainers.image.ref.name": "v1"},
	}}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for d, b := range blobs {
		_ = tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + d.Hex, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(b)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", idx}, {"manifest.json", []byte(`[]`)}} {
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	return buf.Bytes(), md, layers, diffIDs
}

// Out of a containerd-store engine: the layout's blobs go across as they
// are (the image's digest unchanged), the configs and manifests are kept;
// a run again sends nothing.
func TestForwardOCI(t *testing.T) {
	host := testRegistry(t)
	ctx := context.Background()
	tag := "example.com/app:v1"
	save, root, layers, diffIDs := ociSave(t, tag, 600<<10, 500, 400<<10)
	var ids []string
	for _, d := range diffIDs {
		ids = append(ids, d.String())
	}
	f := &fakeEngine{containerd: true, api: "1.48", save: save, images: map[string]any{tag: map[string]any{
		"Id": root.String(), "Os": "linux", "Architecture": "amd64", "RootFS": map[string]any{"Type": "layers", "Layers": ids}}}}
	dstRepo, _ := name.NewRepository(host + "/out")
	dst, err := registry.New().Repository(ctx, dstRepo, registry.Push)
	if err != nil {
		t.Fatal(err)
	}
	src, fwd, err := forwardOnce(t, f, tag, dst, manifestcache.OpenLayerRecord(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd) != len(layers) {
		t.Errorf("forwarded %v; want the %d layers", fwd, len(layers))
	}
	for _, l := range layers {
		if ok, _ := dst.BlobExists(ctx, l); !ok {
			t.Errorf("layer %s is not at the destination", l)
		}
	}
	if d, err := src.HeadManifest(ctx, "v1"); err != nil || d.Digest != root {
		t.Errorf("the image is %v (%v); want the engine's %s", d.Digest, err, root)
	}
	_, fwd2, err := forwardOnce(t, f, tag, dst, manifestcache.OpenLayerRecord(t.TempDir()))
	if err != nil || len(fwd2) != 0 {
		t.Errorf("a run again forwarded %v (%v)", fwd2, err)
	}
}

// Two images of a run on one base, streamed into two repositories of one
// registry: while one sends the base layer (its claim in the run's ledger),
// the other waits for it and then finds it there (the record, a mount),
// sending only its own layer.
func TestForwardSharedLayerClaimed(t *testing.T) {
	host := testRegistry(t)
	ctx := context.Background()
	base, baseID := randomLayer(0, 400<<10)
	own, _ := randomLayer(1, 1000)
	tagA, tagB := "example.com/a:v1", "example.com/b:v1"
	a := classicSaveOf(t, tagA, [][]byte{base})
	b := classicSaveOf(t, tagB, [][]byte{base, own})
	dstA, dstB := pushRepo(t, host, "a"), pushRepo(t, host, "b")
	rec := manifestcache.OpenLayerRecord(t.TempDir())
	claims := ledger.New()

	// Image A owns the base, as if its save were at it now.
	owner := claims.ClaimLayer(dstA, baseID)
	if owner.Follower() {
		t.Fatal("the first claim is a follower's")
	}
	out := &lockedBuffer{}
	pw := progress.New(out, progress.Plain)
	srcB := openRepo(t, &fakeEngine{images: map[string]any{tagB: b.inspect()}, save: b.save}, tagB, rec)
	resultB := forwardWaiting(t, srcB, dstB, pw, claims)
	if !strings.Contains(out.String(), ": waiting for its upload into "+host+"/a by another image of this run") {
		t.Errorf("B's progress while it waits is %q; want a line saying it waits for A's upload", out.String())
	}
	// A sends the base (and records what it became), then finishes.
	srcA := openRepo(t, &fakeEngine{images: map[string]any{tagA: a.inspect()}, save: a.save}, tagA, rec)
	fwdA, err := srcA.(store.Forwarder).Forward(ctx, dstA, "v1", progress.Discard(), nil)
	if err != nil || len(fwdA) != 1 {
		t.Fatalf("A forwarded %v (%v); want the base", fwdA, err)
	}
	owner.Finish(true)
	got := resultB()
	for d := range fwdA {
		if _, ok := got.fwd[d]; ok {
			t.Errorf("B sent the base %s again", d)
		}
		if ok, err := dstB.BlobExists(ctx, d); err != nil || !ok {
			t.Errorf("the base %s is not in B's repository (%v)", d, err)
		}
	}
	if len(got.fwd) != 1 {
		t.Errorf("B forwarded %v; want its own layer only", got.fwd)
	}
}

// ociEngine is a containerd-store engine holding one image, its save.
func ociEngine(tag string, save []byte, root v1.Hash, diffIDs []v1.Hash) *fakeEngine {
	var ids []string
	for _, d := range diffIDs {
		ids = append(ids, d.String())
	}
	return &fakeEngine{containerd: true, api: "1.48", save: save, images: map[string]any{tag: map[string]any{
		"Id": root.String(), "Os": "linux", "Architecture": "amd64", "RootFS": map[string]any{"Type": "layers", "Layers": ids}}}}
}

// lockedBuffer is a bytes.Buffer that progress written from several
// goroutines goes to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Two images of a run on one base out of a containerd-store engine (an OCI
// layout save, its blobs named by digest), streamed into two repositories of
// one registry: while one sends the base blob (its claim in the run's
// ledger, by digest), the other says it waits for it, then mounts it,
// sending only its own layer.
func TestForwardOCISharedBlobClaimed(t *testing.T) {
	host := testRegistry(t)
	ctx := context.Background()
	base, _ := randomLayer(0, 400<<10)
	own, _ := randomLayer(1, 1000)
	tagA, tagB := "example.com/a:v1", "example.com/b:v1"
	saveA, rootA, layersA, diffA := ociSaveOf(t, tagA, [][]byte{base})
	saveB, rootB, layersB, diffB := ociSaveOf(t, tagB, [][]byte{base, own})
	if layersA[0] != layersB[0] {
		t.Fatal("the two saves do not share the base blob")
	}
	dstA, dstB := pushRepo(t, host, "a"), pushRepo(t, host, "b")
	rec := manifestcache.OpenLayerRecord(t.TempDir())
	claims := ledger.New()

	// Image A owns the base, as if its save were at it now.
	owner := claims.ClaimBlob(dstA, layersA[0])
	if owner.Follower() {
		t.Fatal("the first claim is a follower's")
	}
	out := &lockedBuffer{}
	pw := progress.New(out, progress.Plain)
	srcB := openRepo(t, ociEngine(tagB, saveB, rootB, diffB), tagB, rec)
	resultB := forwardWaiting(t, srcB, dstB, pw, claims)
	wantLine := "blob " + wording.ID(layersA[0]) + ": waiting for its upload into " + host + "/a"
	if !strings.Contains(out.String(), wantLine) {
		t.Errorf("B's progress while it waits is %q; want a line with %q", out.String(), wantLine)
	}
	srcA := openRepo(t, ociEngine(tagA, saveA, rootA, diffA), tagA, rec)
	fwdA, err := srcA.(store.Forwarder).Forward(ctx, dstA, "v1", progress.Discard(), nil)
	if err != nil || len(fwdA) != 1 {
		t.Fatalf("A forwarded %v (%v); want the base", fwdA, err)
	}
	owner.Finish(true)
	got := resultB()
	if _, ok := got.fwd[layersA[0]]; ok {
		t.Errorf("B sent the base %s again", layersA[0])
	}
	if ok, err := dstB.BlobExists(ctx, layersA[0]); err != nil || !ok {
		t.Errorf("the base %s is not in B's repository (%v)", layersA[0], err)
	}
	if len(got.fwd) != 1 {
		t.Errorf("B forwarded %v; want its own layer only", got.fwd)
	}
	// go-containerregistry's registry holds a blob for all its
	// repositories: there it exists once A has put it, where another
	// registry mounts it.
	if want := "blob " + wording.ID(layersA[0]) + " exists"; !strings.Contains(out.String(), want) {
		t.Errorf("B's progress is %q; want %q", out.String(), want)
	}
}

// Two images on one base out of a containerd-store engine, streamed at once
// with the run's ledger: the base blob is sent once, whichever gets there
// first.
func TestForwardOCISharedBlobOnce(t *testing.T) {
	host := testRegistry(t)
	ctx := context.Background()
	base, _ := randomLayer(0, 2<<20)
	claims := ledger.New()
	rec := manifestcache.OpenLayerRecord(t.TempDir())
	var wg sync.WaitGroup
	fwds := make([]store.Forwarded, 3)
	errs := make([]error, 3)
	for i := range 3 {
		own, _ := randomLayer(1, 1000+i)
		tag := fmt.Sprintf("example.com/app%d:v1", i)
		save, root, _, diffIDs := ociSaveOf(t, tag, [][]byte{base, own})
		src := openRepo(t, ociEngine(tag, save, root, diffIDs), tag, rec)
		r, _ := name.NewRepository(fmt.Sprintf("%s/app%d", host, i))
		dst, err := registry.New().Repository(ctx, r, registry.Push)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			fwds[i], errs[i] = src.(store.Forwarder).Forward(ctx, dst, "v1", progress.Discard(), claims)
		})
	}
	wg.Wait()
	sent := map[v1.Hash]int{}
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("image %d: %v", i, errs[i])
		}
		for d := range fwds[i] {
			sent[d]++
		}
	}
	if len(sent) != 4 {
		t.Errorf("sent %v; want the base and three own layers", sent)
	}
	for d, n := range sent {
		if n != 1 {
			t.Errorf("blob %s was sent %d times", d, n)
		}
	}
}

// pushRepo is repository p of the registry at host, to push into.
func pushRepo(t *testing.T, host, p string) store.Store {
	t.Helper()
	r, _ := name.NewRepository(host + "/" + p)
	dst, err := registry.New().Repository(context.Background(), r, registry.Push)
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// forwarded is what a Forward returned.
type forwarded struct {
	fwd store.Forwarded
	err error
}

// forwardWaiting starts forwarding src into dst with the run's claims, and
// checks that it is still at it a while later (it waits for another
// image's claim); result waits for its end, once that claim is finished.
func forwardWaiting(t *testing.T, src, dst store.Store, pw *progress.Writer, claims store.LayerClaimer) (result func() forwarded) {
	t.Helper()
	done := make(chan forwarded, 1)
	go func() {
		fwd, err := src.(store.Forwarder).Forward(context.Background(), dst, "v1", pw, claims)
		done <- forwarded{fwd, err}
	}()
	select {
	case got := <-done:
		t.Fatalf("B finished (%v, %v) while A was sending the base", got.fwd, got.err)
	case <-time.After(300 * time.Millisecond):
	}
	return func() forwarded {
		t.Helper()
		select {
		case got := <-done:
			if got.err != nil {
				t.Fatal(got.err)
			}
			return got
		case <-time.After(30 * time.Second):
			t.Fatal("B still waits after A finished the base")
		}
		return forwarded{}
	}
}

// testRegistry starts an in-memory registry for the test and returns its
// host:port.
func testRegistry(t *testing.T) string {
	t.Helper()
	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	return strings.TrimPrefix(reg.URL, "http://")
}
