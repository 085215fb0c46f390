package registry

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/go-units"
)

// DefaultStallTimeout is how long a registry may send (or take) nothing before
// a request is given up as stalled. It is not a limit on a whole transfer: a
// large layer over a slow link may take hours, as long as bytes keep moving.
const DefaultStallTimeout = 30 * time.Second

// StallTimeoutEnv overrides DefaultStallTimeout with a duration ("10s", "2m",
// or a number of seconds); tests set it low to see a stall quickly, and a
// user on a link that pauses for longer can raise it.
const StallTimeoutEnv = "DOCKER_MIGRATE_STALL_TIMEOUT"

// commitWait is how long a registry may take to answer the commit of a blob
// (PUT ?digest=): one backed by object storage may copy the whole blob then.
const commitWait = 5 * time.Minute

// stallTimeoutFromEnv returns the stall timeout StallTimeoutEnv asks for, or
// the default when it is unset or not a positive duration.
func stallTimeoutFromEnv() time.Duration {
	v := strings.TrimSpace(os.Getenv(StallTimeoutEnv))
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return DefaultStallTimeout
}

// WithStallTimeout sets how long a registry may send nothing before a request
// is given up as stalled (DefaultStallTimeout, or $DOCKER_MIGRATE_STALL_TIMEOUT).
func WithStallTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.transports.stall = d
		}
	}
}

// Phase is where in a request a stall happened.
type Phase int

const (
	// PhaseConnect: no TCP connection (or TLS session) came up.
	PhaseConnect Phase = iota
	// PhaseAnswer: connected, the request sent, no answer.
	PhaseAnswer
	// PhaseDownload: the answer started, then its body stopped.
	PhaseDownload
	// PhaseUpload: the registry stopped reading the body sent to it.
	PhaseUpload
)

// StallError is a request given up because the far end sent (or took) nothing
// for Idle. Its text is one sentence naming the host and what it did.
type StallError struct {
	// Host is the host that stalled; Registry the registry it was reached
	// through (the same, unless a redirect or a token server was involved).
	Host, Registry string
	Phase          Phase
	Idle           time.Duration
	// Bytes is how much of the body had moved when it stopped.
	Bytes int64
}

// Who names the host that stalled, and the registry behind it when another.
func (e *StallError) Who() string {
	if e.Host == "" || e.Host == e.Registry {
		return "registry " + e.Registry
	}
	return fmt.Sprintf("%s (where registry %s sent the request)", e.Host, e.Registry)
}

func (e *StallError) Error() string {
	idle := fmtIdle(e.Idle)
	switch e.Phase {
	case PhaseConnect:
		return fmt.Sprintf("%s did not accept a connection within %s", e.Who(), idle)
	case PhaseDownload:
		return fmt.Sprintf("%s stopped sending after %s and sent nothing for %s", e.Who(), units.HumanSize(float64(e.Bytes)), idle)
	case PhaseUpload:
		return fmt.Sprintf("%s stopped reading the upload after %s and took nothing for %s", e.Who(), units.HumanSize(float64(e.Bytes)), idle)
	}
	return fmt.Sprintf("%s accepted the connection but sent nothing for %s", e.Who(), idle)
}

// Timeout lets net.Error-minded callers see a stall as a timeout.
func (e *StallError) Timeout() bool { return true }

func fmtIdle(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.String()
}

// headerWaitKey marks a request whose answer may take longer than a stall
// (the commit of a blob); its value is that wait.
type headerWaitKey struct{}

func withAnswerWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, headerWaitKey{}, d)
}

