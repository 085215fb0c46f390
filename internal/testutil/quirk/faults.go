package quirk

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The faults of a network and of storage rather than of a registry's API:
// stalls, cut bodies, lost answers, redirects to object storage. Each is an
// Options field; Stats counts what they did.

// faultState is the proxy's memory for the faults; p.mu guards it.
type faultState struct {
	blobStalls, uploadStalls, storageRefused int
	// flipPos is the place in the current block of blob downloads, flipAt
	// the place that is flipped; flippedInARow counts a blob's flips in a row.
	flipPos, flipAt int
	flippedInARow   map[string]int
	// sessions are the upload sessions open on the registry, by UUID.
	sessions map[string]bool
}

// defaultStallUploadFor is how long a stalled PATCH is held by default.
const defaultStallUploadFor = time.Minute

func newSignature() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startStorage starts the storage host that RedirectBlobs sends downloads
// to: it serves the registry's blobs by path, and honours Range.
func (p *Proxy) startStorage() {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.backend)
			pr.Out.URL.RawQuery = ""
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.storage = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		opts := p.opts
		p.stats.Requests++
		p.stats.StorageGets++
		refuse := r.URL.Query().Get("X-Amz-Signature") != p.Signature ||
			opts.StorageForbidden < 0 || p.faults.storageRefused < opts.StorageForbidden
		if refuse {
			p.faults.storageRefused++
			p.stats.StorageRefused++
		}
		p.noteStorage(r, refuse)
		p.mu.Unlock()
		if refuse {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.StorageHost = p.storage.Listener.Addr().String()
}

// noteStorage journals a storage GET without its query (the signature);
// p.mu is held.
func (p *Proxy) noteStorage(r *http.Request, refused bool) {
	status := http.StatusOK
	if refused {
		status = http.StatusForbidden
	}
	p.journal = append(p.journal, strconv.FormatInt(time.Since(p.started).Milliseconds(), 10)+"ms storage GET "+r.URL.Path+" -> "+strconv.Itoa(status))
	if len(p.journal) > journalSize {
		p.journal = p.journal[len(p.journal)-journalSize:]
	}
}

// signedURL is where RedirectBlobs sends a blob GET: the storage host, with
// the query an S3 pre-signed URL has.
func (p *Proxy) signedURL(path string) string {
	q := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {"AKIAQUIRKPROXY/20261130/us-east-1/s3/aws4_request"},
		"X-Amz-Date":          {time.Now().UTC().Format("20060102T150405Z")},
		"X-Amz-Expires":       {"1200"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {p.Signature},
	}
	return "http://" + p.StorageHost + path + "?" + q.Encode()
}

// answerFault answers r in the registry's stead when a fault says so:
// stall-upload holds a PATCH, redirect-blobs sends a blob GET to storage,
// truncate-manifests cuts a manifest GET short. It reports whether it answered.
func (p *Proxy) answerFault(w http.ResponseWriter, r *http.Request, opts Options, key string) bool {
	if p.stallUpload(w, r, opts) {
		return true
	}
	if r.Method != http.MethodGet {
		return false
	}
	if opts.RedirectBlobs && blobPath.MatchString(r.URL.Path) {
		p.mu.Lock()
		p.stats.Gets[r.URL.Path]++
		p.note(r, http.StatusTemporaryRedirect, "redirect-blobs")
		p.mu.Unlock()
		w.Header().Set("Location", p.signedURL(r.URL.Path))
		w.WriteHeader(http.StatusTemporaryRedirect)
		return true
	}
	if opts.TruncateManifests > 0 && manifestPath.MatchString(r.URL.Path) {
		p.mu.Lock()
		cut := p.rng.Float64() < opts.TruncateManifests && p.failedInARow[key] < opts.FlakyMaxInARow
		if cut {
			p.failedInARow[key]++
			p.stats.Truncated++
			p.stats.ManifestGets++
			p.stats.Gets[r.URL.Path]++
			p.note(r, http.StatusOK, "truncate-manifests: cut after half")
		} else {
			delete(p.failedInARow, key)
		}
		p.mu.Unlock()
		if cut {
			p.rp.ServeHTTP(&truncatingWriter{ResponseWriter: w}, r)
			return true
		}
	}
	return false
}

// truncatingWriter passes on half of a 200 answer's body and then breaks the
// connection off: the client, told the whole length, reads an unexpected EOF.
type truncatingWriter struct {
	http.ResponseWriter
	limit   int64
	written int64
	cut     bool
}

