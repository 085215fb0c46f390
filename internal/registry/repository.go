package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ManifestAccept lists every manifest type docker-migrate understands, in the
// order a registry should prefer; schema 1 is there only to be recognised and refused.
var ManifestAccept = []string{
	string(types.OCIImageIndex),
	string(types.DockerManifestList),
	string(types.OCIManifestSchema1),
	string(types.DockerManifestSchema2),
	string(types.DockerManifestSchema1Signed),
	string(types.DockerManifestSchema1),
}

// maxManifestSize bounds what is read into memory for one manifest; registries
// commonly refuse manifests over 4 MiB anyway.
const maxManifestSize = 4 << 20

// Repository is an authorised handle on one repository of one registry.
type Repository struct {
	Name   name.Repository
	client *http.Client
	base   string
	logf   func(format string, args ...any)
	// notifyf shows the user a line (a wait for a rate limit).
	notifyf   func(format string, args ...any)
	ratef     func(host, remaining string)
	access    Access
	rateNoted atomic.Bool
	// signin is the handle's transport: it knows whether credentials went
	// with the requests, so that a refusal can say they were refused.
	signin *signIn
	// unreadable is why the user's credentials could not be read, if so.
	unreadable string
	// owner opened the handle: MountFrom asks it for a handle whose token
	// also reaches the repository mounted from.
	owner *Client
}

// Host is the registry host the handle talks to.
func (r *Repository) Host() string { return r.Name.RegistryStr() }

func (r *Repository) op() string {
	if r.access == Push {
		return "push to " + r.Name.Name()
	}
	return "read " + r.Name.Name()
}

func (r *Repository) check(resp *http.Response, codes ...int) error {
	err := checkResponse(resp, r.Host(), r.op(), codes...)
	if err != nil && errdefs.Is(err, errdefs.Unauthorized) && r.signin != nil {
		err = credentialsRefused(err, r.Host(), r.op(), r.signin.sentCredentials(), r.unreadable)
	}
	if err != nil && r.access == Pull && errdefs.Is(err, errdefs.Unauthorized) {
		// Docker Hub answers 401, not 404, for a repository that does not exist.
		e, _ := errors.AsType[*errdefs.Error](err)
		e.Msg += ", or check that the repository exists"
	}
	return err
}

// do sends a request built by mk, and again (mk builds a fresh one, so bodies
// replay) when the answer says "try again": 429 (waiting what Retry-After
// asks, up to maxRateLimitWait), 502/503/504, or a broken connection. The
// number of tries is bounded, so a registry in trouble is never hammered.
func (r *Repository) do(ctx context.Context, mk func() (*http.Request, error)) (*http.Response, error) {
	return r.doLanded(ctx, mk, nil)
}

// errLanded is what doLanded returns when an answer was lost and landed says
// the request took effect all the same.
var errLanded = errors.New("the request took effect; its answer was lost")

// doLanded is do for a request that is not worth sending twice once it took
// effect (a manifest PUT): after a lost answer, landed is asked first, and
// when it says yes the result is errLanded.
func (r *Repository) doLanded(ctx context.Context, mk func() (*http.Request, error), landed func(context.Context) bool) (*http.Response, error) {
	// Three budgets: answers that say "broken" (5xx, resets) get a few quick
	// retries; answers that say "wait" (429) get more, each as long as asked;
	// a host that sends nothing gets one more chance, since each costs a
	// whole stall timeout.
	const attempts, rateAttempts, stallAttempts = 5, 10, 2
	failures, limited, stalls := 0, 0, 0
	for {
		req, err := mk()
		if err != nil {
			return nil, err
		}
		req = req.WithContext(ctx)
		resp, err := r.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if se, ok := errors.AsType[*signInError](err); ok {
				return nil, se.err // connect retried what was worth it
			}
			failures++
			if _, ok := errors.AsType[*StallError](err); ok {
				stalls++
			}
			if failures == attempts || stalls == stallAttempts || errors.Is(err, syscall.ECONNREFUSED) || isPermanent(err) {
				if landed != nil && !isPermanent(err) && landed(ctx) {
					return nil, errLanded
				}
				return nil, unreachable(err, r.Host())
			}
			r.logf("%s %s: %v; retrying", req.Method, redact(req.URL), causeOf(err))
			if landed != nil && landed(ctx) {
				return nil, errLanded
			}
			if err := sleep(ctx, backoff(failures-1)); err != nil {
				return nil, err
			}
			continue
		}
		r.noteRateLimit(resp)
		var wait time.Duration
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			limited++
			wait = retryAfter(resp.Header)
			if wait == 0 {
				wait = time.Second
			}
			if wait > maxRateLimitWait || limited == rateAttempts || quotaGone(resp.Header) {
				return resp, nil // a long wait is the user's call: say so and stop
			}
			r.notify("%s is rate limiting requests; waiting %s as it asks", r.Host(), wait)
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			failures++
			if failures == attempts {
				return resp, nil
			}
			wait = backoff(failures - 1)
		default:
			return resp, nil
		}
		r.logf("%s %s: %s; retrying in %s", req.Method, redact(req.URL), resp.Status, wait)
		drain(resp)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// causeOf is a request's error without the URL *url.Error puts in front of
