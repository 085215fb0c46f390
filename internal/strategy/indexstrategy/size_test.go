package indexstrategy_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/strategy/indexstrategy"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// wrongSize is a source whose image manifest describes its layer as
// layerLen+delta bytes long; the blob itself is layerLen bytes.
func wrongSize(t *testing.T, layerLen, delta int) (*memstore.Store, v1.Descriptor) {
	t.Helper()
	src := memstore.New("src.test/app")
	data := []byte(strings.Repeat("x", layerLen))
	layer := src.AddBlob(types.OCILayer, data)
	real := layer
	layer.Size += int64(delta)
	cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	src.Put("v1", types.OCIManifestSchema1, mustJSON(t, v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: src.AddBlob(types.OCIConfigJSON, cfg), Layers: []v1.Descriptor{layer}}))
	return src, real
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantSizeSentence checks the one sentence for a wrong size: it names the
// blob, both sizes and the source, and does not send the user to retry.
func wantSizeSentence(t *testing.T, err error, blob v1.Descriptor, described int64) {
	t.Helper()
	if err == nil {
		t.Fatal("a blob of the wrong size was accepted")
	}
	msg := errdefs.Message(err)
	for _, want := range []string{blob.Digest.String(), strconv.FormatInt(blob.Size, 10) + " bytes", strconv.FormatInt(described, 10) + " bytes", "src.test/app"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "again") || strings.Contains(msg, "corrupt") {
		t.Errorf("%q blames the network or the blob, not the manifest", msg)
	}
}

// TestSizeMismatchPresent: the destination has the blob, and the source's
// manifest gives it another size. The plan refuses it.
func TestSizeMismatchPresent(t *testing.T) {
	for _, d := range []string{"registry", "oci layout"} {
		t.Run(d, func(t *testing.T) {
			src, layer := wrongSize(t, 584, 1)
			dst := destinationStore(t, d)
			data, _ := src.Blob(layer.Digest)
			if err := dst.PutBlob(context.Background(), layer.Digest, layer.Size, strings.NewReader(string(data))); err != nil {
				t.Fatal(err)
			}
			_, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
			wantSizeSentence(t, err, layer, 585)
		})
	}
}

// TestSizeMismatchCopied: the blob is copied, and is shorter or longer than
// its descriptor says. One read, no retry, nothing pushed.
func TestSizeMismatchCopied(t *testing.T) {
	for _, delta := range []int{1, -1, -500} {
		t.Run(strconv.Itoa(delta), func(t *testing.T) {
			src, layer := wrongSize(t, 584, delta)
			var reads atomic.Int32
			src.Hook = func(_ context.Context, op memstore.Op, ref string) error {
				if op == memstore.GetBlob && ref == layer.Digest.String() {
					reads.Add(1)
				}
				return nil
			}
			dst := memstore.New("dst.test/app")
			p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			_, err = indexstrategy.Execute(context.Background(), p, src, dst, copyopts.Shared{Jobs: 2, Progress: progress.Discard()})
			wantSizeSentence(t, err, layer, 584+int64(delta))
			if n := reads.Load(); n != 1 {
				t.Errorf("the blob was read %d times, want once", n)
			}
			if m, _ := dst.Counts(); m != 0 {
				t.Errorf("%d manifests pushed for an image with a wrong-size blob", m)
			}
		})
	}
}

func bytesReader(b []byte) *strings.Reader { return strings.NewReader(string(b)) }
