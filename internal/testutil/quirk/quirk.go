// Package quirk is a reverse proxy in front of a real registry that misbehaves
// the way registries in the field do: refusing OCI media types or manifest
// lists, ignoring cross-repository mounts, failing concurrent uploads of one
// blob, answering a fresh blob's HEAD with size 0, rate limiting, dropping
// requests. Tests put it between docker-migrate (or the Docker engine) and a
// distribution registry and read its counters afterwards.
package quirk

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Media types the manifest quirks look at.
const (
	OCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	OCIIndex           = "application/vnd.oci.image.index.v1+json"
	DockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// EngineUserAgentPrefix starts the User-Agent of every registry request the
// Docker engine (dockerd) makes.
const EngineUserAgentPrefix = "docker/"

// Defaults for the zero Options fields.
const (
	DefaultRetryAfter     = time.Second
	DefaultFlakyRate      = 0.10
	DefaultFlakyMaxInARow = 3
	DefaultSeed           = 1
)

// Options choose the quirks; any combination may be on at once. The zero
// value is a faithful proxy.
type Options struct {
	// NoOCI answers a manifest PUT whose Content-Type or body mediaType is an
	// OCI manifest or index with 400 MANIFEST_INVALID, as old Artifactory,
	// Nexus and Harbor 1.x do.
	NoOCI bool
	// NoIndex answers any manifest list or OCI index PUT with 400
	// MANIFEST_INVALID.
	NoIndex bool
	// NoMount drops mount= and from= from a POST …/blobs/uploads/, so that the
	// registry opens an upload session (202) instead of mounting (201), as
	// Docker Hub does across organisations and Harbor across projects.
	NoMount bool
	// RacyBlob answers the commit (PUT ?digest=D) of an upload with 400
	// BLOB_UPLOAD_INVALID when another upload of D overlapped it: that upload
	// was committing at the same moment, or committed after this one started
	// (its first PATCH or PUT), as Nexus does.
	RacyBlob bool
	// ZeroCommit answers the first HEAD of a blob after its successful commit
	// with 200 and Content-Length: 0, once: the "failed commit … unexpected
	// size 0" of Azure Container Registry.
	ZeroCommit bool
	// ZeroCommitSticky answers every HEAD of a blob committed by a client that
	// is not the engine (User-Agent not starting with docker/) with 200 and
	// Content-Length: 0, whenever the asker is not the engine either: a
	// registry that mishandles uploads from anything but the engine. The
	// engine is answered truthfully, so that its own push (which trusts a HEAD
	// and would write the size it reads into its manifests) is fine; an upload
	// of the blob by the engine clears it.
	ZeroCommitSticky bool
	// RateLimit answers the first RateLimit requests with 429, Retry-After and
	// a TOOMANYREQUESTS body. Afterwards, a request that repeats one of those
	// (same method and path) sooner than RetryAfter is refused too and counted
	// as early: a client that hammers gets more than RateLimit 429s.
	RateLimit int
	// RateLimitManifests limits only manifest requests, as Docker Hub counts
	// manifest pulls: blobs, pings and tokens pass.
	RateLimitManifests bool
	// Delay holds every request this long before it is forwarded: a slow link,
	// so that a test can stop a run part way.
	Delay time.Duration
	// RetryAfter is the wait the 429s ask for, sent in whole seconds; 0 means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Flaky fails a seeded FlakyRate of requests before they reach the
	// registry, about half with 502 Bad Gateway and half by resetting the
	// connection: one request in each block of 1/FlakyRate, at a seeded place.
	// One request (method and path) never fails more than FlakyMaxInARow
	// times in a row, so a client that retries gets through.
	Flaky bool
	// FlakyRate is the share of requests that fail; 0 means DefaultFlakyRate.
	FlakyRate float64
	// FlakyMaxInARow bounds consecutive failures of one request; 0 means
	// DefaultFlakyMaxInARow.
	FlakyMaxInARow int
	// TagPageSize, when set, makes the registry list tags in pages of this
	// many (it rewrites n= on GET …/tags/list), so that clients must follow
	// the Link header.
	TagPageSize int
	// CatalogPageSize, when set, makes the registry list its catalog in pages
	// of this many (it rewrites n= on GET /v2/_catalog).
	CatalogPageSize int
	// CatalogRefused, when set, answers GET /v2/_catalog with this status
	// (401 UNAUTHORIZED, as Harbor answers anyone but a system administrator;
	// 404, as registries without a catalog do).
	CatalogRefused int
	// RateLimitHeaders sends Docker Hub's RateLimit-Limit and
	// RateLimit-Remaining on every manifest answer, the remaining count going
	// down by one with each manifest GET (HEADs are not counted, as on Docker
	// Hub).
	RateLimitHeaders bool
	// Seed seeds Flaky's choices; 0 means DefaultSeed. The same seed gives the
	// same sequence of choices, in the order requests arrive.
	Seed uint64

	// The faults below are in faults.go.

	// StallBlobAt, when set, makes blob downloads stop at this byte of the
	// blob and hold the connection open, sending nothing, until the client
	// goes away: a storage node that hangs mid-blob. A ranged GET that starts
	// at or past it stalls at once.
	StallBlobAt int64
	// StallBlobCount bounds how many downloads stall; 0 means all of them.
	StallBlobCount int
	// StallBlobEvery, when set, makes every blob download (a ranged one
	// too) send this many bytes from where it starts and then stall as
	// StallBlobAt does: a broken proxy that lets each resume make a little
	// progress and never finish.
	StallBlobEvery int64
	// FlipBlobs flips one bit in the middle of this share of blob downloads
	// (the length stays, only a digest check can notice): one download in
	// each block of 1/FlipBlobs, at a seeded place, and never more than
	// FlakyMaxInARow times in a row for one blob. A bad wire or a broken
	// proxy, not a corrupt registry: a second read heals.
	FlipBlobs float64
	// StallUploadAt, when set, makes uploads stop at this byte of the blob
	// (a resumed PATCH's Content-Range says where it starts): the registry
	// keeps what came before, and the client hears nothing until it goes
	// away (or StallUploadFor passes).
	StallUploadAt int64
	// StallUploadCount bounds how many PATCHes stall; 0 means all of them.
	StallUploadCount int
	// StallUploadFor is how long a stalled PATCH is held; 0 means a minute.
	StallUploadFor time.Duration
	// TruncateManifests cuts this share of manifest GETs off after half of
	// their body (the Content-Length promises it all), never more than
	// FlakyMaxInARow times in a row for one manifest.
	TruncateManifests float64
	// LoseAnswers is the share of PUTs and PATCHes that the registry carries
	// out but whose answer is lost: the proxy resets the connection instead
	// of relaying it. Never more than FlakyMaxInARow in a row for one request.
	LoseAnswers float64
	// RedirectBlobs answers blob GETs with a redirect to a storage host (a
	// second listener of the proxy, StorageHost) with a signed-looking query
	// whose X-Amz-Signature is the proxy's Signature, as registries on S3 do.
	RedirectBlobs bool
	// StorageForbidden makes the storage host answer this many GETs with 403
	// (an expired signed URL) before it serves; a negative value, all of them.
	StorageForbidden int
}

// Modes lists the quirks that are on, by their names in the docs.
func (o Options) Modes() []string {
	var m []string
	for _, q := range []struct {
		on   bool
		name string
	}{
		{o.NoOCI, "no-oci"}, {o.NoIndex, "no-index"}, {o.NoMount, "no-mount"}, {o.RacyBlob, "racy-blob"},
		{o.ZeroCommit, "zero-commit"}, {o.ZeroCommitSticky, "zero-commit-sticky"},
		{o.RateLimit > 0, "rate-limit"}, {o.Flaky, "flaky"},
		{o.StallBlobAt > 0, "stall-blob"}, {o.StallBlobEvery > 0, "stall-blob-every"}, {o.FlipBlobs > 0, "flip-blobs"},
		{o.StallUploadAt > 0, "stall-upload"},
		{o.TruncateManifests > 0, "truncate-manifests"}, {o.LoseAnswers > 0, "lose-answers"},
		{o.RedirectBlobs, "redirect-blobs"}, {o.StorageForbidden != 0, "storage-forbidden"},
	} {
		if q.on {
			m = append(m, q.name)
		}
	}
	return m
}

func (o Options) withDefaults() Options {
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.FlakyRate <= 0 {
		o.FlakyRate = DefaultFlakyRate
	}
	if o.FlakyMaxInARow <= 0 {
		o.FlakyMaxInARow = DefaultFlakyMaxInARow
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	return o
}

// Stats counts what the proxy saw and did.
type Stats struct {
	// Requests counts every request, answered by the proxy or forwarded.
	Requests int
	// OCIRejected and IndexRejected count manifest PUTs refused by NoOCI and
	// NoIndex (one refused for both reasons counts in both).
	OCIRejected, IndexRejected int
	// MountsDropped counts mount requests NoMount turned into upload sessions.
	MountsDropped int
	// Mounts counts mount requests that reached the registry as such, and
	// MountsDone those it answered 201.
	Mounts, MountsDone int
	// Conflicts counts commits RacyBlob refused.
	Conflicts int
	// Commits counts successful (201) blob commits by digest, whoever made them.
	Commits map[string]int
	// EngineCommits counts the ones made by the engine.
	EngineCommits map[string]int
	// ZeroHeads counts HEADs answered with Content-Length: 0.
	ZeroHeads int
	// RateLimited counts 429s; RateLimitedEarly those for a request repeated
	// sooner than Retry-After asked (included in RateLimited when past the
	// first RateLimit requests).
	RateLimited, RateLimitedEarly int
	// BadGateways and Resets count Flaky's failures.
	BadGateways, Resets int
	// ManifestPuts counts manifest PUTs by media type (the Content-Type), and
	// ManifestPutsByEngine those of the engine.
	ManifestPuts, ManifestPutsByEngine map[string]int
	// UploadedBytes counts the bytes of blob data sent to the registry (the
	// bodies of upload PATCHes and PUTs, and of one-request uploads).
	UploadedBytes int64
	// Gets counts GETs of manifests and blobs by path.
	Gets map[string]int
	// ManifestGets counts GETs of manifests.
	ManifestGets int

	// BlobStalls and UploadStalls count the stalls StallBlobAt and
	// StallUploadAt set off; Truncated the manifests cut short; LostAnswers
	// the answers dropped.
	BlobStalls, UploadStalls, Truncated, LostAnswers int
	// Flipped counts the blob downloads FlipBlobs flipped a bit in.
	Flipped int
	// StorageGets counts GETs at the storage host, StorageRefused those it
	// answered 403.
	StorageGets, StorageRefused int
	// UploadsOpened counts upload sessions the registry opened (202 to a
	// POST), UploadsCommitted and UploadsCancelled those closed by a commit
	// (201) or a DELETE (204). Open lists the sessions left open.
	UploadsOpened, UploadsCommitted, UploadsCancelled int
	Open                                              []string
}

// MaxCommits returns the most commits of any one digest, and that digest.
func (s Stats) MaxCommits() (int, string) {
	n, digest := 0, ""
	for d, c := range s.Commits {
		if c > n || (c == n && d < digest) {
			n, digest = c, d
		}
	}
	return n, digest
}

func (s Stats) clone() Stats {
	c := s
	c.Commits = cloneMap(s.Commits)
	c.EngineCommits = cloneMap(s.EngineCommits)
	c.ManifestPuts = cloneMap(s.ManifestPuts)
	c.ManifestPutsByEngine = cloneMap(s.ManifestPutsByEngine)
	c.Gets = cloneMap(s.Gets)
	c.Open = append([]string(nil), s.Open...)
	return c
}

func cloneMap(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Proxy is a running quirk proxy.
type Proxy struct {
	// Host is 127.0.0.1:PORT of the proxy; the registry behind it sees this
	// Host header, so the upload URLs it hands out point at the proxy.
	Host string

	// StorageHost is 127.0.0.1:PORT of the storage host RedirectBlobs sends
	// blob downloads to, and Signature the secret in the URLs it signs.
	StorageHost, Signature string

	backend   *url.URL
	started   time.Time
	srv       *httptest.Server
	rp        *httputil.ReverseProxy
	storage   *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	opts  Options
	rng   *rand.Rand
	stats Stats
	// uploadStart is when each upload session (by its path) first sent data.
	uploadStart map[string]time.Time
	// committing counts commits of a digest in flight; committedAt is when a
	// digest's last commit returned.
	committing  map[string]int
	committedAt map[string]time.Time
	zeroOnce    map[string]bool
	zeroSticky  map[string]bool
	// rejectedAt is when a request (method and path) last got a 429.
	rejectedAt map[string]time.Time
	// failedInARow counts Flaky's consecutive failures of a request.
	failedInARow map[string]int
	// flakyPos is the place in the current block of requests, flakyFail the
	// place that fails and flakyReset how.
	flakyPos, flakyFail int
	flakyReset          bool
	journal             []string

	// faults.go's state.
	faults faultState
}

// journalSize bounds the request log kept for failure messages.
const journalSize = 400

// New starts a proxy in front of the registry at backend (HOST:PORT, plain
// HTTP). Close stops it.
func New(backend string, opts Options) (*Proxy, error) {
	target, err := url.Parse("http://" + backend)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("quirk: bad backend %q: %v", backend, err)
	}
	p := &Proxy{backend: target, started: time.Now(), closing: make(chan struct{}), Signature: newSignature()}
	p.reset(opts)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The registry builds upload Locations from Host: keep the proxy's.
			pr.Out.Host = pr.In.Host
		},
		// Stream blobs through as they come.
		FlushInterval: -1,
		// A client that gives up mid-body is expected noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.rp.ModifyResponse = p.modifyResponse
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.Host = p.srv.Listener.Addr().String()
	p.startStorage()
	return p, nil
}

// Start starts a proxy for the test and stops it when the test ends; if the
// test failed, it logs the requests the proxy saw last.
func Start(t testing.TB, backend string, opts Options) *Proxy {
	t.Helper()
	p, err := New(backend, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("quirk proxy %s (%s) in front of %s; stats %s; last requests:\n  %s",
				p.Host, strings.Join(opts.Modes(), ","), backend, p.Stats(), strings.Join(p.Journal(), "\n  "))
		}
	})
	return p
}

