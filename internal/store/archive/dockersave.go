package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// saveImage is one entry of a docker save archive's manifest.json, as dockerd
// writes it and `docker load` reads it. Paths are relative to the archive's root.
type saveImage struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// saveDescriptor and saveManifest make the manifest of a docker save image
// with the field order of containerd's importer (digest before size), so that
// the made-up manifest has the digest `ctr images import` gives the same
// archive.
type saveDescriptor struct {
	MediaType types.MediaType `json:"mediaType"`
	Digest    v1.Hash         `json:"digest"`
	Size      int64           `json:"size"`
}

type saveManifest struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     types.MediaType  `json:"mediaType"`
	Config        saveDescriptor   `json:"config"`
	Layers        []saveDescriptor `json:"layers"`
}

// loadSave reads manifest.json and presents each image as a Docker v2 schema 2
// manifest: the config file's bytes as its config, each layer file as a layer,
// uncompressed (application/vnd.docker.image.rootfs.diff.tar) as dockerd
// saves them, or gzip. An uncompressed layer's digest is its diff_id, taken
// from the config (the copy checks it as it streams); a compressed one is
// hashed here.
func (a *Archive) loadSave(ctx context.Context) error {
	b, err := a.readJSON("manifest.json")
	if err != nil {
		return err
	}
	var images []saveImage
	if err := json.Unmarshal(b, &images); err != nil {
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s has a manifest.json that does not parse: %v", a.loc.Path, err)
	}
	if len(images) == 0 {
		return errdefs.New(errdefs.InvalidArgument, "%s has a manifest.json that lists no images", a.loc.Path)
	}
	for i, img := range images {
		if err := a.loadSaveImage(ctx, i, img); err != nil {
			return err
		}
	}
	return nil
}

func (a *Archive) loadSaveImage(ctx context.Context, i int, img saveImage) error {
	if img.Config == "" {
		return errdefs.New(errdefs.InvalidArgument, "%s has a manifest.json whose image %d names no config", a.loc.Path, i+1)
	}
	cfgName := cleanName(img.Config)
	raw, err := a.readJSON(cfgName)
	if err != nil {
		return a.missingFile(err, "config", img.Config)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s has an image config %s that does not parse: %v", a.loc.Path, img.Config, err)
	}
	cfgDigest, _, _ := v1.SHA256(bytes.NewReader(raw))
	a.paths[cfgDigest] = cfgName
	m := saveManifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        saveDescriptor{MediaType: types.DockerConfigJSON, Digest: cfgDigest, Size: int64(len(raw))},
		Layers:        []saveDescriptor{},
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(img.Layers) {
		return errdefs.New(errdefs.InvalidArgument, "%s has an image %s with %d layers but a config listing %d",
			a.loc.Path, imageLabel(img, i), len(img.Layers), len(diffIDs))
	}
	for j, l := range img.Layers {
		d, err := a.saveLayer(ctx, l, diffIDs[j])
		if err != nil {
			return err
		}
		m.Layers = append(m.Layers, d)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	a.synth[d] = body
	desc := v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: d, Size: int64(len(body))}
	if cfg.OS != "" || cfg.Architecture != "" {
		desc.Platform = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
	}
	a.descs[d] = v1.Descriptor{MediaType: desc.MediaType, Digest: d, Size: desc.Size}
	named := false
	for _, tag := range img.RepoTags {
		ref, ok := parseFullName(tag)
		if !ok {
			return errdefs.New(errdefs.InvalidArgument, "%s has a manifest.json with an invalid image name %q", a.loc.Path, tag)
		}
		a.entries = append(a.entries, &entry{ref: ref, desc: desc})
		named = true
	}
	if !named {
		a.entries = append(a.entries, &entry{ref: a.unnamed.Digest(d.String()), derived: true, desc: desc})
	}
	return nil
}

func imageLabel(img saveImage, i int) string {
	if len(img.RepoTags) > 0 {
		return img.RepoTags[0]
	}
	return "number " + strconv.Itoa(i+1)
}

