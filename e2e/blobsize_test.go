package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sizedImage is an image whose one layer is layerLen bytes, described as
// layerLen+delta bytes (no tool writes that; this is made from the
// image-spec's documents): its config, layer and manifest bytes.
type sizedImage struct {
	config, layer, manifest []byte
	layerDigest             string
}

func newSizedImage(t testing.TB, layerLen, delta int) sizedImage {
	t.Helper()
	im := sizedImage{layer: bytes.Repeat([]byte("layer "), layerLen/6+1)[:layerLen]}
	im.config, _ = json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{sha256Digest(im.layer)}}})
	im.layerDigest = sha256Digest(im.layer)
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: hashOf(t, sha256Digest(im.config)), Size: int64(len(im.config))},
		Layers: []v1.Descriptor{{MediaType: types.OCIUncompressedLayer, Digest: hashOf(t, im.layerDigest), Size: int64(layerLen + delta)}}}
	im.manifest, _ = json.Marshal(m)
	return im
}

// writeLayout writes im as an OCI layout holding name (REPO:TAG).
func (im sizedImage) writeLayout(t testing.TB, dir, name string) {
	t.Helper()
	for _, b := range [][]byte{im.config, im.layer, im.manifest} {
		p := filepath.Join(dir, "blobs", "sha256", sha256Digest(b)[7:])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, tag, _ := strings.Cut(name, ":")
	idx, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
		MediaType: types.OCIManifestSchema1, Digest: hashOf(t, sha256Digest(im.manifest)), Size: int64(len(im.manifest)),
		Annotations: map[string]string{"io.containerd.image.name": "docker.io/" + name, "org.opencontainers.image.ref.name": tag}}}})
	for file, body := range map[string][]byte{"index.json": idx, "oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)} {
		if err := os.WriteFile(filepath.Join(dir, file), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// push puts im into r under repo:tag with plain HTTP, as a registry that
// does not compare sizes takes it.
func (im sizedImage) push(t testing.TB, r *Registry, repo, tag string) {
	t.Helper()
	for _, b := range [][]byte{im.config, im.layer} {
		u := fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", r.Host, repo)
		resp, err := http.Post(u, "", nil)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %v %v", u, resp, err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		q.Set("digest", sha256Digest(b))
		loc.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/octet-stream")
		if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT blob: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if status := putManifestHTTP(t, r, repo, tag, types.OCIManifestSchema1, im.manifest); status != http.StatusCreated {
		t.Skipf("the registry refuses a manifest with a wrong blob size (%d): nothing to --check", status)
	}
}

// assertSizeSentence: one sentence that names the blob, both sizes and the
// source, and does not send the user to try again.
func assertSizeSentence(t testing.TB, res Result, blob string, got, want int) {
	t.Helper()
	for _, s := range []string{blob, strconv.Itoa(got) + " bytes", strconv.Itoa(want) + " bytes", "damaged"} {
		if !strings.Contains(res.Stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, res.Stderr)
		}
	}
	// (The batch summary's "run the same command again to copy what is
	// missing" is the command's, for every failure.)
	if strings.Contains(res.Stderr, "again later") || strings.Contains(res.Stderr, "retrying") || strings.Contains(res.Stderr, "corrupt") {
		t.Errorf("stderr blames the network or the blob:\n%s", res.Stderr)
	}
}

// TestBlobSizeMismatch copies an image whose manifest gives its layer one
// byte too many: to a registry that has the blob already (it used to say
// "exists" and push a manifest that does not pull), to one that has not (it
// used to retry as for a network failure), and --check of a mirror that
// holds such a manifest (it used to say "equal").
func TestBlobSizeMismatch(t *testing.T) {
	t.Parallel()
	dst := startRegistry(t, registryOptions{})
	good, bad := newSizedImage(t, 584, 0), newSizedImage(t, 584, 1)
	goodDir, badDir := filepath.Join(t.TempDir(), "good"), filepath.Join(t.TempDir(), "bad")
	good.writeLayout(t, goodDir, "damaged/app:good")
	bad.writeLayout(t, badDir, "damaged/app:bad")
	cli := NewCLI(t)

	t.Run("blob present", func(t *testing.T) {
		// A layout's image goes under a prefix, keeping its repository path.
		ok := cli.RunDocker(t, "migrate", "oci:"+goodDir, dst.Ref("present")).AssertSuccess(t)
		assertPullsWhole(t, dst, strings.TrimSpace(ok.Stdout))
		res := cli.RunDocker(t, "migrate", "oci:"+badDir, dst.Ref("present")).AssertExit(t, 1)
		assertSizeSentence(t, res, bad.layerDigest, 584, 585)
		if _, found := headDigest(t, dst, dst.Ref("present/damaged/app:bad")); found {
			t.Error("a manifest that does not pull was tagged")
		}
	})
	t.Run("blob copied", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "oci:"+badDir, dst.Ref("fresh")).AssertExit(t, 1)
		assertSizeSentence(t, res, bad.layerDigest, 584, 585)
		if _, found := headDigest(t, dst, dst.Ref("fresh/damaged/app:bad")); found {
			t.Error("a manifest that does not pull was tagged")
		}
	})
	t.Run("check", func(t *testing.T) {
		bad.push(t, dst, "checked/src", "v1")
		bad.push(t, dst, "checked/mirror", "v1")
		res := cli.RunDocker(t, "migrate", "--check", dst.Ref("checked/src:v1"), dst.Ref("checked/mirror:v1"))
		if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, "585") {
			t.Errorf("--check of a mirror whose blob is not the size its manifest says: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
		}
	})
}
