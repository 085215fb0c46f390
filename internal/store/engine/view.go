package engine

import (
	"bytes"
	"context"
	"encoding/json"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageView is an image the engine holds, as a store shows it to --check and
// --dry-run: an engine gives no manifest, so one is made up from what
// `docker image inspect` says (its platform and rootfs.diff_ids), with
// uncompressed layers whose digests are those diff_ids. Comparing it with
// a source compares content (diff_ids), which is what an engine keeps.
type imageView struct {
	manifest []byte
	desc     v1.Descriptor
	config   []byte
	layers   []v1.Hash
}

// view inspects tag in the engine.
func (t *Target) view(ctx context.Context, tag name.Tag) (*imageView, error) {
	res, err := t.eng.client.ImageInspect(ctx, tag.Name())
	if err != nil {
		if isNotFound(err) {
			return nil, errdefs.Wrap(err, errdefs.NotFound, "%s is not in the Docker engine %s", wording.Familiar(tag), t.eng)
		}
		return nil, t.eng.reachError(err)
	}
	cfg := v1.ConfigFile{
		Architecture: res.Architecture, OS: res.Os, Variant: res.Variant, OSVersion: res.OsVersion,
		RootFS: v1.RootFS{Type: "layers"},
	}
	for _, l := range res.RootFS.Layers {
		h, err := v1.NewHash(l)
		if err != nil {
			return nil, errdefs.Wrap(err, errdefs.Unknown, "the Docker engine %s gave a layer %q for %s that is not a digest", t.eng, l, wording.Familiar(tag))
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, h)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cd, _, _ := v1.SHA256(bytes.NewReader(cb))
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.DockerManifestSchema2,
		Config: v1.Descriptor{MediaType: types.DockerConfigJSON, Digest: cd, Size: int64(len(cb))},
		Layers: []v1.Descriptor{},
	}
	for _, d := range cfg.RootFS.DiffIDs {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.DockerUncompressedLayer, Digest: d})
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md, _, _ := v1.SHA256(bytes.NewReader(mb))
	v := &imageView{manifest: mb, config: cb, layers: cfg.RootFS.DiffIDs,
		desc: v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: md, Size: int64(len(mb))}}
	t.mu.Lock()
	if t.views == nil {
		t.views = map[v1.Hash]*imageView{}
	}
	t.views[md] = v
	t.mu.Unlock()
	return v, nil
}

func (t *Target) viewOf(d v1.Hash) (*imageView, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.views[d]
	return v, ok
}

// viewHasBlob reports a config or layer of an image seen. The caller holds t.mu.
func (t *Target) viewHasBlob(d v1.Hash) bool {
	for _, v := range t.views {
		if c, _, _ := v1.SHA256(bytes.NewReader(v.config)); c == d {
			return true
		}
		for _, l := range v.layers {
			if l == d {
				return true
			}
		}
	}
	return false
}

func (t *Target) viewBlob(d v1.Hash) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range t.views {
		if c, _, _ := v1.SHA256(bytes.NewReader(v.config)); c == d {
			return v.config, true
		}
	}
	return nil, false
}

// isNotFound reports the engine's "No such image".
func isNotFound(err error) bool {
	return errdefs.Is(err, errdefs.NotFound) || cerrdefs.IsNotFound(err)
}