// it (query and all).
func causeOf(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// maxRateLimitWait is the longest Retry-After honoured by waiting; past it the
// run stops with a message rather than sit silent for minutes.
const maxRateLimitWait = 60 * time.Second

// isPermanent reports network errors no retry can fix (a bad certificate,
// an unknown host, HTTP where HTTPS is required).
func isPermanent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && !dnsErr.IsTemporary {
		return true
	}
	if _, ok := errors.AsType[*ErrPlainHTTP](err); ok {
		return true
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid)
}

// quotaGone reports Docker Hub's "no pulls left in this period": retrying
// before the period ends only spends requests.
func quotaGone(h http.Header) bool {
	n, _, _ := strings.Cut(h.Get("RateLimit-Remaining"), ";")
	return strings.TrimSpace(n) == "0" && h.Get("Retry-After") == ""
}

// noteRateLimit tells the user once when Docker Hub says no pulls remain.
func (r *Repository) noteRateLimit(resp *http.Response) {
	rem := resp.Header.Get("RateLimit-Remaining")
	if rem == "" {
		return
	}
	n, _, _ := strings.Cut(rem, ";")
	if r.ratef != nil {
		r.ratef(r.Host(), strings.TrimSpace(n))
	}
	if strings.TrimSpace(n) == "0" && r.rateNoted.CompareAndSwap(false, true) {
		r.notify("%s reports no pulls left in this period (RateLimit-Remaining: %s); log in with 'docker login' for a higher limit", r.Host(), rem)
	}
}

func (r *Repository) notify(format string, args ...any) {
	if r.notifyf != nil {
		r.notifyf(format, args...)
	} else {
		r.logf(format, args...)
	}
}

func backoff(attempt int) time.Duration {
	return min(time.Duration(200<<(2*attempt))*time.Millisecond, 2*time.Second)
}

// Sleep waits d, or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// redact drops the query, which may hold upload state or signed-URL secrets.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}

func (r *Repository) manifestURL(ref string) string { return r.base + "/manifests/" + ref }
func (r *Repository) blobURL(d v1.Hash) string      { return r.base + "/blobs/" + d.String() }

func newRequest(method, u string, body io.Reader) (*http.Request, error) {
	return http.NewRequest(method, u, body)
}

// Describe returns the descriptor of the manifest ref points to: by a HEAD,
// or by a GET when the registry leaves the digest off its answer to a HEAD
// (store.Describer).
func (r *Repository) Describe(ctx context.Context, ref string) (v1.Descriptor, error) {
	d, err := r.HeadManifest(ctx, ref)
	if errors.Is(err, store.ErrNoDigest) {
		_, d, err = r.GetManifest(ctx, ref)
	}
	return d, err
}

// HeadManifest returns the descriptor of the manifest ref (a tag or a digest)
// points to. A missing manifest is an errdefs.NotFound error.
func (r *Repository) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	resp, err := r.do(ctx, func() (*http.Request, error) {
		req, err := newRequest(http.MethodHead, r.manifestURL(ref), nil)
		if err == nil {
			req.Header.Set("Accept", strings.Join(ManifestAccept, ","))
		}
		return req, err
	})
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer drain(resp)
	if err := r.check(resp, http.StatusOK); err != nil {
		return v1.Descriptor{}, err
	}
	d, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		// Some registries send no digest on HEAD; Describe falls back to GET.
		return v1.Descriptor{}, fmt.Errorf("HEAD %s gave no Docker-Content-Digest: %w", ref, store.ErrNoDigest)
	}
	size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	return v1.Descriptor{
		MediaType: types.MediaType(mediaType(resp.Header.Get("Content-Type"))),
		Digest:    d,
		Size:      size,
	}, nil
}

