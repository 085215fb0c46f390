package migrate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// recorder sits in front of an in-process registry and records requests; a
// test may also set a hook that rewrites a response.
type recorder struct {
	inner http.Handler
	mu    sync.Mutex
	reqs  []string
	// corrupt, when set, flips a byte of GET blob bodies for that digest.
	corrupt string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	corrupt := r.corrupt
	r.mu.Unlock()
	if corrupt != "" && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/blobs/"+corrupt) {
		rec := httptest.NewRecorder()
		r.inner.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
		return
	}
	r.inner.ServeHTTP(w, req)
}

func (r *recorder) count(method, substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.reqs {
		if strings.HasPrefix(s, method+" ") && strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

func newRegistry(t *testing.T) (string, *recorder) {
	t.Helper()
	rec := &recorder{inner: ggcrregistry.New(ggcrregistry.Logger(discardLogger()))}
	s := httptest.NewServer(rec)
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	return u.Host, rec
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func run(t *testing.T, src, dst string, mod func(*Options)) (*Result, error) {
	t.Helper()
	o := Options{
		Image:    copyopts.Image{Source: ref(t, src), Destination: ref(t, dst)},
		Shared:   copyopts.Shared{Jobs: 4, Progress: progress.New(io.Discard, progress.Plain)},
		Registry: registry.New(),
	}
	if mod != nil {
		mod(&o)
	}
	res, _, err := Run(context.Background(), o)
	return res, err
}

var eight = fixture.Options{Platforms: fixture.EightPlatforms(), Attestations: true, Seed: 1}

func seed(t *testing.T, s string, o fixture.Options) v1.Hash {
	t.Helper()
	d, err := fixture.PushIndex(context.Background(), ref(t, s), o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkComplete walks the destination through go-containerregistry, not our
// client: every child manifest and blob must be readable.
func checkComplete(t *testing.T, s string) v1.ImageIndex {
	t.Helper()
	idx, err := remote.Index(ref(t, s))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatalf("child %s: %v", d.Digest, err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("layer of %s: %v", d.Digest, err)
			}
			rc.Close()
		}
		if _, err := img.RawConfigFile(); err != nil {
			t.Fatalf("config of %s: %v", d.Digest, err)
		}
	}
	return idx
}

func TestCopyIndexByteForByte(t *testing.T) {
	tests := []struct {
		name string
		opts fixture.Options
	}{
		{"oci index with attestations", eight},
		{"docker manifest list", fixture.Options{Platforms: fixture.EightPlatforms()[:3], Docker: true, Seed: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srcHost, _ := newRegistry(t)
			dstHost, dstRec := newRegistry(t)
			want := seed(t, srcHost+"/app:1.0", tc.opts)

			res, err := run(t, srcHost+"/app:1.0", dstHost+"/mirror/app:1.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.DestinationDigest != want.String() || res.DigestChanged {
				t.Fatalf("destination digest %s (changed %v), want %s", res.DestinationDigest, res.DigestChanged, want)
			}
			idx := checkComplete(t, dstHost+"/mirror/app:1.0")
			if got, _ := idx.Digest(); got != want {
				t.Fatalf("destination tag points at %s, want %s", got, want)
			}
			if res.Blobs.Copied == 0 || res.Blobs.Skipped != 0 {
				t.Errorf("blobs %+v", res.Blobs)
			}
			// Each digest is committed once, even the layer all platforms share.
			for _, b := range uniqueCommits(dstRec) {
				if b > 1 {
					t.Fatalf("a blob was committed %d times", b)
				}
			}

			// Again: nothing to do, and nothing fetched.
			dstRec.reset()
			res, err = run(t, srcHost+"/app:1.0", dstHost+"/mirror/app:1.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.UpToDate || res.Blobs.Copied != 0 {
				t.Errorf("second run: %+v", res)
			}
			if n := dstRec.count(http.MethodPut, ""); n != 0 {
				t.Errorf("second run wrote %d times", n)
			}
		})
	}
}

func uniqueCommits(r *recorder) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, s := range r.reqs {
		if strings.HasPrefix(s, "PUT ") && strings.Contains(s, "digest=") {
			q, _ := url.ParseQuery(s[strings.Index(s, "?")+1:])
			n[q.Get("digest")]++
		}
	}
	return n
}

func TestSingleManifest(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, _ := newRegistry(t)
	want, err := fixture.PushImage(context.Background(), ref(t, srcHost+"/one:v1"), fixture.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := run(t, srcHost+"/one:v1", dstHost+"/one:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.DestinationDigest != want.String() || len(res.Platforms) != 1 || res.Platforms[0].Platform != "linux/amd64" {
		t.Fatalf("result %+v", res)
	}
	if _, err := run(t, srcHost+"/one:v1", dstHost+"/one:v2", func(o *Options) {
		o.Platforms = mustPlatforms(t, "linux/arm64")
	}); !errdefs.Is(err, errdefs.PlatformMissing) {
		t.Fatalf("want a platform error, got %v", err)
	}
}

func mustPlatforms(t *testing.T, s ...string) []v1.Platform {
	t.Helper()
	p, err := platforms.ParseList(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlatformSubsetKeepsAttestations(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, _ := newRegistry(t)
	src := seed(t, srcHost+"/app:1.0", eight)
	res, err := run(t, srcHost+"/app:1.0", dstHost+"/app:sub", func(o *Options) {
		o.Platforms = mustPlatforms(t, "linux/amd64,linux/arm64")
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DigestChanged || res.DestinationDigest == src.String() {
		t.Fatalf("a subset must change the digest: %+v", res)
	}
	idx := checkComplete(t, dstHost+"/app:sub")
	im, _ := idx.IndexManifest()
	var plats, attest []string
	for _, d := range im.Manifests {
		if d.Annotations[fixture.AnnotationReferenceType] == fixture.ReferenceTypeAttestation {
			attest = append(attest, d.Annotations[fixture.AnnotationReferenceDigest])
			continue
		}
		plats = append(plats, platforms.Format(*d.Platform))
	}
	if fmt.Sprint(plats) != "[linux/amd64 linux/arm64/v8]" || len(attest) != 2 {
		t.Fatalf("platforms %v, attestations %v", plats, attest)
	}

	_, err = run(t, srcHost+"/app:1.0", dstHost+"/app:none", func(o *Options) {
		o.Platforms = mustPlatforms(t, "linux/mips64")
	})
	if !errdefs.Is(err, errdefs.PlatformMissing) || !strings.Contains(err.Error(), "linux/riscv64") {
		t.Fatalf("want a platform error listing what the source has, got %v", err)
	}
}

func TestOnlyMissingPartsAreFetched(t *testing.T) {
	srcHost, srcRec := newRegistry(t)
	dstHost, _ := newRegistry(t)
	seed(t, srcHost+"/app:1.0", eight)
	// The destination already has two platforms.
	if _, err := run(t, srcHost+"/app:1.0", dstHost+"/app:1.0", func(o *Options) {
		o.Platforms = mustPlatforms(t, "linux/amd64,linux/arm64")
	}); err != nil {
		t.Fatal(err)
	}
	srcRec.reset()
	res, err := run(t, srcHost+"/app:1.0", dstHost+"/app:1.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests.Skipped != 4 || res.Blobs.Skipped == 0 {
		t.Fatalf("expected the two platforms and their attestations to be skipped: %+v", res)
	}
	for _, p := range res.Platforms[:2] {
		if n := srcRec.count(http.MethodGet, "/manifests/"+p.SourceDigest.String()); n != 0 {
			t.Errorf("manifest of %s fetched %d times though the destination had it", p.Platform, n)
		}
	}
	checkComplete(t, dstHost+"/app:1.0")
}

func TestDigestMismatchLeavesTagUntouched(t *testing.T) {
	srcHost, srcRec := newRegistry(t)
	dstHost, dstRec := newRegistry(t)
	src := seed(t, srcHost+"/app:1.0", eight)
	old := seed(t, dstHost+"/app:1.0", fixture.Options{Seed: 99})

	idx, err := remote.Index(ref(t, srcHost+"/app:1.0"))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := idx.Image(mustIndexManifest(t, idx).Manifests[0].Digest)
	layers, _ := img.Layers()
	bad, _ := layers[len(layers)-1].Digest()
	srcRec.corrupt = bad.String()

	_, err = run(t, srcHost+"/app:1.0", dstHost+"/app:1.0", nil)
	if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("want a digest mismatch naming %s, got %v", bad, err)
	}
	if n := uniqueCommits(dstRec)[bad.String()]; n != 0 {
		t.Fatalf("the corrupt blob was committed")
	}
	got, err := remote.Head(ref(t, dstHost+"/app:1.0"))
	if err != nil || got.Digest != old {
		t.Fatalf("destination tag moved: %v %v (source %s)", got, err, src)
	}
}

func mustIndexManifest(t *testing.T, idx v1.ImageIndex) *v1.IndexManifest {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestDryRunWritesNothing(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, dstRec := newRegistry(t)
	seed(t, srcHost+"/app:1.0", eight)
	o := Options{
		Image:  copyopts.Image{Source: ref(t, srcHost+"/app:1.0"), Destination: ref(t, dstHost+"/app:1.0")},
		Shared: copyopts.Shared{Jobs: 4, Progress: progress.Discard()},
		DryRun: true, Registry: registry.New(),
	}
	res, describe, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if n := dstRec.count(m, ""); n != 0 {
			t.Errorf("dry run sent %d %s requests", n, m)
		}
	}
	var out bytes.Buffer
	if err := describe(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Nothing was written") || res.Bytes.Copied == 0 {
		t.Errorf("plan:\n%s\nresult %+v", out.String(), res)
	}
}

func TestNotFoundAndUnreachable(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, _ := newRegistry(t)
	_, err := run(t, srcHost+"/nope:1", dstHost+"/x:1", nil)
	if !errdefs.Is(err, errdefs.NotFound) || !strings.Contains(err.Error(), srcHost+"/nope:1") {
		t.Fatalf("got %v", err)
	}
	s := httptest.NewServer(http.NotFoundHandler())
	closed := strings.TrimPrefix(s.URL, "http://")
	s.Close()
	_, err = run(t, closed+"/app:1", dstHost+"/x:1", nil)
	if !errdefs.Is(err, errdefs.Unreachable) || !strings.Contains(err.Error(), "cannot reach registry "+closed) {
		t.Fatalf("got %v", err)
	}
}

// With the manifest cache the copy's second run reads nothing from the
// source but the tag's HEAD, and still finds a child missing at the
// destination (asked for before the tag answered): it puts the child back and
// writes the index again.
func TestManifestCacheNoop(t *testing.T) {
	srcHost, srcRec := newRegistry(t)
	dstHost, _ := newRegistry(t)
	want := seed(t, srcHost+"/app:1.0", eight)
	cache := manifestcache.Open(t.TempDir())
	withCache := func(o *Options) { o.Manifests = cache }
	if _, err := run(t, srcHost+"/app:1.0", dstHost+"/mirror/app:1.0", withCache); err != nil {
		t.Fatal(err)
	}

	srcRec.reset()
	res, err := run(t, srcHost+"/app:1.0", dstHost+"/mirror/app:1.0", withCache)
	if err != nil {
		t.Fatal(err)
	}
	if !res.UpToDate || res.Manifests.Skipped == 0 || res.Blobs.Skipped == 0 {
		t.Fatalf("second run: %+v", res)
	}
	if n := srcRec.count(http.MethodGet, "/manifests/"); n != 0 {
		t.Errorf("an up-to-date run read %d manifests from the source", n)
	}

	// A child gone at the destination: no no-op, and the image whole again.
	idx := checkComplete(t, dstHost+"/mirror/app:1.0")
	im, _ := idx.IndexManifest()
	child := im.Manifests[0].Digest
	req, _ := http.NewRequest(http.MethodDelete, "http://"+dstHost+"/v2/mirror/app/manifests/"+child.String(), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("delete %s: %v %v", child, resp, err)
	}
	srcRec.reset()
	res, err = run(t, srcHost+"/app:1.0", dstHost+"/mirror/app:1.0", withCache)
	if err != nil {
		t.Fatal(err)
	}
	if res.UpToDate || res.Manifests.Copied == 0 || res.DestinationDigest != want.String() {
		t.Fatalf("a sparse index was called up to date: %+v", res)
	}
	if n := srcRec.count(http.MethodGet, "/manifests/"); n != 0 {
		t.Errorf("the repair read %d manifests from the source, which the cache has", n)
	}
	checkComplete(t, dstHost+"/mirror/app:1.0")
}
