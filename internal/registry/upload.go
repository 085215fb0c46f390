package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Rewinder is an upload body that can start again from an offset the registry
// already holds (a blob stream that reads its source again from there), so
// that a broken upload resumes instead of starting over.
type Rewinder interface {
	io.Reader
	// Rewind makes the next Read return the blob from byte off on.
	Rewind(ctx context.Context, off int64) error
}

// SessionKeeper is an upload body that carries an upload session across
// runs: the one an earlier run was cut off in, and this run's when it is cut
// off in turn (an interrupt, a link that dropped), so that the next run goes
// on from what the registry holds instead of sending the blob again.
type SessionKeeper interface {
	Rewinder
	// KeptSession is the URL of the session an earlier run left for this
	// blob, or "".
	KeptSession() string
	// ResumeAt makes the next Read return the blob from byte off on, bytes
	// the body has not read: the registry holds those from an earlier run.
	ResumeAt(ctx context.Context, off int64) error
	// KeepSession records loc, a session that holds part of the blob, for a
	// later run; "" forgets the record (the blob arrived, or the session
	// is no use).
	KeepSession(loc string)
}

// keepSessionOver is the size from which a cut-off upload is worth keeping
// for the next run; a smaller blob is sent again whole, and its session is
// cancelled.
const keepSessionOver = 4 << 20

// PutBlob uploads blob d in one session: POST, then the body in one PATCH, then
// the committing PUT, which is sent only once body has been read to its end.
// When the PATCH breaks (the registry stalls, resets, or its answer is lost)
// and body is a Rewinder, the upload goes on from where the registry says it
// stands (a GET on the session gives its Range), or in a new session from the
// start where it does not say. The session is cancelled on every way out but
// the commit, unless body is a SessionKeeper and the upload of a large blob
// was cut off: then the session is kept for the next run, which goes on from
// where the registry stands. A small blob (store.SmallBlobSize or less) goes
// in the committing PUT itself (putSmall).
func (r *Repository) PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	if size <= store.SmallBlobSize {
		return r.putSmall(ctx, d, size, body)
	}
	u := &upload{r: r, d: d, size: size}
	keeper, keeps := body.(SessionKeeper)
	var held int64
	if keeps {
		held = u.takeOver(ctx, keeper)
	}
	if u.loc == "" {
		_, loc, err := r.StartUpload(ctx, d, nil)
		if err != nil {
			return err
		}
		u.loc = loc
	}
	if err := u.run(ctx, body, held); err != nil {
		if keeps && size > keepSessionOver && cutOff(ctx, err) {
			keeper.KeepSession(u.loc)
			return err
		}
		r.CancelUpload(u.loc)
		if keeps {
			keeper.KeepSession("")
		}
		return err
	}
	if keeps {
		keeper.KeepSession("")
	}
	return nil
}

// takeOver asks the registry about the session an earlier run left for the
// blob, and goes on in it from what it holds: the body then reads from there.
// A session the registry forgot, or that does not say what it holds, is
// cancelled and forgotten, and the upload starts over as usual.
func (u *upload) takeOver(ctx context.Context, keeper SessionKeeper) int64 {
	loc := keeper.KeptSession()
	if loc == "" {
		return 0
	}
	u.loc = loc
	held, err := u.settled(ctx)
	if err == nil && held > 0 && held <= u.size {
		if err = keeper.ResumeAt(ctx, held); err == nil {
			return held
		}
	}
	if ctx.Err() == nil {
		u.r.logf("upload session of blob %s kept by an earlier run is no use (%v); uploading it whole", u.d, err)
		if !errdefs.Is(err, errdefs.NotFound) {
			u.r.CancelUpload(u.loc)
		}
		keeper.KeepSession("")
	}
	u.loc = ""
	return 0
}

// settleEvery and settleTries bound the wait for a session to stop growing.
const (
	settleEvery = 250 * time.Millisecond
	settleTries = 8
)

