package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// engineUA is what dockerd 20.10 sends as its User-Agent to registries.
const engineUA = "docker/20.10.24+dfsg1 go/go1.19.8 git-commit/5d6db84 os/linux arch/amd64"

// registryError returns the status and first OCI code of a go-containerregistry error.
func registryError(err error) (int, string) {
	var te *transport.Error
	if !errors.As(err, &te) {
		return 0, ""
	}
	code := ""
	if len(te.Errors) > 0 {
		code = string(te.Errors[0].Code)
	}
	return te.StatusCode, code
}

// TestQuirkProxy checks, without the plugin, that each quirk does what it says
// in front of the real registry, with plain HTTP requests and with
// go-containerregistry.
func TestQuirkProxy(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	ociOpts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], Attestations: true, LayerSize: tinyLayer, Seed: 41}
	dockerOpts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], Docker: true, LayerSize: tinyLayer, Seed: 42}
	ociIdx, err := fixture.NewIndex(ociOpts)
	if err != nil {
		t.Fatal(err)
	}
	dockerIdx, err := fixture.NewIndex(dockerOpts)
	if err != nil {
		t.Fatal(err)
	}
	// write pushes an index (or, when single, its first image) through p.
	write := func(t *testing.T, p *quirk.Proxy, ref string, opts fixture.Options, single bool) error {
		t.Helper()
		ctx := checkContext(t)
		parsed, err := name.ParseReference(p.Ref(ref))
		if err != nil {
			t.Fatal(err)
		}
		if single {
			img, err := fixture.NewImage(opts)
			if err != nil {
				t.Fatal(err)
			}
			return remote.Write(parsed, img, remote.WithContext(ctx))
		}
		idx := ociIdx
		if opts.Docker {
			idx = dockerIdx
		}
		return remote.WriteIndex(parsed, idx, remote.WithContext(ctx))
	}

	t.Run("faithful", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{})
		if err := write(t, p, "faithful/oci:v1", ociOpts, false); err != nil {
			t.Fatal(err)
		}
		assertComplete(t, reg, reg.Ref("faithful/oci:v1"))
		// Upload locations point at the proxy, not at the registry behind it.
		c := newBlobClient(t, p.Host, "e2e")
		c.upload("faithful/blobs", []byte("through the proxy"))
		s := p.Stats()
		if s.Requests < 10 || s.ManifestPuts[quirk.OCIIndex] != 1 || s.ManifestPuts[quirk.OCIManifest] != 4 {
			t.Errorf("stats %s, manifest PUTs %v", s, s.ManifestPuts)
		}
	})

	t.Run("no-oci", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{NoOCI: true})
		err := write(t, p, "no-oci/oci:v1", ociOpts, false)
		if status, code := registryError(err); status != http.StatusBadRequest || code != "MANIFEST_INVALID" {
			t.Errorf("OCI index: %v, want 400 MANIFEST_INVALID", err)
		}
		assertAbsent(t, reg, reg.Ref("no-oci/oci:v1"))
		err = write(t, p, "no-oci/oci-single:v1", fixture.Options{LayerSize: tinyLayer, Seed: 43}, true)
		if status, _ := registryError(err); status != http.StatusBadRequest {
			t.Errorf("OCI image: %v, want 400", err)
		}
		if err := write(t, p, "no-oci/docker:v1", dockerOpts, false); err != nil {
			t.Errorf("a Docker manifest list: %v", err)
		}
		assertComplete(t, reg, reg.Ref("no-oci/docker:v1"))
		// The body's mediaType counts too, whatever the Content-Type says.
		c := newBlobClient(t, p.Host, "e2e")
		a := c.must(http.StatusBadRequest, http.MethodPut, "/v2/no-oci/raw/manifests/v1", quirk.DockerManifest,
			[]byte(`{"schemaVersion":2,"mediaType":"`+quirk.OCIManifest+`"}`))
		if a.errorCode() != "MANIFEST_INVALID" || !strings.Contains(a.body, "unsupported media type") {
			t.Errorf("body %s", a.body)
		}
		// go-containerregistry writes an index's children in parallel: how
		// many are refused before it gives up depends on timing, but at least
		// the index's first child, the single image and the raw PUT are.
		if s := p.Stats(); s.OCIRejected < 3 || s.IndexRejected != 0 {
			t.Errorf("stats %s, want at least 3 OCI rejections and no index rejection", s)
		}
	})

	t.Run("no-index", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{NoIndex: true})
		for _, opts := range []fixture.Options{dockerOpts, ociOpts} {
			ref := fmt.Sprintf("no-index/list-%v:v1", opts.Docker)
			err := write(t, p, ref, opts, false)
			if status, code := registryError(err); status != http.StatusBadRequest || code != "MANIFEST_INVALID" {
				t.Errorf("%s: %v, want 400 MANIFEST_INVALID", ref, err)
			}
			assertAbsent(t, reg, reg.Ref(ref))
		}
		for _, opts := range []fixture.Options{{LayerSize: tinyLayer, Seed: 44}, {LayerSize: tinyLayer, Seed: 45, Docker: true}} {
			ref := fmt.Sprintf("no-index/single-%v:v1", opts.Docker)
			if err := write(t, p, ref, opts, true); err != nil {
				t.Errorf("%s: %v", ref, err)
			}
		}
		if s := p.Stats(); s.IndexRejected != 2 || s.OCIRejected != 0 {
			t.Errorf("stats %s, want 2 index rejections", s)
		}
	})

	t.Run("no-mount", func(t *testing.T) {
		t.Parallel()
		direct := newBlobClient(t, reg.Host, "e2e")
		d := direct.upload("no-mount/a", []byte("a blob to mount"))
		mount := "/v2/no-mount/b/blobs/uploads/?mount=" + url.QueryEscape(d) + "&from=no-mount/a"

		faithful := startQuirkProxy(t, reg, quirk.Options{})
		newBlobClient(t, faithful.Host, "e2e").must(http.StatusCreated, http.MethodPost, mount, "", nil)
		if s := faithful.Stats(); s.Mounts != 1 || s.MountsDone != 1 || s.MountsDropped != 0 {
			t.Errorf("faithful proxy: %s", s)
		}

		p := startQuirkProxy(t, reg, quirk.Options{NoMount: true})
		c := newBlobClient(t, p.Host, "e2e")
		loc := c.location(c.must(http.StatusAccepted, http.MethodPost, strings.Replace(mount, "/b/", "/c/", 1), "", nil))
		if a, err := direct.do(http.MethodHead, "/v2/no-mount/c/blobs/"+d, "", nil); err != nil || a.status != http.StatusNotFound {
			t.Errorf("HEAD of the blob after a dropped mount: %v %d, want 404", err, a.status)
		}
		// The session it opened instead takes the upload.
		if a, err := c.commit(c.patch(loc, []byte("a blob to mount")), d); err != nil || a.status != http.StatusCreated {
			t.Errorf("upload into the session: %v %d %s", err, a.status, a.body)
		}
		if s := p.Stats(); s.MountsDropped != 1 || s.Mounts != 0 || s.Commits[d] != 1 {
			t.Errorf("stats %s", s)
		}
	})

	t.Run("racy-blob", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{RacyBlob: true})
		c := newBlobClient(t, p.Host, "e2e")
		data := []byte("one blob, two uploads")
		d := sha256Digest(data)
		// Two uploads of one digest, interleaved: the second to commit fails.
		first, second := c.open("racy/a"), c.open("racy/b")
		first, second = c.patch(first, data), c.patch(second, data)
		if a, err := c.commit(first, d); err != nil || a.status != http.StatusCreated {
			t.Fatalf("first commit: %v %d %s", err, a.status, a.body)
		}
		a, err := c.commit(second, d)
		if err != nil || a.status != http.StatusBadRequest || a.errorCode() != "BLOB_UPLOAD_INVALID" {
			t.Errorf("second, overlapping commit: %v %d %s, want 400 BLOB_UPLOAD_INVALID", err, a.status, a.body)
		}
		// One after the other is fine, and so are other digests meanwhile.
		c.upload("racy/c", data)
		other := c.open("racy/a")
		c.upload("racy/a", []byte("another blob"))
		if a, err := c.commit(c.patch(other, []byte("a third blob")), sha256Digest([]byte("a third blob"))); err != nil || a.status != http.StatusCreated {
			t.Errorf("commit of another digest: %v %d %s", err, a.status, a.body)
		}
		s := p.Stats()
		if n, md := s.MaxCommits(); s.Conflicts != 1 || s.Commits[d] != 2 || n != 2 || md != d {
			t.Errorf("stats %s, commits %v: want 1 conflict and 2 commits of %s", s, s.Commits, d)
		}
	})

	t.Run("zero-commit", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{ZeroCommit: true})
		c := newBlobClient(t, p.Host, "e2e")
		data := []byte("a blob that reads back empty once")
		d := c.upload("zero/a", data)
		if a := c.head("zero/a", d); a.length != 0 || a.header.Get("Content-Length") != "0" || a.header.Get("Docker-Content-Digest") != d {
			t.Errorf("first HEAD after the commit: Content-Length %q (%d), digest %q; want 0", a.header.Get("Content-Length"), a.length, a.header.Get("Docker-Content-Digest"))
		}
		if a := c.head("zero/a", d); a.length != int64(len(data)) {
			t.Errorf("second HEAD: Content-Length %d, want %d", a.length, len(data))
		}
		if a := c.must(http.StatusOK, http.MethodGet, "/v2/zero/a/blobs/"+d, "", nil); a.body != string(data) {
			t.Errorf("GET %q", a.body)
		}
		if s := p.Stats(); s.ZeroHeads != 1 {
			t.Errorf("stats %s, want 1 zero HEAD", s)
		}
	})

	t.Run("zero-commit-sticky", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{ZeroCommitSticky: true})
		tool := newBlobClient(t, p.Host, "docker-migrate/test go-containerregistry/v0.22.1")
		engine := newBlobClient(t, p.Host, engineUA)
		data := []byte("a blob the tool uploaded")
		d := tool.upload("sticky/a", data)
		for i := range 3 {
			if a := tool.head("sticky/a", d); a.length != 0 {
				t.Errorf("HEAD %d by the tool: Content-Length %d, want 0", i, a.length)
			}
		}
		if a := engine.head("sticky/a", d); a.length != int64(len(data)) {
			t.Errorf("HEAD by the engine: Content-Length %d, want %d", a.length, len(data))
		}
		// The engine's own uploads are fine, and fix the tool's.
		fine := engine.upload("sticky/b", []byte("a blob the engine uploaded"))
		if a := tool.head("sticky/b", fine); a.length != int64(len("a blob the engine uploaded")) {
			t.Errorf("HEAD of the engine's blob: Content-Length %d", a.length)
		}
		engine.upload("sticky/a", data)
		if a := tool.head("sticky/a", d); a.length != int64(len(data)) {
			t.Errorf("HEAD after the engine uploaded it again: Content-Length %d", a.length)
		}
		if s := p.Stats(); s.ZeroHeads != 3 || s.EngineCommits[d] != 1 || s.Commits[d] != 2 {
			t.Errorf("stats %s, engine commits %v", s, s.EngineCommits)
		}
	})

	t.Run("rate-limit", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, reg, quirk.Options{RateLimit: 3})
		c := newBlobClient(t, p.Host, "e2e")
		start := time.Now()
		for _, path := range []string{"/v2/", "/v2/rl/a/tags/list", "/v2/rl/b/tags/list"} {
			a := c.must(http.StatusTooManyRequests, http.MethodGet, path, "", nil)
			if a.header.Get("Retry-After") != "1" || a.errorCode() != "TOOMANYREQUESTS" {
				t.Errorf("GET %s: Retry-After %q, body %s", path, a.header.Get("Retry-After"), a.body)
			}
		}
		// Past the first three, a request repeated too soon is refused again;
		// any other passes.
		c.must(http.StatusTooManyRequests, http.MethodGet, "/v2/", "", nil)
		c.must(http.StatusNotFound, http.MethodGet, "/v2/rl/c/tags/list", "", nil)
		if s := p.Stats(); s.RateLimited != 4 || s.RateLimitedEarly != 1 {
			t.Errorf("stats %s, want 4 429s, 1 early", s)
		}
		// Waiting as asked works. (A sleep here is the point of the test.)
		time.Sleep(time.Until(start.Add(time.Second + 50*time.Millisecond)))
		c.must(http.StatusOK, http.MethodGet, "/v2/", "", nil)
		c.must(http.StatusNotFound, http.MethodGet, "/v2/rl/a/tags/list", "", nil)
		if s := p.Stats(); s.RateLimited != 4 || s.RateLimitedEarly != 1 {
			t.Errorf("stats %s, want still 4 429s", s)
		}
	})

	t.Run("flaky", func(t *testing.T) {
		t.Parallel()
		const requests = 300
		// outcomes runs the requests through a fresh flaky proxy and returns
		// one letter each: o for OK, b for 502, r for a reset.
		outcomes := func(seed uint64) (string, quirk.Stats) {
			p := startQuirkProxy(t, reg, quirk.Options{Flaky: true, Seed: seed})
			c := newBlobClient(t, p.Host, "e2e")
			var out strings.Builder
			for range requests {
				a, err := c.do(http.MethodGet, "/v2/", "", nil)
				switch {
				case err != nil:
					out.WriteByte('r')
				case a.status == http.StatusBadGateway:
					out.WriteByte('b')
				case a.status == http.StatusOK:
					out.WriteByte('o')
				default:
					t.Fatalf("GET /v2/: %d %s", a.status, a.body)
				}
			}
			return out.String(), p.Stats()
		}
		got, s := outcomes(7)
		resets, bad := strings.Count(got, "r"), strings.Count(got, "b")
		if resets != s.Resets || bad != s.BadGateways || s.Requests != requests {
			t.Errorf("client saw %d resets and %d 502s, proxy says %s", resets, bad, s)
		}
		if resets == 0 || bad == 0 || resets+bad != requests/10 {
			t.Errorf("%d resets and %d 502s in %d requests, want 10%% of both kinds", resets, bad, requests)
		}
		if longestFailureRun(got) > quirk.DefaultFlakyMaxInARow {
			t.Errorf("a request failed %d times in a row: %s", longestFailureRun(got), got)
		}
		if again, _ := outcomes(7); again != got {
			t.Errorf("the same seed gave other failures:\n%s\n%s", got, again)
		}
		if other, _ := outcomes(8); other == got {
			t.Errorf("another seed gave the same failures")
		}
		t.Logf("seed 7: %s", got)
	})
}

// longestFailureRun is the longest run of non-'o' letters.
func longestFailureRun(s string) int {
	longest, run := 0, 0
	for _, c := range s {
		if c == 'o' {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}
