package manifestcache

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestLayerRecord(t *testing.T) {
	r := OpenLayerRecord(t.TempDir())
	diffID := v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"}
	d := v1.Descriptor{MediaType: types.DockerLayer, Digest: v1.Hash{Algorithm: "sha256", Hex: "2222222222222222222222222222222222222222222222222222222222222222"}, Size: 42}
	if _, _, ok := r.Compressed("127.0.0.1:5000", diffID); ok {
		t.Fatal("found in an empty record")
	}
	r.Put("127.0.0.1:5000", "team/app", diffID, d)
	if got, repo, ok := r.Compressed("127.0.0.1:5000", diffID); !ok || got.Digest != d.Digest || got.Size != 42 || got.MediaType != types.DockerLayer || repo != "team/app" {
		t.Fatalf("Compressed = %+v, %q, %v; want %+v in team/app", got, repo, ok, d)
	}
	if _, _, ok := r.Compressed("other:5000", diffID); ok {
		t.Fatal("a record of one registry answered for another")
	}
	var none *LayerRecord
	none.Put("h", "r", diffID, d)
	if _, _, ok := none.Compressed("h", diffID); ok {
		t.Fatal("a nil record found something")
	}
}
