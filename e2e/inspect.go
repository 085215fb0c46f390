//go:build !windows

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The checks here look at a registry through go-containerregistry, never
// through the plugin, so that a plugin bug cannot hide itself.

const checkTimeout = 30 * time.Second

func checkContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	t.Cleanup(cancel)
	return ctx
}

// remoteOptions speak to r, as its user when it has one.
func (r *Registry) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx)}
	if r != nil && r.User != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password}))
	}
	if r != nil && r.CAPEM != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(r.CAPEM)
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		opts = append(opts, remote.WithTransport(tr))
	}
	return opts
}

// headDigest returns the digest ref points to, and false when the registry
// answers 404.
func headDigest(t testing.TB, r *Registry, ref string) (v1.Hash, bool) {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(parsed, r.remoteOptions(ctx)...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return v1.Hash{}, false
	}
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return desc.Digest, true
}

// assertAbsent fails the test if ref exists.
func assertAbsent(t testing.TB, r *Registry, ref string) {
	t.Helper()
	if d, ok := headDigest(t, r, ref); ok {
		t.Errorf("%s exists (%s), want HEAD 404", ref, d)
	}
}

// assertDigest fails the test unless ref points to want.
func assertDigest(t testing.TB, r *Registry, ref string, want v1.Hash) {
	t.Helper()
	got, ok := headDigest(t, r, ref)
	switch {
	case !ok:
		t.Errorf("%s: HEAD 404, want %s", ref, want)
	case got != want:
		t.Errorf("%s points to %s, want %s", ref, got, want)
	}
}

// assertComplete checks that ref and everything it refers to is in the
// registry: every child manifest of an index, every config and layer blob.
// It returns the distinct blobs it checked with their sizes.
func assertComplete(t testing.TB, r *Registry, ref string) map[v1.Hash]int64 {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo := parsed.Context()
	desc, err := remote.Get(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatalf("GET manifest %s: %v", ref, err)
	}
	var images []v1.Hash
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() {
				t.Errorf("%s: child %s has media type %s", ref, m.Digest, m.MediaType)
				continue
			}
			images = append(images, m.Digest)
		}
	} else {
		images = append(images, desc.Digest)
	}

	blobs := map[v1.Hash]int64{}
	for _, d := range images {
		child := repo.Digest(d.String())
		cdesc, err := remote.Get(child, r.remoteOptions(ctx)...)
		if err != nil {
			t.Errorf("child manifest %s: %v", child, err)
			continue
		}
		if cdesc.Digest != d {
			t.Errorf("child manifest %s has digest %s", child, cdesc.Digest)
		}
		img, err := cdesc.Image()
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			blobs[b.Digest] = b.Size
			size, err := r.headBlob(ctx, repo.RepositoryStr(), b.Digest)
			if err != nil {
				t.Errorf("%s: blob %s: %v", ref, b.Digest, err)
			} else if size != b.Size {
				t.Errorf("%s: blob %s has %d bytes, manifest says %d", ref, b.Digest, size, b.Size)
			}
		}
	}
	return blobs
}

// headBlob asks the registry for a blob's size with a plain HTTP HEAD.
func (r *Registry) headBlob(ctx context.Context, repo string, d v1.Hash) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("%s://%s/v2/%s/blobs/%s", r.scheme(), r.Host, repo, d), nil)
	if err != nil {
		return 0, err
	}
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HEAD blob: %s", resp.Status)
	}
	return resp.ContentLength, nil
}

// indexContents is what an index holds, split the way buildx writes it.
type indexContents struct {
	Digest v1.Hash
	// Manifests counts every child, whatever its kind.
	Manifests int
	Platforms []string // sorted os/arch[/variant] of the platform images
	Images    map[string]v1.Hash
	// Attestations maps the digest an attestation manifest refers to to the
	// attestation's own digest.
	Attestations map[v1.Hash]v1.Hash
}

