package quirk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serve answers one request: first the quirks that answer in the registry's
// stead, then the forward, then the bookkeeping on the registry's answer.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	engine := isEngine(r)
	now := time.Now()

	p.mu.Lock()
	opts := p.opts
	p.stats.Requests++
	n := p.stats.Requests
	// rate-limit and flaky answer before anything else, under the lock that
	// counts them; the answer goes out once it is released.
	reply := p.rateLimit(w, r, opts, key, n, now)
	if reply == nil {
		reply = p.flaky(w, r, opts, key)
	}
	p.mu.Unlock()
	if reply != nil {
		reply()
		return
	}

	if opts.Delay > 0 {
		time.Sleep(opts.Delay)
	}

	// redirect-blobs and truncate-manifests answer in the registry's stead.
	if p.answerFault(w, r, opts, key) {
		return
	}
	// A manifest PUT: no-oci and no-index look at its media type.
	if p.refuseManifest(w, r, opts, engine) {
		return
	}
	commitDigest, quirkNote, refused := p.trackUpload(w, r, opts, key, now)
	if refused {
		return
	}
	// A blob HEAD: zero-commit and zero-commit-sticky may answer size 0.
	if p.zeroHead(w, r, opts, engine) {
		return
	}
	if p.countAndPage(w, r, opts) {
		return
	}
	p.forward(w, r, opts, key, engine, commitDigest, quirkNote)
}