// Close stops the proxy; it releases stalled requests and waits for the rest.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() { close(p.closing) })
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.storage.Close()
}

// Ref is a reference to repoAndTag through the proxy.
func (p *Proxy) Ref(repoAndTag string) string { return p.Host + "/" + repoAndTag }

// Set switches to other quirks from the next request on and starts the
// counters and the quirks' memory afresh.
func (p *Proxy) Set(opts Options) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset(opts)
}

func (p *Proxy) reset(opts Options) {
	p.opts = opts.withDefaults()
	p.rng = rand.New(rand.NewPCG(p.opts.Seed, p.opts.Seed^0x9e3779b97f4a7c15))
	p.stats = Stats{Commits: map[string]int{}, EngineCommits: map[string]int{}, ManifestPuts: map[string]int{}, ManifestPutsByEngine: map[string]int{}, Gets: map[string]int{}}
	p.uploadStart = map[string]time.Time{}
	p.committing = map[string]int{}
	p.committedAt = map[string]time.Time{}
	p.zeroOnce = map[string]bool{}
	p.zeroSticky = map[string]bool{}
	p.rejectedAt = map[string]time.Time{}
	p.failedInARow = map[string]int{}
	p.flakyPos = 0
	p.journal = nil
	p.faults = faultState{sessions: map[string]bool{}}
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats.clone()
}