// remoteIndex reads the index ref names in r, and its manifest.
func remoteIndex(t testing.TB, r *Registry, ref string) (v1.ImageIndex, *v1.IndexManifest) {
	t.Helper()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(parsed, r.remoteOptions(checkContext(t))...)
	if err != nil {
		t.Fatalf("GET index %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return idx, im
}

func readIndex(t testing.TB, r *Registry, ref string) indexContents {
	t.Helper()
	idx, im := remoteIndex(t, r, ref)
	c := indexContents{Images: map[string]v1.Hash{}, Attestations: map[v1.Hash]v1.Hash{}}
	var err error
	if c.Digest, err = idx.Digest(); err != nil {
		t.Fatal(err)
	}
	c.Manifests = len(im.Manifests)
	for _, m := range im.Manifests {
		if m.Annotations[fixture.AnnotationReferenceType] == fixture.ReferenceTypeAttestation {
			subject, err := v1.NewHash(m.Annotations[fixture.AnnotationReferenceDigest])
			if err != nil {
				t.Fatalf("%s: attestation %s: %v", ref, m.Digest, err)
			}
			c.Attestations[subject] = m.Digest
			continue
		}
		if m.Platform == nil {
			t.Fatalf("%s: manifest %s has no platform", ref, m.Digest)
		}
		p := m.Platform.String()
		c.Platforms = append(c.Platforms, p)
		c.Images[p] = m.Digest
	}
	sort.Strings(c.Platforms)
	return c
}

func platformStrings(ps []v1.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	sort.Strings(out)
	return out
}

// totalSize adds up blob sizes.
func totalSize(blobs map[v1.Hash]int64) int64 {
	var n int64
	for _, size := range blobs {
		n += size
	}
	return n
}

func (r *Registry) scheme() string {
	if r.CAPEM != nil {
		return "https"
	}
	return "http"
}

// httpClient trusts r's certificate when it has one.
func (r *Registry) httpClient() *http.Client {
	if r.CAPEM == nil {
		return http.DefaultClient
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CAPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// catalog lists the repositories of r.
func catalogOf(t testing.TB, r *Registry) []string {
	t.Helper()
	repos, err := r.catalog(checkContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return repos
}

// tagsOf lists the tags of repo in r.
func tagsOf(t testing.TB, r *Registry, repo string) []string {
	t.Helper()
	resp, err := r.httpClient().Get(r.scheme() + "://" + r.Host + "/v2/" + repo + "/tags/list?n=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	slices.Sort(list.Tags)
	return list.Tags
}

// fetchRaw GETs a manifest's bytes from r.
func fetchRaw(t testing.TB, r *Registry, ref string) []byte {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	return desc.Manifest
}

// diffIDs reads the rootfs.diff_ids of every platform image of an index.
func diffIDs(t *testing.T, r *Registry, ref string) map[string][]v1.Hash {
	t.Helper()
	idx, im := remoteIndex(t, r, ref)
	out := map[string][]v1.Hash{}
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatalf("config of %s: %v", m.Digest, err)
		}
		out[m.Platform.String()] = cf.RootFS.DiffIDs
	}
	return out
}

func equalDiffIDs(a, b map[string][]v1.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// readAllVerified reads a blob and checks it against its digest and size.
func readAllVerified(t testing.TB, s store.Store, d v1.Descriptor) []byte {
	t.Helper()
	rc, err := s.GetBlob(context.Background(), d.Digest)
	if err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != d.Digest.String() || (d.Size > 0 && int64(len(b)) != d.Size) {
		t.Errorf("blob %s reads as %s, %d bytes (want %d)", d.Digest, got, len(b), d.Size)
	}
	return b
}

func openArchiveT(t testing.TB, text string, opts ...archive.Options) *archive.Archive {
	t.Helper()
	l, err := location.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var o archive.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	a, err := archive.Open(context.Background(), l, false, o)
	if err != nil {
		t.Fatalf("open %s: %v", text, err)
	}
	t.Cleanup(func() { a.Close() })
	return a.(*archive.Archive)
}

// checkImageBlobs reads an image manifest's config and layers and verifies each.
func checkImageBlobs(t testing.TB, s store.Store, d v1.Hash) *v1.Manifest {
	t.Helper()
	body, _, err := s.GetManifest(context.Background(), d.String())
	if err != nil {
		t.Fatal(err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	readAllVerified(t, s, m.Config)
	for _, l := range m.Layers {
		readAllVerified(t, s, l)
	}
	return m
}

// assertFiles fails unless dir holds exactly the files named: no temporary
// file or work directory is left.
func assertFiles(t testing.TB, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// tempArchiveSize is the size of the temporary archive a running export
// writes beside target, 0 when there is none.
func tempArchiveSize(target string) int64 {
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*"))
	var n int64
	for _, p := range temps {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
