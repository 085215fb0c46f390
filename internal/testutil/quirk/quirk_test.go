package quirk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// These tests run the proxy in front of go-containerregistry's in-memory
// registry; e2e/quirkproxy_test.go runs it in front of the real one.

func newBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

type client struct {
	t    *testing.T
	host string
	ua   string
}

func (c client) do(method, path, contentType string, body []byte) (*http.Response, string, error) {
	c.t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		c.t.Fatal(err)
	}
	if !u.IsAbs() {
		u = (&url.URL{Scheme: "http", Host: c.host}).ResolveReference(u)
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func (c client) must(want int, method, path, contentType string, body []byte) *http.Response {
	c.t.Helper()
	resp, b, err := c.do(method, path, contentType, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	return resp
}

// upload pushes data to repo in one session (POST, PATCH, PUT) and returns
// its digest.
func (c client) upload(repo string, data []byte) string {
	c.t.Helper()
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	loc := c.must(http.StatusAccepted, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil).Header.Get("Location")
	loc = c.must(http.StatusAccepted, http.MethodPatch, loc, "application/octet-stream", data).Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	c.must(http.StatusCreated, http.MethodPut, loc+sep+"digest="+url.QueryEscape(d), "", nil)
	return d
}

func TestManifestQuirks(t *testing.T) {
	backend := newBackend(t)
	p := Start(t, backend, Options{NoOCI: true, NoIndex: true})
	c := client{t: t, host: p.Host}
	for _, tc := range []struct {
		contentType, bodyType string
		want                  int
	}{
		{DockerManifest, DockerManifest, http.StatusCreated}, // passes through
		{OCIManifest, "", http.StatusBadRequest},
		{DockerManifest, OCIManifest, http.StatusBadRequest},
		{DockerManifestList, "", http.StatusBadRequest},
		{OCIIndex, OCIIndex, http.StatusBadRequest},
	} {
		body := `{"schemaVersion":2`
		if tc.bodyType != "" {
			body += `,"mediaType":"` + tc.bodyType + `"`
		}
		body += `}`
		c.must(tc.want, http.MethodPut, "/v2/q/manifests/v1", tc.contentType, []byte(body))
	}
	s := p.Stats()
	if s.OCIRejected != 3 || s.IndexRejected != 2 {
		t.Errorf("stats %s, want 3 OCI and 2 index rejections", s)
	}
	if s.ManifestPuts[DockerManifest] != 2 || s.ManifestPuts[OCIIndex] != 1 {
		t.Errorf("manifest PUTs %v", s.ManifestPuts)
	}
}

func TestZeroCommit(t *testing.T) {
	backend := newBackend(t)
	p := Start(t, backend, Options{ZeroCommit: true})
	c := client{t: t, host: p.Host}
	d := c.upload("z/a", []byte("twelve bytes"))
	for i, want := range []int64{0, 12, 12} {
		if got := c.must(http.StatusOK, http.MethodHead, "/v2/z/a/blobs/"+d, "", nil).ContentLength; got != want {
			t.Errorf("HEAD %d: Content-Length %d, want %d", i, got, want)
		}
	}
	if s := p.Stats(); s.ZeroHeads != 1 || s.Commits[d] != 1 {
		t.Errorf("stats %s", s)
	}
}

func TestRateLimit(t *testing.T) {
	backend := newBackend(t)
	p := Start(t, backend, Options{RateLimit: 2, RetryAfter: 300 * time.Millisecond})
	c := client{t: t, host: p.Host}
	resp := c.must(http.StatusTooManyRequests, http.MethodGet, "/v2/", "", nil)
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1 (whole seconds, rounded up)", got)
	}
	c.must(http.StatusTooManyRequests, http.MethodGet, "/v2/", "", nil) // early, and among the first two
	c.must(http.StatusTooManyRequests, http.MethodGet, "/v2/", "", nil) // early again
	time.Sleep(300 * time.Millisecond)                                  // as asked
	c.must(http.StatusOK, http.MethodGet, "/v2/", "", nil)
	if s := p.Stats(); s.RateLimited != 3 || s.RateLimitedEarly != 2 {
		t.Errorf("stats %s, want 3 429s, 2 early", s)
	}
}

func TestFlaky(t *testing.T) {
	backend := newBackend(t)
	run := func(opts Options) string {
		p := Start(t, backend, opts)
		c := client{t: t, host: p.Host}
		var out strings.Builder
		for range 200 {
			resp, _, err := c.do(http.MethodGet, "/v2/", "", nil)
			switch {
			case err != nil:
				out.WriteByte('r')
			case resp.StatusCode == http.StatusBadGateway:
				out.WriteByte('b')
			default:
				out.WriteByte('o')
			}
		}
		return out.String()
	}
	got := run(Options{Flaky: true, Seed: 5})
	if n := strings.Count(got, "r") + strings.Count(got, "b"); n != 20 || !strings.Contains(got, "r") || !strings.Contains(got, "b") {
		t.Errorf("%d failures in 200 requests, want 20 of both kinds: %s", n, got)
	}
	if again := run(Options{Flaky: true, Seed: 5}); again != got {
		t.Errorf("the same seed failed other requests:\n%s\n%s", got, again)
	}
	// Every request fails, but never more than twice in a row.
	bounded := run(Options{Flaky: true, FlakyRate: 1, FlakyMaxInARow: 2})
	bounded = strings.NewReplacer("r", "x", "b", "x").Replace(bounded)
	if want := strings.Repeat("xxo", 67)[:200]; bounded != want {
		t.Errorf("FlakyRate 1, FlakyMaxInARow 2:\n got %s\nwant %s", bounded, want)
	}
}

func TestNoMountAndModes(t *testing.T) {
	backend := newBackend(t)
	p := Start(t, backend, Options{NoMount: true})
	c := client{t: t, host: p.Host}
	d := c.upload("m/a", []byte("to mount"))
	c.must(http.StatusAccepted, http.MethodPost, "/v2/m/b/blobs/uploads/?mount="+url.QueryEscape(d)+"&from=m/a", "", nil)
	if s := p.Stats(); s.MountsDropped != 1 || s.Mounts != 0 {
		t.Errorf("stats %s", s)
	}
	// The in-memory registry does not mount (202 all the same): the count
	// shows that the mount reached it.
	p.Set(Options{})
	c.must(http.StatusAccepted, http.MethodPost, "/v2/m/c/blobs/uploads/?mount="+url.QueryEscape(d)+"&from=m/a", "", nil)
	if s := p.Stats(); s.MountsDropped != 0 || s.Mounts != 1 {
		t.Errorf("after Set: stats %s", s)
	}
	if got := strings.Join((Options{NoOCI: true, RateLimit: 1, Flaky: true}).Modes(), ","); got != "no-oci,rate-limit,flaky" {
		t.Errorf("Modes() = %s", got)
	}
}

func TestFaults(t *testing.T) {
	backend := newBackend(t)
	p := Start(t, backend, Options{RedirectBlobs: true, StorageForbidden: 1})
	c := client{t: t, host: p.Host}
	d := c.upload("f/a", []byte("some blob bytes"))

	// A blob GET goes to storage with a signed URL; the first is refused.
	resp := c.must(http.StatusTemporaryRedirect, http.MethodGet, "/v2/f/a/blobs/"+d, "", nil)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http://"+p.StorageHost+"/") || !strings.Contains(loc, "X-Amz-Signature="+p.Signature) {
		t.Fatalf("redirect to %q", loc)
	}
	c.must(http.StatusForbidden, http.MethodGet, loc, "", nil)
	if _, body, _ := c.do(http.MethodGet, loc, "", nil); body != "some blob bytes" {
		t.Errorf("storage served %q", body)
	}

	// Sessions: one committed by upload, one left open. (The in-memory
	// registry cancels none: e2e/retry_test.go counts DELETEs.)
	open := c.must(http.StatusAccepted, http.MethodPost, "/v2/f/b/blobs/uploads/", "", nil).Header.Get("Location")
	s := p.Stats()
	if s.UploadsOpened != 2 || s.UploadsCommitted != 1 || len(s.Open) != 1 || !strings.Contains(open, s.Open[0]) {
		t.Errorf("sessions: opened %d, committed %d, open %v", s.UploadsOpened, s.UploadsCommitted, s.Open)
	}
	if s.StorageGets != 2 || s.StorageRefused != 1 {
		t.Errorf("storage GETs %d, refused %d", s.StorageGets, s.StorageRefused)
	}

	// A lost answer: the registry did it, the client hears a reset.
	p.Set(Options{LoseAnswers: 1})
	if _, _, err := c.do(http.MethodDelete, open, "", nil); err != nil {
		t.Fatalf("a DELETE is not a PUT or PATCH: %v", err)
	}
	if _, _, err := c.do(http.MethodPut, "/v2/f/b/manifests/v1", DockerManifest, []byte(`{}`)); err == nil {
		t.Error("a PUT's answer was not lost")
	}
	if s := p.Stats(); s.LostAnswers != 1 {
		t.Errorf("%d lost answers, want 1", s.LostAnswers)
	}

	// A black hole takes the connection and says nothing.
	hole := StartBlackHole(t)
	cl := &http.Client{Timeout: 200 * time.Millisecond}
	if _, err := cl.Get("http://" + hole.Host + "/v2/"); err == nil || hole.Accepted() != 1 {
		t.Errorf("black hole: %v, %d connections", err, hole.Accepted())
	}
}
