package check_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/check"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestCheckWrongSize: the mirror has the source's manifest and every blob
// it names, but one blob is not the size the manifest says, so the image
// does not pull: not equal.
func TestCheckWrongSize(t *testing.T) {
	src, dst := memstore.New("src.test/app"), memstore.New("dst.test/app")
	var body []byte
	for _, s := range []*memstore.Store{src, dst} {
		layer := s.AddBlob(types.OCILayer, []byte(strings.Repeat("x", 584)))
		layer.Size++
		cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64"})
		body, _ = json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
			Config: s.AddBlob(types.OCIConfigJSON, cfg), Layers: []v1.Descriptor{layer}})
		s.Put("v1", types.OCIManifestSchema1, body)
	}
	res, err := check.Image(context.Background(), check.Request{Src: src, Dst: dst,
		Source: name.MustParseReference("src.test/app:v1"), Destination: name.MustParseReference("dst.test/app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status.Arrived() || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "584") || !strings.Contains(res.Problems[0], "585") {
		t.Errorf("--check of a mirror with a wrong-size blob: %s %q, want not equal, naming both sizes", res.Status, res.Problems)
	}
}