// Journal returns the last requests, one line each: when it came (since the
// proxy started), method, path and query, the first word of the User-Agent,
// the status, and the quirk that answered.
func (p *Proxy) Journal() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.journal...)
}

// String is a one-line summary of the counters.
func (s Stats) String() string {
	n, d := s.MaxCommits()
	return fmt.Sprintf("requests %d, oci-rejected %d, index-rejected %d, mounts %d (done %d, dropped %d), conflicts %d, commits %d (max %d of %s), zero-heads %d, 429s %d (early %d), 502s %d, resets %d",
		s.Requests, s.OCIRejected, s.IndexRejected, s.Mounts, s.MountsDone, s.MountsDropped, s.Conflicts,
		sumMap(s.Commits), n, shortDigest(d), s.ZeroHeads, s.RateLimited, s.RateLimitedEarly, s.BadGateways, s.Resets)
}

func sumMap(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

var (
	manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
	blobPath     = regexp.MustCompile(`^/v2/(.+)/blobs/([a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$`)
	uploadsPath  = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/?$`)
	sessionPath  = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/([^/]+)$`)
)

// statusRecorder calls onStatus once, with the final status of a forwarded
// request, before the status goes out.
type statusRecorder struct {
	http.ResponseWriter
	settled  bool
	onStatus func(status int)
}