// settled is what the registry holds of the session once it stops growing: a
// PATCH cut off in an earlier run may still be landing (what the link held
// when the connection dropped), and a PATCH from an offset the registry has
// already passed is refused.
func (u *upload) settled(ctx context.Context) (int64, error) {
	held, err := u.status(ctx)
	for range settleTries {
		if err != nil {
			return held, err
		}
		if err := sleep(ctx, settleEvery); err != nil {
			return held, err
		}
		var now int64
		now, err = u.status(ctx)
		if err == nil && now == held {
			return held, nil
		}
		held = now
	}
	return held, err
}

// cutOff says whether an upload ended by err was cut off (an interrupt, a
// link that dropped or stalled) rather than refused: the registry may hold
// part of it, worth going on with later.
func cutOff(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return true
	}
	if _, ok := errors.AsType[*StallError](err); ok {
		return true
	}
	return errdefs.Is(err, errdefs.Unreachable)
}

// putSmall uploads a small blob as the body of the committing PUT, the
// spec's monolithic upload: a round trip less than PATCH then PUT, and over the
// shared connection (HTTP/2 where the registry speaks it) rather than one of
// its own, which would cost TCP and TLS handshakes for a few kilobytes. The
// body is read whole (its reader checks the digest at the end) while the POST
// opens the session, so the bytes can be sent again when an answer is lost.
func (r *Repository) putSmall(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	type session struct {
		loc string
		err error
	}
	opened := make(chan session, 1)
	go func() {
		_, loc, err := r.StartUpload(ctx, d, nil)
		opened <- session{loc, err}
	}()
	data, err := io.ReadAll(io.LimitReader(body, size+1))
	if err == nil && int64(len(data)) != size {
		err = errdefs.New(errdefs.DigestMismatch, "digest mismatch: blob %s has %d bytes, not the %d its manifest says", d, len(data), size)
	}
	if err == nil {
		if v, ok := body.(store.Verifier); ok {
			err = v.Verified()
		}
	}
	s := <-opened
	if s.err != nil {
		if err != nil {
			return err // the source's failure is the cause, not the aborted POST
		}
		return s.err
	}
	u := &upload{r: r, d: d, size: size, loc: s.loc}
	if err == nil {
		// The PUT is let finish for a few seconds after an interrupt, as the
		// POST is: cut off mid-body, it would leave a session that no one can
		// cancel (the distribution registry signs the offset into the
		// session's URL, and answers 404 at the old one).
		pctx, stop := outlive(ctx, answerGrace)
		err = u.commit(pctx, data)
		stop()
	}
	if err != nil {
		r.CancelUpload(u.loc)
	}
	return err
}

// upload is one blob's way into a registry: its session, which may move (each
// answer may give a new Location) or be replaced.
type upload struct {
	r    *Repository
	d    v1.Hash
	size int64
	loc  string
}

// Bounds on resuming one upload: breaks in all, and breaks in a row that
// moved nothing (a stall costs a whole stall timeout, so none of those).
const (
	maxUploadBreaks     = 10
	maxIdleUploadBreaks = 4
	maxIdleUploadStalls = 0
)