func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// GetManifest reads a manifest. When ref is a digest the body is checked against
// it. A body cut short (or that fails its digest once) is read again: a manifest
// is small, and a GET is safe to repeat.
func (r *Repository) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	const attempts = 5
	mismatches := 0
	for attempt := 1; ; attempt++ {
		body, desc, err := r.getManifestOnce(ctx, ref)
		if err == nil || ctx.Err() != nil || attempt == attempts {
			return body, desc, err
		}
		switch {
		case errdefs.Is(err, errdefs.DigestMismatch):
			// Once may be the wire; twice is what the registry holds.
			if mismatches++; mismatches > 1 {
				return nil, v1.Descriptor{}, err
			}
		case errors.Is(err, errBodyCut):
		default:
			return nil, v1.Descriptor{}, err
		}
		r.logf("GET %s: %v; reading it again", redact(mustParse(r.manifestURL(ref))), err)
		if err := sleep(ctx, backoff(attempt-1)); err != nil {
			return nil, v1.Descriptor{}, err
		}
	}
}

// errBodyCut marks a body that broke off before its end.
var errBodyCut = errors.New("the answer was cut short")

func (r *Repository) getManifestOnce(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	resp, err := r.do(ctx, func() (*http.Request, error) {
		req, err := newRequest(http.MethodGet, r.manifestURL(ref), nil)
		if err == nil {
			req.Header.Set("Accept", strings.Join(ManifestAccept, ","))
		}
		return req, err
	})
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	defer drain(resp)
	if err := r.check(resp, http.StatusOK); err != nil {
		return nil, v1.Descriptor{}, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, v1.Descriptor{}, ctx.Err()
		}
		return nil, v1.Descriptor{}, &cutError{err: unreachable(err, r.Host())}
	}
	if len(body) > maxManifestSize {
		return nil, v1.Descriptor{}, errdefs.New(errdefs.Rejected, "manifest %s@%s is larger than %d bytes", r.Name.Name(), ref, maxManifestSize)
	}
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	if want, err := v1.NewHash(ref); err == nil && want != d {
		return nil, v1.Descriptor{}, errdefs.New(errdefs.DigestMismatch,
			"digest mismatch: %s served manifest %s with digest %s; the source registry holds a corrupt manifest: report it to its operator, or copy from another mirror", r.Host(), want, d)
	}
	return body, v1.Descriptor{
		MediaType: types.MediaType(mediaType(resp.Header.Get("Content-Type"))),
		Digest:    d,
		Size:      int64(len(body)),
	}, nil
}

// cutError is a body that broke off: its sentence is the network's, and it
// is errBodyCut to errors.Is.
type cutError struct{ err error }

func (e *cutError) Error() string   { return e.err.Error() }
func (e *cutError) Unwrap() []error { return []error{e.err, errBodyCut} }

func mustParse(u string) *url.URL {
	p, _ := url.Parse(u)
	return p
}

func sha256Of(body []byte) v1.Hash {
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	return d
}

// redirectedTo is the host a request ended at when that is not the registry
// (object storage behind a redirect), or "".
func redirectedTo(resp *http.Response, registry string) string {
	if resp.Request == nil || resp.Request.URL == nil || strings.EqualFold(resp.Request.URL.Host, registry) {
		return ""
	}
	return resp.Request.URL.Host
}

// PutManifest uploads a manifest under ref (a tag or its digest). A PUT whose
// answer was lost is not simply sent again: a HEAD first tells whether it
// landed.
func (r *Repository) PutManifest(ctx context.Context, ref string, mt types.MediaType, body []byte) error {
	want := sha256Of(body)
	resp, err := r.doLanded(ctx, func() (*http.Request, error) {
		req, err := newRequest(http.MethodPut, r.manifestURL(ref), bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", string(mt))
		}
		return req, err
	}, func(ctx context.Context) bool {
		got, err := r.HeadManifest(ctx, ref)
		return err == nil && got.Digest == want
	})
	if errors.Is(err, errLanded) {
		r.logf("PUT manifest %s: the answer was lost, and a HEAD shows the manifest there", ref)
		return nil
	}
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := r.check(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted); err != nil {
		return &ManifestPutError{MediaType: mt, Ref: ref, Err: err}
	}
	return nil
}