// rateLimit (rate-limit) refuses the first N requests, and any repeated too
// soon after a 429; p.mu is held. It returns the answer to send once p.mu is
// released, or nil.
func (p *Proxy) rateLimit(w http.ResponseWriter, r *http.Request, opts Options, key string, n int, now time.Time) func() {
	if opts.RateLimit <= 0 || (opts.RateLimitManifests && !manifestPath.MatchString(r.URL.Path)) {
		return nil
	}
	last, seen := p.rejectedAt[key]
	early := seen && now.Sub(last) < opts.RetryAfter-50*time.Millisecond
	if early {
		p.stats.RateLimitedEarly++
	}
	if n <= opts.RateLimit || early {
		p.stats.RateLimited++
		p.rejectedAt[key] = now
		p.note(r, http.StatusTooManyRequests, "rate-limit")
		return func() {
			secs := int((opts.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "too many requests",
				"You have reached your pull rate limit. You may increase the limit by authenticating and upgrading")
		}
	}
	delete(p.rejectedAt, key)
	return nil
}

// flaky (flaky) keeps a seeded share of requests from reaching the registry:
// a reset connection or a proxy's 502; p.mu is held. It returns the answer to
// send once p.mu is released, or nil.
func (p *Proxy) flaky(w http.ResponseWriter, r *http.Request, opts Options, key string) func() {
	if !opts.Flaky {
		return nil
	}
	fail, reset := p.flakyChoice()
	if !fail || p.failedInARow[key] >= opts.FlakyMaxInARow {
		delete(p.failedInARow, key)
		return nil
	}
	p.failedInARow[key]++
	if reset {
		if hj, ok := w.(http.Hijacker); ok {
			p.stats.Resets++
			p.note(r, 0, "flaky: reset")
			return func() { resetConnection(hj) }
		}
	}
	p.stats.BadGateways++
	p.note(r, http.StatusBadGateway, "flaky")
	return func() {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
	}
}

// refuseManifest answers a manifest PUT that no-oci or no-index refuse, by
// its media type, and counts every manifest PUT. It reports whether it
// answered.
func (p *Proxy) refuseManifest(w http.ResponseWriter, r *http.Request, opts Options, engine bool) bool {
	if r.Method != http.MethodPut || !manifestPath.MatchString(r.URL.Path) {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid", "cannot read the body")
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	contentType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var doc struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(body, &doc)
	isType := func(types ...string) bool {
		for _, t := range types {
			if contentType == t || doc.MediaType == t {
				return true
			}
		}
		return false
	}
	p.mu.Lock()
	p.stats.ManifestPuts[contentType]++
	if engine {
		p.stats.ManifestPutsByEngine[contentType]++
	}
	noOCI := opts.NoOCI && isType(OCIManifest, OCIIndex)
	noIndex := opts.NoIndex && isType(OCIIndex, DockerManifestList)
	if noOCI {
		p.stats.OCIRejected++
	}
	if noIndex {
		p.stats.IndexRejected++
	}
	switch {
	case noIndex:
		p.note(r, http.StatusBadRequest, "no-index")
	case noOCI:
		p.note(r, http.StatusBadRequest, "no-oci")
	}
	p.mu.Unlock()
	switch {
	case noIndex:
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid", "manifest lists and image indexes are not supported")
		return true
	case noOCI:
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid", "unsupported media type")
		return true
	}
	return false
}

// trackUpload follows blob uploads: a new one (no-mount drops its mount;
// ?digest= is a one-request upload), and an upload session's data and
// commit, when each began, so that racy-blob can tell who overlaps whom and
// refuse the commit that does. It returns the digest a request commits, the
// note for the journal, and whether it answered.
func (p *Proxy) trackUpload(w http.ResponseWriter, r *http.Request, opts Options, key string, now time.Time) (commitDigest, quirkNote string, answered bool) {
	// A new upload: no-mount drops the mount; ?digest= is a one-request upload.
	commitKey := ""
	if r.Method == http.MethodPost && uploadsPath.MatchString(r.URL.Path) {
		q := r.URL.Query()
		if q.Has("mount") {
			if opts.NoMount {
				q.Del("mount")
				q.Del("from")
				r.URL.RawQuery = q.Encode()
				quirkNote = "no-mount: mount dropped"
				p.mu.Lock()
				p.stats.MountsDropped++
				p.mu.Unlock()
			} else {
				p.mu.Lock()
				p.stats.Mounts++
				p.mu.Unlock()
			}
		}
		if d := q.Get("digest"); d != "" {
			commitDigest, commitKey = d, key+"?digest="+d
		}
	}

	// An upload session's data or commit: racy-blob tracks who overlaps whom.
	if m := sessionPath.FindStringSubmatch(r.URL.Path); m != nil && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
		p.mu.Lock()
		if _, ok := p.uploadStart[r.URL.Path]; !ok {
			p.uploadStart[r.URL.Path] = now
		}
		p.mu.Unlock()
		if d := r.URL.Query().Get("digest"); r.Method == http.MethodPut && d != "" {
			commitDigest, commitKey = d, r.URL.Path
		}
	}
	if commitDigest == "" {
		return "", quirkNote, false
	}
	p.mu.Lock()
	start, ok := p.uploadStart[commitKey]
	if !ok {
		start = now
	}
	conflict := opts.RacyBlob && (p.committing[commitDigest] > 0 || p.committedAt[commitDigest].After(start))
	if conflict {
		p.stats.Conflicts++
		p.note(r, http.StatusBadRequest, "racy-blob: another upload of "+shortDigest(commitDigest)+" overlapped")
		p.mu.Unlock()
		writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "blob upload invalid",
			"another upload of "+commitDigest+" is in progress")
		return commitDigest, quirkNote, true
	}
	p.committing[commitDigest]++
	p.mu.Unlock()
	return commitDigest, quirkNote, false
}

// zeroHead answers a blob HEAD with size 0 where zero-commit or
// zero-commit-sticky say so. It reports whether it answered.
func (p *Proxy) zeroHead(w http.ResponseWriter, r *http.Request, opts Options, engine bool) bool {
	if r.Method != http.MethodHead {
		return false
	}
	m := blobPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return false
	}
	d := m[2]
	p.mu.Lock()
	zero := ""
	switch {
	case opts.ZeroCommit && p.zeroOnce[d]:
		delete(p.zeroOnce, d)
		zero = "zero-commit"
	case opts.ZeroCommitSticky && p.zeroSticky[d] && !engine:
		zero = "zero-commit-sticky"
	}
	if zero == "" {
		p.mu.Unlock()
		return false
	}
	p.stats.ZeroHeads++
	p.note(r, http.StatusOK, zero+": Content-Length 0")
	p.mu.Unlock()
	h := w.Header()
	h.Set("Content-Length", "0")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d)
	h.Set("Docker-Distribution-Api-Version", "registry/2.0")
	w.WriteHeader(http.StatusOK)
	return true
}

