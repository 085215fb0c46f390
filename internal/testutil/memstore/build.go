package memstore

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image stores an image for platform ("linux/amd64") with layers of the
// given sizes (their bytes depend on platform and index, so that two images
// share no layer) and returns its manifest's descriptor, with the platform.
func (s *Store) Image(platform string, layerSizes ...int) v1.Descriptor {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		panic(err)
	}
	cfg, _ := json.Marshal(v1.ConfigFile{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
		RootFS: v1.RootFS{Type: "layers"}})
	var layers []v1.Descriptor
	for i, n := range layerSizes {
		data := make([]byte, n)
		seed := fmt.Sprintf("%s/%d/", platform, i)
		for j := range data {
			data[j] = seed[j%len(seed)] ^ byte(j/len(seed))
		}
		layers = append(layers, s.AddBlob(types.OCILayer, data))
	}
	d := s.Manifest2(types.OCIConfigJSON, cfg, layers...)
	d.Platform = p
	return d
}

// Manifest2 stores an OCI image manifest with a config of type configType
// and the given layers (already stored), and returns its descriptor.
func (s *Store) Manifest2(configType types.MediaType, config []byte, layers ...v1.Descriptor) v1.Descriptor {
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: s.AddBlob(configType, config), Layers: layers}
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	body, _ := json.Marshal(m)
	return s.Put("", types.OCIManifestSchema1, body)
}

// Index stores an OCI index of children under tag ("" for none) and returns
// its descriptor.
func (s *Store) Index(tag string, children ...v1.Descriptor) v1.Descriptor {
	body, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: children})
	return s.Put(tag, types.OCIImageIndex, body)
}
