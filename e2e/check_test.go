package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
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

// pushFixture pushes an index (or, when single, an image) built from opts to
// ref in r and returns its digest.
func pushFixture(t testing.TB, r *Registry, ref string, opts fixture.Options, single bool) v1.Hash {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	var digest v1.Hash
	if single {
		digest, err = fixture.PushImage(ctx, parsed, opts, r.remoteOptions(ctx)...)
	} else {
		digest, err = fixture.PushIndex(ctx, parsed, opts, r.remoteOptions(ctx)...)
	}
	if err != nil {
		t.Fatalf("push fixture to %s: %v", ref, err)
	}
	return digest
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

func readIndex(t testing.TB, r *Registry, ref string) indexContents {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatalf("GET index %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	c := indexContents{Images: map[string]v1.Hash{}, Attestations: map[v1.Hash]v1.Hash{}}
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