// countAndPage counts what a client sends and reads (blob data uploaded,
// manifest and blob GETs, with rate-limit-headers on a manifest's answer),
// refuses the catalog (catalog-refused) and pages it and tag lists by the
// sizes the options give. It reports whether it answered.
func (p *Proxy) countAndPage(w http.ResponseWriter, r *http.Request, opts Options) bool {
	// Blob data: count what the client sends to the registry.
	if r.Body != nil && (r.Method == http.MethodPatch || r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
		r.Body = &countingBody{ReadCloser: r.Body, p: p}
	}
	if r.Method == http.MethodGet && (manifestPath.MatchString(r.URL.Path) || blobPath.MatchString(r.URL.Path)) {
		p.mu.Lock()
		p.stats.Gets[r.URL.Path]++
		if manifestPath.MatchString(r.URL.Path) {
			p.stats.ManifestGets++
		}
		gets := p.stats.ManifestGets
		p.mu.Unlock()
		if opts.RateLimitHeaders && manifestPath.MatchString(r.URL.Path) {
			w.Header().Set("RateLimit-Limit", "100;w=21600")
			w.Header().Set("RateLimit-Remaining", fmt.Sprintf("%d;w=21600", max(100-gets, 0)))
		}
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v2/_catalog" {
		if opts.CatalogRefused > 0 {
			p.mu.Lock()
			p.note(r, opts.CatalogRefused, "catalog-refused")
			p.mu.Unlock()
			code := "UNAUTHORIZED"
			if opts.CatalogRefused == http.StatusNotFound {
				code = "NOT_FOUND"
			}
			writeError(w, opts.CatalogRefused, code, "catalog refused", "")
			return true
		}
		if opts.CatalogPageSize > 0 {
			q := r.URL.Query()
			q.Set("n", strconv.Itoa(opts.CatalogPageSize))
			r.URL.RawQuery = q.Encode()
		}
	}
	if opts.TagPageSize > 0 && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/tags/list") {
		q := r.URL.Query()
		q.Set("n", strconv.Itoa(opts.TagPageSize))
		r.URL.RawQuery = q.Encode()
	}
	return false
}

// forward sends the request to the registry, and its answer to the client
// unless lose-answers drops it. The bookkeeping is done before the
// registry's answer goes out, so that a client that has its answer also sees
// it in the counters.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, opts Options, key string, engine bool, commitDigest, quirkNote string) {
	var rec *statusRecorder
	finish := func(status int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.Method == http.MethodPost && uploadsPath.MatchString(r.URL.Path) && r.URL.Query().Has("mount") && status == http.StatusCreated {
			p.stats.MountsDone++
		}
		if commitDigest != "" {
			p.committing[commitDigest]--
			if status == http.StatusCreated {
				p.committedAt[commitDigest] = time.Now()
				p.stats.Commits[commitDigest]++
				if engine {
					p.stats.EngineCommits[commitDigest]++
					delete(p.zeroSticky, commitDigest)
				} else {
					p.zeroSticky[commitDigest] = true
				}
				p.zeroOnce[commitDigest] = true
			}
		}
		p.countSession(r, status, rec.Header())
		p.note(r, status, quirkNote)
	}
	// lose-answers: the registry does the work, the client never hears.
	lose := p.loseAnswer(r, opts, key)
	out := w
	if lose {
		out = &discardWriter{header: http.Header{}}
		quirkNote = "lose-answers: answer dropped"
	}
	rec = &statusRecorder{ResponseWriter: out, onStatus: finish}
	p.rp.ServeHTTP(rec, r)
	// Nothing written (the client went away): the commit is over all the same.
	rec.settle(0)
	if lose {
		if hj, ok := w.(http.Hijacker); ok {
			resetConnection(hj)
		}
	}
}