// stallGuard is the bottom of each host's transport: it gives up a request
// when nothing moves for the stall timeout, in any phase (connect, TLS, the
// wait for an answer, either body), and says which. Time the caller spends
// away from a body (reading the source while uploading, writing the
// destination while downloading) does not count against that body's host.
type stallGuard struct {
	registry string
	stall    time.Duration
	inner    http.RoundTripper
}

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	// The request's context is cancelled on a stall, and on the caller's
	// cancellation, but not when the answer is done: the transport would
	// take a cancelled context as a reason to drop a connection it could
	// reuse. Unlinked from its parent, it is garbage once the answer is.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(req.Context()))
	unlink := context.AfterFunc(req.Context(), func() { cancel(context.Cause(req.Context())) })
	w := &watch{g: g, host: req.URL.Host, cancel: cancel, unlink: unlink, answerWait: g.stall}
	if d, ok := req.Context().Value(headerWaitKey{}).(time.Duration); ok && d > g.stall {
		w.answerWait = d
	}
	w.touch()
	trace := &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				w.connected.Store(true)
				w.touch()
			}
		},
		TLSHandshakeDone: func(tls.ConnectionState, error) { w.touch() },
		GotConn: func(httptrace.GotConnInfo) {
			w.connected.Store(true)
			w.touch()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			w.wrote.Store(true)
			w.touch()
		},
	}
	out := req.WithContext(httptrace.WithClientTrace(ctx, trace))
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &sentBody{rc: req.Body, w: w}
	}
	w.mu.Lock()
	w.timer = time.AfterFunc(g.stall, w.check)
	w.mu.Unlock()

	resp, err := g.inner.RoundTrip(out)
	if err != nil {
		w.stop()
		cancel(nil)
		if se, ok := context.Cause(ctx).(*StallError); ok {
			return nil, se
		}
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, err
	}
	w.answered.Store(true)
	w.touch()
	resp.Body = &receivedBody{rc: resp.Body, w: w, ctx: ctx}
	return resp, nil
}

// watch follows one request: when something last moved, and what.
type watch struct {
	g          *stallGuard
	host       string
	cancel     context.CancelCauseFunc
	unlink     func() bool
	answerWait time.Duration

	last      atomic.Int64 // unix nanoseconds of the last progress
	connected atomic.Bool
	wrote     atomic.Bool
	answered  atomic.Bool
	// sending is set while the transport reads the request body (the caller
	// may be waiting on its own source then); receiving while the caller
	// reads the response body (only then can the host be late).
	sending, receiving atomic.Bool
	sent, received     atomic.Int64
	done               atomic.Bool

	mu    sync.Mutex
	timer *time.Timer
}

func (w *watch) touch() { w.last.Store(time.Now().UnixNano()) }

func (w *watch) stop() {
	w.done.Store(true)
	w.unlink()
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

func (w *watch) rearm(d time.Duration) {
	w.mu.Lock()
	if !w.done.Load() {
		w.timer.Reset(d)
	}
	w.mu.Unlock()
}

// check runs when the timer fires: it gives the request up if nothing moved
// for long enough in a phase where the host is the one to move, and arms the
// timer again otherwise.
func (w *watch) check() {
	if w.done.Load() {
		return
	}
	limit := w.g.stall
	var phase Phase
	var moved int64
	switch {
	case w.answered.Load():
		if !w.receiving.Load() {
			w.rearm(limit)
			return
		}
		phase, moved = PhaseDownload, w.received.Load()
	case w.sending.Load():
		// The transport waits on the caller's body, not on the host.
		w.rearm(limit)
		return
	case w.wrote.Load():
		phase, limit = PhaseAnswer, w.answerWait
	case w.sent.Load() > 0:
		phase, moved = PhaseUpload, w.sent.Load()
	case w.connected.Load():
		phase = PhaseAnswer
	default:
		phase = PhaseConnect
	}
	idle := time.Since(time.Unix(0, w.last.Load()))
	if idle < limit {
		w.rearm(limit - idle)
		return
	}
	w.done.Store(true)
	w.cancel(&StallError{Host: w.host, Registry: w.g.registry, Phase: phase, Idle: limit, Bytes: moved})
}

// sentBody is a request body whose reads count as progress of the upload.
type sentBody struct {
	rc io.ReadCloser
	w  *watch
}

func (b *sentBody) Read(p []byte) (int, error) {
	b.w.sending.Store(true)
	n, err := b.rc.Read(p)
	b.w.sent.Add(int64(n))
	b.w.touch()
	b.w.sending.Store(false)
	return n, err
}

func (b *sentBody) Close() error { return b.rc.Close() }

// receivedBody is a response body: a read that waits too long for the host
// fails with the StallError, and closing it ends the watch.
type receivedBody struct {
	rc  io.ReadCloser
	w   *watch
	ctx context.Context
}

func (b *receivedBody) Read(p []byte) (int, error) {
	b.w.touch()
	b.w.receiving.Store(true)
	n, err := b.rc.Read(p)
	b.w.receiving.Store(false)
	b.w.received.Add(int64(n))
	b.w.touch()
	if err != nil && err != io.EOF {
		if se, ok := context.Cause(b.ctx).(*StallError); ok {
			return n, se
		}
	}
	return n, err
}

func (b *receivedBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}