// saveLayer describes one layer file of a docker save archive.
func (a *Archive) saveLayer(ctx context.Context, file string, diffID v1.Hash) (saveDescriptor, error) {
	name := cleanName(file)
	size, ok := a.files.size(name)
	if !ok {
		return saveDescriptor{}, a.missingFile(nil, "layer", file)
	}
	if s, ok := a.files.(*streamFiles); ok && s.streamed(name) {
		return a.streamedLayer(s, name, file, size, diffID)
	}
	rc, err := a.files.open(name)
	if err != nil {
		return saveDescriptor{}, a.missingFile(err, "layer", file)
	}
	defer rc.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(rc, head)
	c, other := detect(head[:n])
	if other != "" {
		return saveDescriptor{}, errdefs.New(errdefs.InvalidArgument,
			"%s has a layer %s compressed with %s, which registries do not take: only uncompressed, gzip and zstd layers are read", a.loc.Path, file, other)
	}
	d := saveDescriptor{Size: size}
	switch c {
	case uncompressed:
		d.MediaType, d.Digest = types.DockerUncompressedLayer, diffID
		if diffID.Algorithm == "sha256" {
			a.paths[d.Digest] = name
			return d, nil
		}
	case gzipped:
		d.MediaType = types.DockerLayer
	case zstandard:
		d.MediaType = types.OCILayerZStd
	}
	// Compressed: the digest is the file's, which the config does not give,
	// and what it uncompresses to must be the config's diff_id, as docker
	// load checks it. One read finds both.
	got, digest, err := a.diffIDOf(store.ContextReader{Ctx: ctx, R: io.MultiReader(bytes.NewReader(head[:n]), rc)}, v1.Hash{}, file)
	if err != nil {
		if ctx.Err() != nil {
			return saveDescriptor{}, ctx.Err()
		}
		return saveDescriptor{}, err
	}
	if c != uncompressed && got != diffID {
		return saveDescriptor{}, errdefs.New(errdefs.InvalidArgument,
			"%s is damaged: its layer %s uncompresses to %s, but the image's config says %s; docker load refuses such an archive", a.loc.Path, file, got, diffID)
	}
	d.Digest = digest
	a.paths[d.Digest] = name
	// Found once: the merge store asks for it again (UncompressedDigest).
	done := &layerCheck{got: got}
	done.once.Do(func() {})
	a.checks[digest] = done
	return d, nil
}

// streamedLayer is saveLayer for a layer of a compressed archive read from
// its stream: its head and, compressed, its digests are what the first pass
// found.
func (a *Archive) streamedLayer(s *streamFiles, name, file string, size int64, diffID v1.Hash) (saveDescriptor, error) {
	head, _ := s.headOf(name)
	c, other := detect(head)
	if other != "" {
		return saveDescriptor{}, errdefs.New(errdefs.InvalidArgument,
			"%s has a layer %s compressed with %s, which registries do not take: only uncompressed, gzip and zstd layers are read", a.loc.Path, file, other)
	}
	d := saveDescriptor{Size: size, MediaType: types.DockerUncompressedLayer, Digest: diffID}
	l, found := s.digestsOf(name)
	if c == uncompressed || !found {
		if diffID.Algorithm != "sha256" {
			return saveDescriptor{}, errdefs.New(errdefs.InvalidArgument, "%s has a layer %s whose diff_id %s is not a sha256 digest", a.loc.Path, file, diffID)
		}
		a.paths[d.Digest] = name
		return d, nil
	}
	if l.err != nil {
		return saveDescriptor{}, l.err
	}
	if l.diffID != diffID {
		return saveDescriptor{}, errdefs.New(errdefs.InvalidArgument,
			"%s is damaged: its layer %s uncompresses to %s, but the image's config says %s; docker load refuses such an archive", a.loc.Path, file, l.diffID, diffID)
	}
	d.MediaType, d.Digest = types.DockerLayer, l.digest
	if c == zstandard {
		d.MediaType = types.OCILayerZStd
	}
	a.paths[d.Digest] = name
	done := &layerCheck{got: l.diffID, digest: l.digest}
	done.once.Do(func() {})
	a.checks[l.digest] = done
	return d, nil
}

// missingFile is the error for a file manifest.json names that is not there.
func (a *Archive) missingFile(err error, what, file string) error {
	if e, ok := errors.AsType[*errdefs.Error](err); ok {
		return e
	}
	return errdefs.New(errdefs.InvalidArgument, "%s has a manifest.json naming %s %s, which is not in the archive", a.loc.Path, what, file)
}
