package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/sparse"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// streamedImage is an image read out of an engine in one pass whose layers
// are at the destination already (saveStream): its manifests and configs in
// memory, its layers known by digest and size only. It is read-only.
type streamedImage struct {
	s    *Source
	root v1.Descriptor
	// small are the manifests and configs, by digest.
	small map[v1.Hash][]byte
	// layers are the blobs put into (or found at) the destination.
	layers map[v1.Hash]int64
}

var (
	_ store.Archive   = (*streamedImage)(nil)
	_ store.BlobSizer = (*streamedImage)(nil)
)

// streamedManifest is the manifest made for a classic save, with
// containerd's field order (digest before size), as internal/store/archive
// makes it for a docker-save archive.
type streamedManifest struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     types.MediaType      `json:"mediaType"`
	Config        streamedDescriptor   `json:"config"`
	Layers        []streamedDescriptor `json:"layers"`
}

type streamedDescriptor struct {
	MediaType types.MediaType `json:"mediaType"`
	Digest    v1.Hash         `json:"digest"`
	Size      int64           `json:"size"`
}

// image presents what the stream held: an OCI layout's index.json when
// there is one (Docker 25+), else a classic save's manifest.json.
func (sv *saveStream) image(ctx context.Context) (*streamedImage, error) {
	img := &streamedImage{s: sv.s, small: map[v1.Hash][]byte{}, layers: sv.blobs}
	for name, data := range sv.files {
		if d, ok := blobDigest(name); ok {
			img.small[d] = data
		}
	}
	if idx, ok := sv.files["index.json"]; ok {
		return img, img.fromIndex(ctx, idx)
	}
	mj, ok := sv.files["manifest.json"]
	if !ok {
		return nil, errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s without a manifest.json or index.json: it is not a save docker migrate reads", sv.s.eng, sv.s.image)
	}
	return img, sv.classicImage(img, mj)
}

// classicImage makes the manifest of a classic save's image from its config
// and the layers as they were put into the destination.
func (sv *saveStream) classicImage(img *streamedImage, mj []byte) error {
	var images []saveImage
	if err := json.Unmarshal(mj, &images); err != nil || len(images) != 1 {
		return errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s with a manifest.json that does not list one image", sv.s.eng, sv.s.image)
	}
	im := images[0]
	raw, ok := sv.files[path.Clean(im.Config)]
	if !ok {
		return errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s without its config %s", sv.s.eng, sv.s.image, im.Config)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return errdefs.Wrap(err, errdefs.Unknown, "the Docker engine %s saved %s with a config that does not parse: %v", sv.s.eng, sv.s.image, err)
	}
	cd, _, _ := v1.SHA256(bytes.NewReader(raw))
	img.small[cd] = raw
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(im.Layers) {
		return errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s with %d layers and a config listing %d", sv.s.eng, sv.s.image, len(im.Layers), len(diffIDs))
	}
	m := streamedManifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2,
		Config: streamedDescriptor{MediaType: types.DockerConfigJSON, Digest: cd, Size: int64(len(raw))},
		Layers: []streamedDescriptor{}}
	for j, l := range im.Layers {
		d, err := sv.classicLayerDesc(path.Clean(l), diffIDs[j])
		if err != nil {
			return err
		}
		img.layers[d.Digest] = d.Size
		m.Layers = append(m.Layers, streamedDescriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	md, _, _ := v1.SHA256(bytes.NewReader(body))
	img.small[md] = body
	img.root = v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: md, Size: int64(len(body))}
	return nil
}

// classicLayerDesc is what layer file l, which must uncompress to diffID,
// became at the destination.
func (sv *saveStream) classicLayerDesc(l string, diffID v1.Hash) (v1.Descriptor, error) {
	for range 8 { // a link to a link, as far as dockerd makes them
		if to, ok := sv.links[l]; ok {
			l = to
		}
	}
	got, ok := sv.layers[l]
	if !ok {
		return v1.Descriptor{}, errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s naming a layer %s that its stream did not hold", sv.s.eng, sv.s.image, l)
	}
	if got.diffID != diffID {
		return v1.Descriptor{}, errdefs.New(errdefs.DigestMismatch, "the Docker engine %s saved %s with layer %s uncompressing to %s, but its config says %s; the blob is at the destination untagged: run again, and if it persists, check the engine's storage",
			sv.s.eng, wording.Familiar(sv.s.image), l, got.diffID, diffID)
	}
	return got.desc, nil
}

// fromIndex finds the image in an OCI layout's index.json: the entry named
// as the image (io.containerd.image.name, as Docker 25+ writes it), else the
// one entry that is not an attachment. An index is kept to the platforms
// whose every blob the stream held or the destination has (a containerd
// store holds only what was pulled).
func (img *streamedImage) fromIndex(ctx context.Context, raw []byte) error {
	s := img.s
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return errdefs.Wrap(err, errdefs.Unknown, "the Docker engine %s saved %s with an index.json that does not parse: %v", s.eng, s.image, err)
	}
	var pick []v1.Descriptor
	for _, d := range idx.Manifests {
		if n := d.Annotations["io.containerd.image.name"]; n != "" {
			if t, err := name.NewTag(n); err == nil && t.Name() == s.image.Name() {
				pick = []v1.Descriptor{d}
				break
			}
		}
		if d.Annotations["io.containerd.manifest.subject"] == "" {
			pick = append(pick, d)
		}
	}
	if len(pick) != 1 {
		return errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s with an index.json that does not name it once", s.eng, s.image)
	}
	img.root = v1.Descriptor{MediaType: pick[0].MediaType, Digest: pick[0].Digest, Size: pick[0].Size}
	body, ok := img.small[img.root.Digest]
	if !ok {
		return errdefs.New(errdefs.Unknown, "the Docker engine %s saved %s without its manifest %s", s.eng, s.image, img.root.Digest)
	}
	if !img.root.MediaType.IsIndex() {
		return nil
	}
	return img.trim(ctx, body)
}

