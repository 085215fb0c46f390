//go:build !windows

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// hangStall is the stall timeout the hang tests give the plugin
// (DOCKER_MIGRATE_STALL_TIMEOUT); the default is 30s.
const hangStall = 2 * time.Second

// stallAt is the byte of a blob (or an upload) where the proxies stop.
const stallAt = 100_000

// startQuirkProxy puts a quirk proxy (internal/testutil/quirk) in front of r
// for the test: a registry that misbehaves the way some in the field do.
func startQuirkProxy(t testing.TB, r *Registry, opts quirk.Options) *quirk.Proxy {
	t.Helper()
	return quirk.Start(t, r.Host, opts)
}

type answer struct {
	status int
	header http.Header
	body   string
	// length is the response's Content-Length (-1 if absent).
	length int64
}

// errorCode is the first OCI error code in the body, or "".
func (a answer) errorCode() string {
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal([]byte(a.body), &body) != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

// blobClient speaks the blob upload protocol with plain HTTP requests, so
// that a test can interleave the steps of two uploads.
type blobClient struct {
	t    testing.TB
	host string
	ua   string
	http *http.Client
}

func newBlobClient(t testing.TB, host, ua string) *blobClient {
	// No keep-alive: each request is its own connection, so that a reset is
	// seen by the test instead of retried by the transport.
	return &blobClient{t: t, host: host, ua: ua, http: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

func (c *blobClient) do(method, target, contentType string, body []byte) (answer, error) {
	c.t.Helper()
	u, err := url.Parse(target)
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
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b), length: resp.ContentLength}, nil
}

// must is do that fails the test on a transport error or another status.
func (c *blobClient) must(want int, method, target, contentType string, body []byte) answer {
	c.t.Helper()
	a, err := c.do(method, target, contentType, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, target, err)
	}
	if a.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, target, a.status, a.body, want)
	}
	return a
}

// open starts an upload session in repo and returns its location, checking
// that it points at the host the client speaks to.
func (c *blobClient) open(repo string) string {
	c.t.Helper()
	a := c.must(http.StatusAccepted, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	return c.location(a)
}

func (c *blobClient) location(a answer) string {
	c.t.Helper()
	loc := a.header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		c.t.Fatalf("bad Location %q", loc)
	}
	if u.IsAbs() && u.Host != c.host {
		c.t.Fatalf("Location %s leaves %s", loc, c.host)
	}
	return loc
}

// patch sends data to an upload session and returns the next location.
func (c *blobClient) patch(loc string, data []byte) string {
	c.t.Helper()
	return c.location(c.must(http.StatusAccepted, http.MethodPatch, loc, "application/octet-stream", data))
}

// commit finishes an upload with ?digest=.
func (c *blobClient) commit(loc, digest string) (answer, error) {
	c.t.Helper()
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return c.do(http.MethodPut, loc+sep+"digest="+url.QueryEscape(digest), "", nil)
}

// upload pushes data to repo in three steps and returns its digest.
func (c *blobClient) upload(repo string, data []byte) string {
	c.t.Helper()
	d := sha256Digest(data)
	a, err := c.commit(c.patch(c.open(repo), data), d)
	if err != nil || a.status != http.StatusCreated {
		c.t.Fatalf("commit %s: %v %d %s", d, err, a.status, a.body)
	}
	return d
}

func (c *blobClient) head(repo, digest string) answer {
	c.t.Helper()
	return c.must(http.StatusOK, http.MethodHead, "/v2/"+repo+"/blobs/"+digest, "", nil)
}