// BlobExists reports whether the repository has blob d, with a HEAD.
func (r *Repository) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodHead, r.blobURL(d), nil) })
	if err != nil {
		return false, err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err := r.check(resp, http.StatusOK); err != nil {
		return false, err
	}
	return true, nil
}

// BlobSize HEADs blob d and returns its size, or ok false when it is missing.
func (r *Repository) BlobSize(ctx context.Context, d v1.Hash) (size int64, ok bool, err error) {
	resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodHead, r.blobURL(d), nil) })
	if err != nil {
		return 0, false, err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return 0, false, nil
	}
	if err := r.check(resp, http.StatusOK); err != nil {
		return 0, false, err
	}
	return resp.ContentLength, true, nil
}

// GetBlob opens blob d for reading. A small blob (a config, which the caller
// reads whole to parse it) is read here and checked against d: bytes that do
// not match once are read again, as a bit flipped on the wire or by a proxy
// heals on a second read; a second mismatch is what the source holds. A
// larger blob is streamed, and the caller verifies what it reads.
func (r *Repository) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	for attempt := 1; ; attempt++ {
		rc, _, err := r.GetBlobAt(ctx, d, 0, -1)
		if err != nil || d.Algorithm != "sha256" {
			return rc, err
		}
		head, err := io.ReadAll(io.LimitReader(rc, store.SmallBlobSize+1))
		if err != nil || len(head) > store.SmallBlobSize {
			// The caller reads on (or meets the error) where this stopped.
			rest := io.Reader(rc)
			if err != nil {
				rest = failingReader{err}
			}
			return struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(head), rest), rc}, nil
		}
		_ = rc.Close()
		got := sha256Of(head)
		if got == d {
			return io.NopCloser(bytes.NewReader(head)), nil
		}
		if attempt > 1 {
			return nil, errdefs.Wrap(ErrRetried, errdefs.DigestMismatch,
				"digest mismatch: blob %s from %s has digest %s, twice; the source registry holds a corrupt blob: report it to its operator, or copy from another mirror", d, r, got)
		}
		r.logf("GET blob %s from %s: its bytes have digest %s; reading it again", d, r, got)
	}
}

// GetBlobAt opens blob d, of size bytes (-1: not known), for reading from
// offset off on, with a Range request; start is where the body really begins:
// off when the registry honoured the range, 0 when it sent the whole blob. A
// storage host that refuses the signed URL a registry redirected to (it
// expired) is not the registry refusing the user: the registry is asked again
// for a fresh one.
func (r *Repository) GetBlobAt(ctx context.Context, d v1.Hash, off, size int64) (rc io.ReadCloser, start int64, err error) {
	if size < 0 || size > store.SmallBlobSize {
		ctx = bulk(ctx) // the body comes over a connection of its own
	}
	const refusals = 3
	for attempt := 1; ; attempt++ {
		resp, err := r.do(ctx, func() (*http.Request, error) {
			req, err := newRequest(http.MethodGet, r.blobURL(d), nil)
			if err == nil && off > 0 {
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
			}
			return req, err
		})
		if err != nil {
			return nil, 0, err
		}
		if storage := redirectedTo(resp, r.Host()); storage != "" && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized) {
			status := resp.Status
			drain(resp)
			if attempt < refusals {
				r.logf("GET %s: %s; asking %s for a fresh URL", redact(resp.Request.URL), status, r.Host())
				if err := sleep(ctx, backoff(attempt-1)); err != nil {
					return nil, 0, err
				}
				continue
			}
			return nil, 0, errdefs.Wrap(ErrRetried, errdefs.Unavailable,
				"%s: the storage host %s, where %s redirected the download of blob %s, refused the URL it was given (%s; a signed URL that expired?); run again later, or ask the registry's operator",
				r.op(), storage, r.Host(), d, status)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return resp.Body, 0, nil
		case http.StatusPartialContent:
			if got, ok := rangeStart(resp.Header.Get("Content-Range")); ok && got == off {
				return resp.Body, off, nil
			}
			// A range other than the one asked for: read the whole blob.
			drain(resp)
			if off == 0 {
				return nil, 0, errdefs.New(errdefs.Rejected, "%s answered a read of blob %s with a part of it", r.Host(), d)
			}
			off = 0
			continue
		case http.StatusRequestedRangeNotSatisfiable:
			drain(resp)
			return nil, 0, &ShortBlobError{Host: r.Host(), Digest: d, Size: off}
		}
		if err := r.check(resp, http.StatusOK); err != nil {
			drain(resp)
			if errdefs.Is(err, errdefs.NotFound) {
				return nil, 0, errdefs.Wrap(err, errdefs.NotFound, "blob %s is missing from %s: the source image is incomplete", d, r.Name.Name())
			}
			return nil, 0, err
		}
	}
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// ShortBlobError is a range the registry cannot serve: the blob it holds
// ends before Size bytes.
type ShortBlobError struct {
	Host   string
	Digest v1.Hash
	Size   int64
}