// trim keeps an index to the children the image holds whole, with a note
// when that is not all of them.
func (img *streamedImage) trim(ctx context.Context, body []byte) error {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return errdefs.Wrap(err, errdefs.Unknown, "the index of %s from the Docker engine %s does not parse: %v", img.s.image, img.s.eng, err)
	}
	present := map[v1.Hash]bool{}
	for _, c := range idx.Manifests {
		cb, ok := img.small[c.Digest]
		if !ok {
			continue
		}
		if c.MediaType.IsIndex() {
			present[c.Digest] = true
			continue
		}
		if ok, _ := sparse.Complete(ctx, img, cb); ok {
			present[c.Digest] = true
		}
	}
	kept := sparse.Keep(idx.Manifests, func(d v1.Descriptor) bool { return present[d.Digest] })
	switch {
	case len(kept) == len(idx.Manifests):
		return nil
	case len(kept) == 0:
		return errdefs.New(errdefs.Unknown, "the Docker engine %s saved none of the images the index of %s lists", img.s.eng, wording.Familiar(img.s.image))
	}
	out, err := sparse.Rewrite(body, kept)
	if err != nil {
		return err
	}
	d, size, _ := v1.SHA256(bytes.NewReader(out))
	img.small[d] = out
	if img.s.notify != nil {
		img.s.notify("note: the Docker engine %s holds only %s of %s's index: copying an index of those, a new digest %s instead of %s",
			img.s.eng, sparse.Platforms(kept), wording.Familiar(img.s.image), d, img.root.Digest)
	}
	img.root.Digest, img.root.Size = d, size
	return nil
}

func (img *streamedImage) String() string { return img.s.loc.Text }

// Images is the one image read.
func (img *streamedImage) Images(context.Context) ([]name.Reference, error) {
	return []name.Reference{img.s.image}, nil
}

func (img *streamedImage) Repository(name.Repository) store.Store { return img }
func (img *streamedImage) Commit(context.Context) error           { return nil }
func (img *streamedImage) Close() error                           { return nil }

func (img *streamedImage) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	_, d, err := img.GetManifest(ctx, ref)
	return d, err
}

func (img *streamedImage) GetManifest(_ context.Context, ref string) ([]byte, v1.Descriptor, error) {
	if ref == img.s.image.TagStr() || ref == img.s.image.Identifier() {
		return img.small[img.root.Digest], img.root, nil
	}
	if d, err := v1.NewHash(ref); err == nil {
		if body, ok := img.small[d]; ok {
			if mt, err := store.MediaType(body, ""); err == nil && (mt.IsIndex() || mt.IsImage()) {
				return body, v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))}, nil
			}
		}
	}
	return nil, v1.Descriptor{}, errdefs.New(errdefs.NotFound, "%s has no manifest %s", img.s.loc.Text, ref)
}

func (img *streamedImage) PutManifest(context.Context, string, types.MediaType, []byte) error {
	return errors.New("an engine SRC is only read")
}

func (img *streamedImage) BlobExists(_ context.Context, d v1.Hash) (bool, error) {
	_, small := img.small[d]
	_, layer := img.layers[d]
	return small || layer, nil
}

func (img *streamedImage) BlobSize(_ context.Context, d v1.Hash) (int64, bool, error) {
	if b, ok := img.small[d]; ok {
		return int64(len(b)), true, nil
	}
	n, ok := img.layers[d]
	return n, ok, nil
}

// GetBlob reads a config or manifest. A layer went into the destination as
// the save streamed and is not kept: asked for, it is an error that says so
// (the copy asks only when the destination lost it meanwhile).
func (img *streamedImage) GetBlob(_ context.Context, d v1.Hash) (io.ReadCloser, error) {
	if b, ok := img.small[d]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if _, ok := img.layers[d]; ok {
		return nil, errdefs.New(errdefs.Unavailable, "layer %s of %s went into the destination as the engine's save streamed, and the destination no longer has it: run again", wording.ID(d), wording.Familiar(img.s.image))
	}
	return nil, errdefs.New(errdefs.NotFound, "%s has no blob %s", img.s.loc.Text, d)
}

func (img *streamedImage) PutBlob(context.Context, v1.Hash, int64, io.Reader) error {
	return errors.New("an engine SRC is only read")
}

// platformLabel names the image's platform in progress, as the copy does.
func platformLabel(os, arch, variant string) string {
	if os == "" {
		return "image"
	}
	return platforms.Format(v1.Platform{OS: os, Architecture: arch, Variant: strings.TrimSpace(variant)})
}