// run sends the blob from held on (what the registry holds of it) and commits
// it.
func (u *upload) run(ctx context.Context, body io.Reader, held int64) error {
	rw, resumable := body.(Rewinder)
	breaks, idle := 0, 0
	for {
		broke, err := u.patch(ctx, held, body)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !broke || !resumable {
			return err
		}
		breaks++
		var now int64
		serr := errRangeRefused
		if !errors.Is(err, errRangeRefused) {
			now, serr = u.status(ctx)
		} else if now, serr = u.settled(ctx); serr == nil && now == held {
			// The session did not move on since it gave that offset: it
			// will not take the upload where it says it stands.
			serr = errRangeRefused
		}
		_, answered := errors.AsType[*transport.Error](serr)
		switch {
		case serr == nil:
		case answered, errors.Is(serr, errNoRange), errors.Is(serr, errRangeRefused):
			// The session is gone, or will not say where it stands: a new one,
			// from the start.
			if !errdefs.Is(serr, errdefs.NotFound) {
				u.r.CancelUpload(u.loc)
			}
			_, loc, err := u.r.StartUpload(ctx, u.d, nil)
			if err != nil {
				return err
			}
			u.loc, now = loc, 0
		default:
			return serr
		}
		if now > held {
			idle = 0
		} else {
			idle++
		}
		se, stalled := errors.AsType[*StallError](err)
		if stalled && idle > maxIdleUploadStalls {
			return errdefs.Wrap(Retried(err), errdefs.Unreachable, "%s stopped taking blob %s at %s of %s and answered nothing for %s",
				se.Who(), wording.ID(u.d), units.HumanSize(float64(now)), units.HumanSize(float64(u.size)), fmtIdle(se.Idle))
		}
		if breaks > maxUploadBreaks || idle > maxIdleUploadBreaks {
			return Retried(err)
		}
		if stalled {
			// A stall is worth a line in every mode: the run sat still.
			u.r.notify("%v; resuming the upload of blob %s at %s of %s", err, wording.ID(u.d), units.HumanSize(float64(now)), units.HumanSize(float64(u.size)))
		} else {
			u.r.logf("upload of blob %s to %s broke (%v); the registry holds %d of %d bytes: resuming", u.d, u.r.Name.Name(), err, now, u.size)
		}
		if err := rw.Rewind(ctx, now); err != nil {
			return err
		}
		held = now
	}
	// Commit only what was read to its end and checked: a registry may answer
	// a PATCH before it has the whole body.
	if v, ok := body.(store.Verifier); ok {
		if err := v.Verified(); err != nil {
			return err
		}
	}
	return u.commit(ctx, nil)
}

var (
	// errNoRange is an upload session that does not say how much it holds.
	errNoRange = errors.New("the registry does not say how much of the upload it holds")
	// errRangeRefused is a resumed PATCH the registry would not take at the
	// offset it had given.
	errRangeRefused = errors.New("the registry refused to resume the upload where it said it stood")
	errGateClosed   = errors.New("the request this body was given to is over")
)

// patch sends the blob from byte off on. broke says the request failed on the
// way (no answer, a stall, a 5xx): the registry may hold part of it.
func (u *upload) patch(ctx context.Context, off int64, body io.Reader) (broke bool, err error) {
	ctx = bulk(ctx) // the body goes over a connection of its own
	n := u.size - off
	if off > 0 && n == 0 {
		// The registry has it all (a lost answer, or an earlier run sent it
		// all): the body is read to its end all the same, which checks it.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return false, err
		}
		return false, nil
	}
	g := &gate{r: body}
	defer g.close()
	var rb io.Reader = g
	if n == 0 {
		rb = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u.loc, rb)
	if err != nil {
		return false, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	if off > 0 {
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, u.size-1))
	}
	resp, err := u.r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// A body reader's own error (a digest mismatch) comes back wrapped in
		// *url.Error; keep it as the cause the user sees.
		if e, ok := errors.AsType[*errdefs.Error](err); ok {
			return false, e
		}
		return true, unreachable(err, u.r.Host())
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, u.r.check(resp, http.StatusAccepted)
	case http.StatusRequestedRangeNotSatisfiable:
		if off > 0 {
			return true, errRangeRefused
		}
	}
	if err := u.r.check(resp, http.StatusAccepted, http.StatusNoContent, http.StatusCreated); err != nil {
		return false, err
	}
	if resp.Header.Get("Location") != "" {
		next, err := uploadLocation(resp)
		if err != nil {
			return false, err
		}
		u.loc = next
	}
	return false, nil
}

