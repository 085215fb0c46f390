package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// allManifestTypes is the Accept header of a pull that takes any manifest.
var allManifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// assertPullsWhole pulls ref from r as a client would after a run that
// said it succeeded: every manifest by digest (its bytes match the digest
// and the size its parent gives), every blob whole (its bytes match its
// digest and its descriptor's size), indexes at any depth. It returns the
// root's digest.
func assertPullsWhole(t testing.TB, r *Registry, ref string) v1.Hash {
	t.Helper()
	// REPO:TAG, REPO@DIGEST or REPO:TAG@DIGEST (what a run prints).
	repo, tag, byDigest := strings.Cut(strings.TrimPrefix(ref, r.Host+"/"), "@")
	if i := strings.LastIndex(repo, ":"); i >= 0 {
		if !byDigest {
			tag = repo[i+1:]
		}
		repo = repo[:i]
	}
	body := pullBytes(t, r, repo, "manifests", tag, -1, "")
	root := v1.Hash{Algorithm: "sha256", Hex: sha256Hex(body)}
	pullTree(t, r, repo, body, 0)
	return root
}

func pullTree(t testing.TB, r *Registry, repo string, body []byte, depth int) {
	t.Helper()
	if depth > 8 {
		t.Fatalf("%s: indexes nested deeper than 8", repo)
	}
	var m struct {
		Manifests []v1.Descriptor `json:"manifests"`
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: manifest is not JSON: %v", repo, err)
	}
	for _, c := range m.Manifests {
		child := pullBytes(t, r, repo, "manifests", c.Digest.String(), c.Size, c.Digest.Hex)
		pullTree(t, r, repo, child, depth+1)
	}
	var blobs []v1.Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, b := range append(blobs, m.Layers...) {
		if len(b.URLs) > 0 {
			continue
		}
		pullBytes(t, r, repo, "blobs", b.Digest.String(), b.Size, b.Digest.Hex)
	}
}

// pullBytes GETs a manifest or blob and checks its size (unless -1) and
// sha256 (unless "").
func pullBytes(t testing.TB, r *Registry, repo, kind, ref string, size int64, hexDigest string) []byte {
	t.Helper()
	u := fmt.Sprintf("%s://%s/v2/%s/%s/%s", r.scheme(), r.Host, repo, kind, ref)
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", allManifestTypes)
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.httpClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", u, resp.Status, err)
	}
	if size >= 0 && int64(len(b)) != size {
		t.Errorf("GET %s: %d bytes, its descriptor says %d: not pullable", u, len(b), size)
	}
	if hexDigest != "" && sha256Hex(b) != hexDigest {
		t.Errorf("GET %s: the bytes have digest sha256:%s", u, sha256Hex(b))
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