func (e *ShortBlobError) Error() string {
	return fmt.Sprintf("%s holds blob %s with fewer than %d bytes", e.Host, e.Digest, e.Size+1)
}

// rangeStart reads the first byte position of a Content-Range ("bytes 10-99/100").
func rangeStart(h string) (int64, bool) {
	h = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h), "bytes"))
	first, _, ok := strings.Cut(h, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	return n, err == nil
}

// StartUpload opens an upload session for d. With from set (a repository on the
// same registry) it first asks for a cross-repository mount; mounted is true when
// the registry did that and no upload is needed. A POST once sent gets its
// answer even when ctx ends meanwhile (for a few seconds), so that the session
// it opened is known, and cancelled.
func (r *Repository) StartUpload(ctx context.Context, d v1.Hash, from *name.Repository) (mounted bool, loc string, err error) {
	if err := ctx.Err(); err != nil {
		return false, "", err
	}
	pctx, stop := outlive(ctx, answerGrace)
	defer stop()
	mounted, loc, err = r.startUpload(pctx, d, from)
	if ctx.Err() != nil {
		if loc != "" {
			r.CancelUpload(loc)
		}
		return false, "", ctx.Err()
	}
	return mounted, loc, err
}

// answerGrace is how long a request that opens something on the registry may
// wait for its answer after the run was cancelled.
const answerGrace = 5 * time.Second

// outlive returns a context that ends grace after ctx does.
func outlive(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(out, func() { t.Stop() })
	})
	return out, func() {
		stop()
		cancel()
	}
}

func (r *Repository) startUpload(ctx context.Context, d v1.Hash, from *name.Repository) (mounted bool, loc string, err error) {
	u := r.base + "/blobs/uploads/"
	if from != nil {
		q := url.Values{"mount": {d.String()}, "from": {from.RepositoryStr()}}
		resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodPost, u+"?"+q.Encode(), nil) })
		if err != nil {
			return false, "", err
		}
		defer drain(resp)
		switch resp.StatusCode {
		case http.StatusCreated:
			return true, "", nil
		case http.StatusAccepted:
			// The registry declined the mount and opened an upload instead.
			loc, err = uploadLocation(resp)
			return false, loc, err
		}
		// Some registries answer a mount they do not support with an error;
		// a plain upload still works there.
		r.logf("mount of %s from %s refused: %s; uploading instead", d, from.Name(), resp.Status)
	}
	resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodPost, u, nil) })
	if err != nil {
		return false, "", err
	}
	defer drain(resp)
	if err := r.check(resp, http.StatusAccepted); err != nil {
		return false, "", err
	}
	loc, err = uploadLocation(resp)
	return false, loc, err
}

func uploadLocation(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errors.New("registry opened an upload without a Location")
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		// Not the Location itself: its query may hold the session's state.
		return "", errdefs.New(errdefs.Rejected, "%s opened an upload at a Location that is not a URL", resp.Request.URL.Host)
	}
	return u.String(), nil
}

// verifyCommit reads a committed blob back with a HEAD. Some registries (Aliyun
// ACR is the known one: "unexpected size 0") answer with a wrong size right
// after a commit; a short wait usually fixes it, and if it does not, the blob
// cannot be trusted and the error says so.
func (r *Repository) verifyCommit(ctx context.Context, d v1.Hash, size int64) error {
	var got int64 = -1
	for i := range 5 {
		resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodHead, r.blobURL(d), nil) })
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode == http.StatusOK {
			got = resp.ContentLength
			if got == size || got < 0 { // no Content-Length: nothing to distrust
				if i > 0 {
					r.logf("blob %s reads back right after %d more HEADs", d, i)
				}
				return nil
			}
		}
		r.logf("blob %s reads back as %s with %d bytes after its commit, not %d; checking again", d, resp.Status, got, size)
		if err := sleep(ctx, time.Duration(100<<i)*time.Millisecond); err != nil {
			return err
		}
	}
	return &BlobCommitError{Host: r.Host(), Repo: r.Name.Name(), Digest: d, Size: size, Got: got}
}