func (t *truncatingWriter) WriteHeader(code int) {
	if code == http.StatusOK {
		if n, err := strconv.ParseInt(t.Header().Get("Content-Length"), 10, 64); err == nil && n > 1 {
			t.limit, t.cut = n/2, true
		}
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *truncatingWriter) Write(b []byte) (int, error) {
	if !t.cut {
		return t.ResponseWriter.Write(b)
	}
	if rest := t.limit - t.written; int64(len(b)) > rest {
		n, _ := t.ResponseWriter.Write(b[:rest])
		t.written += int64(n)
		_ = http.NewResponseController(t.ResponseWriter).Flush()
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	n, err := t.ResponseWriter.Write(b)
	t.written += int64(n)
	return n, err
}

func (t *truncatingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// stallUpload answers a PATCH the way a registry that stops taking data
// does, when StallUploadAt says so: the registry gets the first
// StallUploadAt bytes (it holds them, and says so to a GET on the session);
// the client is told nothing, until it goes away or StallUploadFor passes.
func (p *Proxy) stallUpload(w http.ResponseWriter, r *http.Request, opts Options) bool {
	if opts.StallUploadAt <= 0 || r.Method != http.MethodPatch || !sessionPath.MatchString(r.URL.Path) || r.Body == nil {
		return false
	}
	p.mu.Lock()
	stall := opts.StallUploadCount == 0 || p.faults.uploadStalls < opts.StallUploadCount
	if stall {
		p.faults.uploadStalls++
		p.stats.UploadStalls++
		p.note(r, 0, "stall-upload: held after "+strconv.FormatInt(opts.StallUploadAt, 10)+" bytes")
	}
	p.mu.Unlock()
	if !stall {
		return false
	}
	hold := opts.StallUploadFor
	if hold <= 0 {
		hold = defaultStallUploadFor
	}
	// A resumed PATCH says where it starts: the registry stops at the same
	// byte of the blob, so a PATCH that starts there gets nothing through.
	var start int64
	if first, _, ok := strings.Cut(r.Header.Get("Content-Range"), "-"); ok {
		start, _ = strconv.ParseInt(first, 10, 64)
	}
	part := make([]byte, max(0, opts.StallUploadAt-start))
	n, _ := io.ReadFull(r.Body, part)
	p.mu.Lock()
	p.stats.UploadedBytes += int64(n)
	p.mu.Unlock()
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPatch, p.backend.String()+r.URL.RequestURI(), strings.NewReader(string(part[:n])))
	if err == nil && n > 0 {
		out.Host = r.Host
		out.Header.Set("Content-Type", "application/octet-stream")
		if start > 0 {
			out.Header.Set("Content-Range", strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(start+int64(n)-1, 10))
		}
		if resp, err := http.DefaultTransport.RoundTrip(out); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
	// Take the rest, so that the client waits for an answer that never comes.
	_, _ = io.Copy(io.Discard, r.Body)
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-p.closing:
	case <-t.C:
	}
	panic(http.ErrAbortHandler) // drop the connection without an answer
}

// modifyResponse makes blob downloads stall where StallBlobAt says.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	req := resp.Request
	if req.Method != http.MethodGet || !blobPath.MatchString(req.URL.Path) ||
		(resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent) {
		return nil
	}
	p.mu.Lock()
	at, every := p.opts.StallBlobAt, p.opts.StallBlobEvery
	flip := p.flipChoice(req.URL.Path)
	p.mu.Unlock()
	if flip {
		half := int64(0)
		if resp.ContentLength > 0 {
			half = resp.ContentLength / 2
		}
		resp.Body = &flippingBody{ReadCloser: resp.Body, flipAt: half}
	}
	if at <= 0 && every <= 0 {
		return nil
	}
	var start int64
	if resp.StatusCode == http.StatusPartialContent {
		cr := strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes ")
		first, _, _ := strings.Cut(cr, "-")
		start, _ = strconv.ParseInt(first, 10, 64)
	}
	if every > 0 {
		at = start + every // each answer moves the blob on a little
	}
	if resp.ContentLength >= 0 && start+resp.ContentLength <= at {
		return nil // it ends before the place where blobs stall
	}
	resp.Body = &stallingBody{ReadCloser: resp.Body, left: max(0, at-start), p: p, gone: req.Context().Done()}
	return nil
}

// flipChoice says whether the blob download of path gets a bit flipped
// (FlipBlobs); p.mu is held.
func (p *Proxy) flipChoice(path string) bool {
	if p.opts.FlipBlobs <= 0 {
		return false
	}
	if p.faults.flippedInARow == nil {
		p.faults.flippedInARow = map[string]int{}
	}
	block := max(1, int(math.Round(1/p.opts.FlipBlobs)))
	if p.faults.flipPos == 0 {
		p.faults.flipAt = p.rng.IntN(block)
	}
	flip := p.faults.flipPos == p.faults.flipAt
	p.faults.flipPos = (p.faults.flipPos + 1) % block
	if !flip || p.faults.flippedInARow[path] >= p.opts.FlakyMaxInARow {
		delete(p.faults.flippedInARow, path)
		return false
	}
	p.faults.flippedInARow[path]++
	p.stats.Flipped++
	return true
}

// flippingBody inverts the bits of the byte at flipAt.
type flippingBody struct {
	io.ReadCloser
	flipAt, off int64
}

func (b *flippingBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if b.flipAt >= b.off && b.flipAt < b.off+int64(n) {
		buf[b.flipAt-b.off] ^= 0xff
	}
	b.off += int64(n)
	return n, err
}

// stallingBody passes left bytes on, then, if StallBlobCount allows one more
// stall, sends nothing until the client goes away or the proxy closes.
type stallingBody struct {
	io.ReadCloser
	left int64
	p    *Proxy
	gone <-chan struct{}
	// passing is set once the stall was spared: the rest goes through.
	passing bool
}

func (b *stallingBody) Read(buf []byte) (int, error) {
	if b.passing {
		return b.ReadCloser.Read(buf)
	}
	if b.left <= 0 {
		p := b.p
		p.mu.Lock()
		stall := p.opts.StallBlobCount == 0 || p.faults.blobStalls < p.opts.StallBlobCount
		if stall {
			p.faults.blobStalls++
			p.stats.BlobStalls++
		}
		p.mu.Unlock()
		if !stall {
			b.passing = true
			return b.ReadCloser.Read(buf)
		}
		select {
		case <-b.gone:
		case <-p.closing:
		}
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(buf)) > b.left {
		buf = buf[:b.left]
	}
	n, err := b.ReadCloser.Read(buf)
	b.left -= int64(n)
	return n, err
}

// loseAnswer says whether r's answer is to be lost (LoseAnswers).
func (p *Proxy) loseAnswer(r *http.Request, opts Options, key string) bool {
	if opts.LoseAnswers <= 0 || (r.Method != http.MethodPut && r.Method != http.MethodPatch) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lose := p.rng.Float64() < opts.LoseAnswers && p.failedInARow[key] < opts.FlakyMaxInARow
	if lose {
		p.failedInARow[key]++
		p.stats.LostAnswers++
	} else {
		delete(p.failedInARow, key)
	}
	return lose
}

// discardWriter takes an answer that goes nowhere.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// countSession follows upload sessions: opened by a 202 to a POST, closed by
// a commit (201) or a DELETE (204); p.mu is held.
func (p *Proxy) countSession(r *http.Request, status int, h http.Header) {
	switch {
	case r.Method == http.MethodPost && uploadsPath.MatchString(r.URL.Path) && status == http.StatusAccepted:
		loc, err := url.Parse(h.Get("Location"))
		if err != nil {
			return
		}
		if m := sessionPath.FindStringSubmatch(loc.Path); m != nil {
			p.faults.sessions[m[2]] = true
			p.stats.UploadsOpened++
		}
	case r.Method == http.MethodPut && status == http.StatusCreated, r.Method == http.MethodDelete && status == http.StatusNoContent:
		m := sessionPath.FindStringSubmatch(r.URL.Path)
		if m == nil || !p.faults.sessions[m[2]] {
			return
		}
		delete(p.faults.sessions, m[2])
		if r.Method == http.MethodPut {
			p.stats.UploadsCommitted++
		} else {
			p.stats.UploadsCancelled++
		}
	}
	p.stats.Open = p.stats.Open[:0]
	for id := range p.faults.sessions {
		p.stats.Open = append(p.stats.Open, id)
	}
	sort.Strings(p.stats.Open)
}

// BlackHole is a TCP listener that accepts connections and never answers:
// a registry whose process hangs, or a port forwarded to nothing.
type BlackHole struct {
	// Host is 127.0.0.1:PORT.
	Host string

	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// NewBlackHole starts a black hole on a free loopback port.
func NewBlackHole() (*BlackHole, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &BlackHole{Host: l.Addr().String(), l: l, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	return b, nil
}

// StartBlackHole starts a black hole for the test and closes it at its end.
func StartBlackHole(t testing.TB) *BlackHole {
	t.Helper()
	b, err := NewBlackHole()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Accepted counts the connections taken so far.
func (b *BlackHole) Accepted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// Close stops listening and closes every connection it holds.
func (b *BlackHole) Close() {
	_ = b.l.Close()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
	b.conns = nil
}