// settle calls onStatus unless it was called; 0 means no answer was written.
func (r *statusRecorder) settle(status int) {
	if !r.settled {
		r.settled = true
		r.onStatus(status)
	}
}

func (r *statusRecorder) WriteHeader(code int) {
	if code >= 200 {
		r.settle(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.settle(http.StatusOK)
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func isEngine(r *http.Request) bool {
	return strings.HasPrefix(r.UserAgent(), EngineUserAgentPrefix)
}

// countingBody counts the blob bytes a client uploads.
type countingBody struct {
	io.ReadCloser
	p *Proxy
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	b.p.mu.Lock()
	b.p.stats.UploadedBytes += int64(n)
	b.p.mu.Unlock()
	return n, err
}

// flakyChoice says whether the next request fails, and how; p.mu is held.
// Requests come in blocks of 1/FlakyRate: one request of each block, at a
// seeded place, fails, so the share is exact and only the places are random.
func (p *Proxy) flakyChoice() (fail, reset bool) {
	block := max(1, int(math.Round(1/p.opts.FlakyRate)))
	if p.flakyPos == 0 {
		p.flakyFail = p.rng.IntN(block)
		p.flakyReset = p.rng.IntN(2) == 0
	}
	fail, reset = p.flakyPos == p.flakyFail, p.flakyReset
	p.flakyPos = (p.flakyPos + 1) % block
	return fail, reset
}

// note adds a request to the journal; p.mu is held.
func (p *Proxy) note(r *http.Request, status int, quirk string) {
	ua, _, _ := strings.Cut(r.UserAgent(), " ")
	line := fmt.Sprintf("%6dms %s %s", time.Since(p.started).Milliseconds(), r.Method, r.URL.Path)
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		q.Del("_state") // long and opaque
		if s := q.Encode(); s != "" {
			line += "?" + s
		}
	}
	line += fmt.Sprintf(" [%s] -> %d", ua, status)
	if quirk != "" {
		line += " (" + quirk + ")"
	}
	p.journal = append(p.journal, line)
	if len(p.journal) > journalSize {
		p.journal = p.journal[len(p.journal)-journalSize:]
	}
}

// resetConnection closes the client's connection with a TCP RST.
func resetConnection(hj http.Hijacker) {
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// writeError answers with a registry error body, as the distribution spec
// describes it.
func writeError(w http.ResponseWriter, status int, code, message, detail string) {
	body, _ := json.Marshal(map[string]any{
		"errors": []map[string]string{{"code": code, "message": message, "detail": detail}},
	})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