// BlobCommitError is a blob that was committed but reads back wrong.
type BlobCommitError struct {
	Host, Repo string
	Digest     v1.Hash
	Size, Got  int64
}

func (e *BlobCommitError) Error() string {
	return fmt.Sprintf("%s accepted blob %s (%d bytes) into %s but reads it back with %d bytes; the registry commits blobs inconsistently", e.Host, e.Digest, e.Size, e.Repo, e.Got)
}

// ManifestPutError is a manifest the registry refused, with its media type:
// what a fallback decision needs besides the registry's error code.
type ManifestPutError struct {
	MediaType types.MediaType
	Ref       string
	Err       error
}

func (e *ManifestPutError) Error() string { return e.Err.Error() }
func (e *ManifestPutError) Unwrap() error { return e.Err }

// String names the repository in messages.
func (r *Repository) String() string { return r.Name.Name() }

// CanMount reports whether src is another repository of the same registry,
// from which a blob can be mounted.
func (r *Repository) CanMount(src store.Store) bool {
	s, ok := src.(*Repository)
	return ok && s.Host() == r.Host() && s.Name.RepositoryStr() != r.Name.RepositoryStr()
}

// Mount asks the registry to mount blob d from src. A declined mount opens an
// upload session, which is cancelled here: the caller copies with a fresh one.
func (r *Repository) Mount(ctx context.Context, d v1.Hash, src store.Store) (bool, error) {
	s, ok := src.(*Repository)
	if !ok {
		return false, nil
	}
	mounted, loc, err := r.StartUpload(ctx, d, &s.Name)
	if err != nil {
		return false, err
	}
	if !mounted && loc != "" {
		r.CancelUpload(loc)
	}
	return mounted, nil
}

// Place is the registry host: its repositories can mount each other's blobs.
func (r *Repository) Place() string { return r.Host() }

// maxTagPages bounds how many pages of a tag list are followed, so that a
// registry whose Link header loops cannot keep the listing going for ever.
const maxTagPages = 1000

// ListTags lists the repository's tags, following the Link header from page to
// page as the distribution API paginates.
func (r *Repository) ListTags(ctx context.Context) ([]string, error) {
	next := r.base + "/tags/list?n=1000"
	var tags []string
	for page := 0; next != ""; page++ {
		if page == maxTagPages {
			return nil, errdefs.New(errdefs.Rejected, "%s lists more than %d pages of tags for %s; its Link header may loop", r.Host(), maxTagPages, r.Name.Name())
		}
		u := next
		resp, err := r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodGet, u, nil) })
		if err != nil {
			return nil, err
		}
		if err := r.check(resp, http.StatusOK); err != nil {
			drain(resp)
			if errdefs.Is(err, errdefs.NotFound) {
				return nil, errdefs.Wrap(err, errdefs.NotFound, "repository %s not found: check its name", r.Name.Name())
			}
			return nil, err
		}
		var list struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(&list)
		drain(resp)
		if err != nil {
			return nil, errdefs.Wrap(err, errdefs.Rejected, "%s answered the tag list of %s with something that is not a tag list", r.Host(), r.Name.Name())
		}
		tags = append(tags, list.Tags...)
		next = ""
		if link := nextLink(resp.Header.Get("Link")); link != "" {
			ref, err := resp.Request.URL.Parse(link)
			if err != nil {
				return nil, errdefs.Wrap(err, errdefs.Rejected, "%s sent a bad Link header for the tags of %s", r.Host(), r.Name.Name())
			}
			next = ref.String()
		}
	}
	return tags, nil
}

// nextLink returns the target of a `<URL>; rel="next"` Link header, or "".
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		target = strings.TrimSpace(target)
		if strings.HasPrefix(target, "<") && strings.HasSuffix(target, ">") {
			return target[1 : len(target)-1]
		}
	}
	return ""
}
