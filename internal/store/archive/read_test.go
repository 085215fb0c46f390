package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layoutOf writes img as an oci: layout under the name nginx:1.27 and returns
// the directory and the manifest's digest.
func layoutOf(t testing.TB, img v1.Image) (string, v1.Hash) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	a := openArchive(t, loc(t, location.OCIDir, dir), true, Options{})
	putImage(t, a.Repository(mustRepo(t, nginx)), "1.27", img)
	if err := a.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Close()
	d, _ := img.Digest()
	return dir, d
}

func openLayout(t testing.TB, dir string) (*Archive, error) {
	t.Helper()
	a, err := Open(context.Background(), loc(t, location.OCIDir, dir), false, Options{})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { a.Close() })
	return a.(*Archive), nil
}

// TestReadWhatOthersWrite reads layouts as other tools leave them: an
// index.json that is a manifest is refused naming it; one that lists no image
// is an error, or, beside a manifest.json, read from manifest.json as docker
// load reads it; an entry whose manifest is missing is one sentence naming
// the file.
func TestReadWhatOthersWrite(t *testing.T) {
	t.Parallel()
	img, err := fixture.NewImage(fixture.Options{LayerSize: 1000, Seed: 1801})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("index.json is a manifest", func(t *testing.T) {
		dir, d := layoutOf(t, img)
		b, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Hex))
		os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
		_, err := openLayout(t, dir)
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), filepath.Join(dir, "index.json")+" is not an image index") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("no image", func(t *testing.T) {
		dir, _ := layoutOf(t, img)
		os.Remove(filepath.Join(dir, "manifest.json"))
		os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":null}`), 0o644)
		a, err := openLayout(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Images(ctx); !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), dir+" holds no image") {
			t.Errorf("got %v", err)
		}
	})

	for _, index := range []string{`{"schemaVersion":2,"manifests":null}`, "absent"} {
		t.Run("manifest.json instead of "+index, func(t *testing.T) {
			dir, d := layoutOf(t, img)
			if index == "absent" {
				os.Remove(filepath.Join(dir, "blobs", "sha256", d.Hex))
			} else {
				os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644)
			}
			a, err := openLayout(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := a.Images(ctx)
			if err != nil || len(refs) != 1 || refs[0].Name() != "index.docker.io/library/nginx:1.27" {
				t.Fatalf("images %v, %v", refs, err)
			}
			s := a.Repository(refs[0].Context())
			body, desc, err := s.GetManifest(ctx, "1.27")
			if err != nil || desc.MediaType != types.DockerManifestSchema2 {
				t.Fatalf("%s %v", desc.MediaType, err)
			}
			for _, b := range blobsOf(body) {
				rc, err := s.GetBlob(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				rc.Close()
			}
		})
	}

	t.Run("manifest missing", func(t *testing.T) {
		dir, d := layoutOf(t, img)
		os.Remove(filepath.Join(dir, "manifest.json"))
		os.Remove(filepath.Join(dir, "blobs", "sha256", d.Hex))
		a, err := openLayout(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Repository(mustRepo(t, nginx)).HeadManifest(ctx, "1.27")
		if !errdefs.Is(err, errdefs.InvalidArgument) || errdefs.Is(err, errdefs.NotFound) ||
			!strings.Contains(err.Error(), "blobs/sha256/"+d.Hex+" is not in it") || !strings.Contains(err.Error(), "damaged or incomplete") {
			t.Errorf("got %v", err)
		}

		// An entry with no name is known by its digest alone.
		os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+d.String()+`","size":3}]}`), 0o644)
		a, err = openLayout(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := a.Images(ctx)
		if err != nil || len(refs) != 1 {
			t.Fatalf("%v %v", refs, err)
		}
		_, err = a.Repository(refs[0].Context()).HeadManifest(ctx, refs[0].Identifier())
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "damaged or incomplete") {
			t.Errorf("by digest: got %v", err)
		}
	})
}