// status asks the registry how much of the upload it holds (the Range of a GET
// on the session), and takes the session's new Location.
func (u *upload) status(ctx context.Context) (int64, error) {
	resp, err := u.r.do(ctx, func() (*http.Request, error) { return newRequest(http.MethodGet, u.loc, nil) })
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	if err := u.r.check(resp, http.StatusNoContent, http.StatusOK, http.StatusAccepted); err != nil {
		return 0, err
	}
	held, ok := heldBytes(resp.Header.Get("Range"))
	if !ok {
		return 0, errNoRange
	}
	if resp.Header.Get("Location") != "" {
		next, err := uploadLocation(resp)
		if err != nil {
			return 0, err
		}
		u.loc = next
	}
	return held, nil
}

// heldBytes reads an upload's Range header ("0-1023", or "bytes=0-1023"): the
// registry holds up to and including the last byte. "0-0" is what the
// distribution registry says for an empty session (and for one byte): it is
// read as empty, and a PATCH the registry refuses then starts over.
func heldBytes(h string) (int64, bool) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "bytes=")
	first, last, ok := strings.Cut(h, "-")
	if !ok || strings.TrimSpace(first) != "0" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	if n == 0 {
		return 0, true
	}
	return n + 1, true
}

// commit closes the session as blob d, with data as the last (or only) part
// of it.
func (u *upload) commit(ctx context.Context, data []byte) error {
	r := u.r
	target, err := url.Parse(u.loc)
	if err != nil {
		return err
	}
	q := target.Query()
	q.Set("digest", u.d.String())
	target.RawQuery = q.Encode()
	// The commit has no body, so it can be sent again when the answer was
	// lost; a registry backed by object storage may take long to answer it.
	resp, err := r.do(withAnswerWait(ctx, commitWait), func() (*http.Request, error) {
		var body io.Reader
		if len(data) > 0 {
			body = bytes.NewReader(data)
		}
		put, err := http.NewRequest(http.MethodPut, target.String(), body)
		if err == nil {
			put.Header.Set("Content-Type", "application/octet-stream")
		}
		return put, err
	})
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := r.check(resp, http.StatusCreated, http.StatusNoContent, http.StatusAccepted); err != nil {
		// A commit repeated after a lost answer finds its session gone: the
		// blob is there if the first one went through.
		if resp.StatusCode == http.StatusNotFound {
			if got, ok, herr := r.BlobSize(ctx, u.d); herr == nil && ok && (got == u.size || got < 0) {
				return nil
			}
		}
		return err
	}
	return r.verifyCommit(ctx, u.d, u.size)
}

// gate hands a body to one request and takes it back when the request is
// over: the transport may still be reading from it then, and the body goes on
// to the next request. close waits for a read in progress.
type gate struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

func (g *gate) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, errGateClosed
	}
	return g.r.Read(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// CancelUpload abandons an upload session; best effort, for cleanup. A session
// whose PATCH or PUT broke may no longer answer at loc (the distribution
// registry signs the offset into it, and answers a DELETE at the old one with
// 416, or 404 after a PUT's body broke off), so the registry is asked where
// it is now; a session that GET does not find either is gone.
func (r *Repository) CancelUpload(loc string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	send := func(method, target string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, method, target, nil)
		if err != nil {
			return nil
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return nil
		}
		drain(resp)
		return resp
	}
	// A PATCH cut off may still be landing on the registry's side, moving
	// the session on after the GET: a few tries, a little apart.
	for try := range 4 {
		resp := send(http.MethodDelete, loc)
		if resp == nil || resp.StatusCode < 300 {
			return
		}
		if try > 0 && sleep(ctx, time.Duration(50<<try)*time.Millisecond) != nil {
			return
		}
		resp = send(http.MethodGet, loc)
		if resp == nil || resp.StatusCode >= 300 {
			return
		}
		if next, err := uploadLocation(resp); err == nil {
			loc = next
		}
	}
}