// TestDiffIDs refuses a compressed layer that does not uncompress to its
// config's diff_id: at open in a docker save archive (nothing has moved), as
// it is handed out in a layout.
func TestDiffIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img, _ := fixture.NewImage(fixture.Options{LayerSize: 1000, LayersPerImage: 3, Seed: 1802})

	t.Run("docker save", func(t *testing.T) {
		// The config names another diff_id for the second layer, which
		// saveTar stores compressed.
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}
		bad, err := mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		b := saveTar(t, []v1.Image{bad}, [][]string{{"nginx:1.27"}}, true)
		file := filepath.Join(t.TempDir(), "save.tar")
		os.WriteFile(file, b, 0o644)
		_, err = Open(ctx, loc(t, location.DockerArchive, file), false, Options{})
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), file+" is damaged: its layer") || !strings.Contains(err.Error(), "uncompresses to") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("layout", func(t *testing.T) {
		dir, d := layoutOf(t, img)
		// A config that names another diff_id, and a manifest and index.json
		// that name that config: every digest right, one diff_id wrong.
		body, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Hex))
		var m v1.Manifest
		json.Unmarshal(body, &m)
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.RootFS.DiffIDs[2] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
		cb, _ := json.Marshal(cf)
		cd, cs, _ := v1.SHA256(bytes.NewReader(cb))
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", cd.Hex), cb, 0o644)
		body = bytes.Replace(body, []byte(m.Config.Digest.String()), []byte(cd.String()), 1)
		body = bytes.Replace(body, []byte(`"size":`+itoa(m.Config.Size)), []byte(`"size":`+itoa(cs)), 1)
		nd, ns, _ := v1.SHA256(bytes.NewReader(body))
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", nd.Hex), body, 0o644)
		index, _ := os.ReadFile(filepath.Join(dir, "index.json"))
		index = bytes.Replace(index, []byte(d.String()), []byte(nd.String()), 1)
		index = bytes.Replace(index, []byte(`"size":`+itoa(int64(len(body)))), []byte(`"size":`+itoa(ns)), 1)
		os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)

		a, err := openLayout(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		s := a.Repository(mustRepo(t, nginx))
		if _, _, err := s.GetManifest(ctx, "1.27"); err != nil {
			t.Fatal(err)
		}
		for i, l := range m.Layers {
			// The check runs as the layer is read: its error comes at the
			// end of the read, in place of the last bytes.
			rc, err := s.GetBlob(ctx, l.Digest)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if i < 2 {
				if err != nil {
					t.Errorf("layer %d: %v", i, err)
				}
				continue
			}
			if !errdefs.Is(err, errdefs.DigestMismatch) || errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), l.Digest.String()) || !strings.Contains(err.Error(), dir) {
				t.Errorf("layer %d: got %v", i, err)
			}
			// Found once, the verdict is kept: the next open says it at once.
			if _, again := s.GetBlob(ctx, l.Digest); again == nil || again.Error() != err.Error() {
				t.Errorf("layer %d opened again: got %v, want %v", i, again, err)
			}
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// BenchmarkLayerCheck measures what checking a layer's diff_id costs: one
// read and decompression of the layer, before it streams (MB/s of the
// compressed layer).
func BenchmarkLayerCheck(b *testing.B) {
	// Half random, half zeros: about as compressible as a real layer.
	raw := make([]byte, 32<<20)
	rand.NewChaCha8([32]byte{1}).Read(raw[:len(raw)/2])
	layer := gzipOf(b, raw)
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	d, _, _ := v1.SHA256(bytes.NewReader(layer))
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Hex), layer, 0o644)
	b.SetBytes(int64(len(layer)))
	b.ResetTimer()
	for range b.N {
		a := newArchive(location.Location{Transport: location.OCIDir, Path: dir}, Options{})
		a.files = dirFiles{root: dir}
		if _, err := a.uncompressedDigest(d); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckingReaderHoldsBackTheEnd checks that a layer whose diff_id is wrong
// never reaches its last byte: the copy's reader would otherwise find the
// blob's digest right and let the upload be committed.
func TestCheckingReaderHoldsBackTheEnd(t *testing.T) {
	ctx := context.Background()
	raw := make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{7}).Read(raw)
	layer := gzipOf(t, raw)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	d, _, _ := v1.SHA256(bytes.NewReader(layer))
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Hex), layer, 0o644)
	good, _, _ := v1.SHA256(bytes.NewReader(raw))
	for _, tc := range []struct {
		name   string
		diffID v1.Hash
		ok     bool
	}{
		{"right diff_id", good, true},
		{"wrong diff_id", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newArchive(location.Location{Transport: location.OCIDir, Path: dir}, Options{})
			a.files = dirFiles{root: dir}
			a.layers[d] = layerWant{diffID: tc.diffID, manifest: d}
			rc, err := a.Repository(mustRepo(t, nginx)).GetBlob(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			// A read given up half way (an upload that broke) ends its check.
			half, err := a.Repository(mustRepo(t, nginx)).GetBlob(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(half, make([]byte, len(layer)/2)); err != nil {
				t.Fatal(err)
			}
			half.Close()
			got, err := io.ReadAll(rc)
			if tc.ok {
				if err != nil || !bytes.Equal(got, layer) {
					t.Fatalf("read %d of %d bytes: %v", len(got), len(layer), err)
				}
				return
			}
			if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(err.Error(), "uncompresses to "+good.String()) {
				t.Errorf("got %v", err)
			}
			if len(got) >= len(layer) {
				t.Errorf("read %d bytes, the whole layer, before the error", len(got))
			}
		})
	}
}
