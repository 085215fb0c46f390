package registry

import (
	"context"
	"io"
	"net/http"
	"sync"
)

// signIn is a repository handle's transport. Each request is signed in the
// way the registry asked at its /v2/ ping (nothing, Basic, or a bearer token
// for the handle's scopes), by go-containerregistry's transport, which connect
// builds. The first requests do not wait for that ping: each also goes out at
// once, unsigned, and its answer is kept when the ping shows that the registry
// asks for no sign-in over HTTPS. A registry that asks for none is thus one
// round trip nearer (on a far link, the cost of a no-op is counted in round
// trips); one that asks costs what it did, the unsigned try having run beside
// the ping. An unsigned answer is never kept otherwise, nor when the user has
// credentials for the registry (which go-containerregistry then sends with
// every request, asked or not): a registry may answer 404 for a private
// repository to whoever has not signed in.
type signIn struct {
	// bare is the host's transport with the user agent, for unsigned tries.
	bare http.RoundTripper
	// connect pings the registry through ping (bare, watched) and returns the
	// signing transport and whether the user has no credentials for the
	// registry, or an error that is already one sentence.
	connect func(ctx context.Context, ping http.RoundTripper) (rt http.RoundTripper, anonymous bool, err error)

	mu   sync.Mutex
	done chan struct{} // closed when the current connect has ended
	rt   http.RoundTripper
	err  error
	// open is set when the ping was answered 200 over HTTPS and the user has
	// no credentials for it: the unsigned tries' answers stand.
	open bool
	// unreadable is why the user's credentials could not be read, if so.
	unreadable string
	// credentialed is set once a sign-in with the user's credentials
	// succeeded: requests carry them from then on.
	credentialed bool
}

// sentCredentials reports whether the user's credentials go with the
// handle's requests.
func (s *signIn) sentCredentials() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && s.credentialed
}

// signInError is a failure to connect: one sentence that r.do passes on
// without retrying (connect has retried what was worth it).
type signInError struct{ err error }

func (e *signInError) Error() string { return e.err.Error() }
func (e *signInError) Unwrap() error { return e.err }

func (s *signIn) RoundTrip(req *http.Request) (*http.Response, error) {
	done := s.start()
	select {
	case <-done:
		return s.signed(req)
	default:
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// A body that cannot be sent twice waits for the sign-in.
		if err := waitDone(req.Context(), done); err != nil {
			return nil, err
		}
		return s.signed(req)
	}
	try, err := cloneRequest(req)
	if err != nil {
		return nil, err
	}
	// The unsigned try runs apart: when the ping ends first and says a
	// sign-in is needed, it is given up at once rather than waited for (a
	// plain-HTTP registry may sit on an HTTPS try until the stall guard ends
	// it).
	tryCtx, cancel := context.WithCancel(req.Context())
	answered := make(chan tryAnswer, 1)
	go func() {
		resp, err := s.bare.RoundTrip(try.WithContext(tryCtx))
		answered <- tryAnswer{resp, err}
	}()
	var a *tryAnswer
	select {
	case got := <-answered:
		a = &got
		err = waitDone(req.Context(), done)
	case <-done:
	case <-req.Context().Done():
		err = req.Context().Err()
	}
	if err == nil && s.isOpen() && a == nil {
		select {
		case got := <-answered:
			a = &got
		case <-req.Context().Done():
			err = req.Context().Err()
		}
	}
	if err == nil && a != nil && a.err == nil && s.isOpen() && a.resp.StatusCode != http.StatusUnauthorized {
		a.resp.Body = &cancelOnClose{ReadCloser: a.resp.Body, cancel: cancel}
		return a.resp, nil
	}
	cancel()
	if a != nil {
		discard(a.resp)
	} else {
		go func() { discard((<-answered).resp) }()
	}
	if err != nil {
		return nil, err
	}
	again, err := cloneRequest(req)
	if err != nil {
		return nil, err
	}
	return s.signed(again)
}

// tryAnswer is what an unsigned try got.
type tryAnswer struct {
	resp *http.Response
	err  error
}

// cancelOnClose ends an unsigned try's context once its answer is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// isOpen reports whether the connect has ended with the registry asking for
// no sign-in.
func (s *signIn) isOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && s.open
}

// start begins the connect unless one is under way or has succeeded, and
// returns what closes when it ends. A failed connect is tried again by the
// next request, so that one bad moment does not fail every later image of a
// batch. It runs apart from any request's context (whose values say how that
// request goes, and whose end is that request's): requests that wait for it
// stop waiting when theirs ends, and it is bounded by its own retries and
// the stall guard.
func (s *signIn) start() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		select {
		case <-s.done:
			if s.err == nil {
				return s.done
			}
		default:
			return s.done
		}
	}
	done := make(chan struct{})
	s.done, s.rt, s.err, s.open, s.credentialed = done, nil, nil, false, false
	watch := &pingWatch{inner: s.bare}
	go func() {
		rt, anonymous, err := s.connect(context.Background(), watch)
		s.mu.Lock()
		s.rt, s.open = rt, anonymous && watch.open()
		s.credentialed = err == nil && !anonymous
		if err != nil {
			s.err = &signInError{err: err}
		}
		s.mu.Unlock()
		close(done)
	}()
	return done
}

func (s *signIn) signed(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	rt, err := s.rt, s.err
	s.mu.Unlock()
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return rt.RoundTrip(req)
}

// pingWatch passes requests on and notes whether the registry answered its
// ping (GET /v2/) with 200 over HTTPS.
type pingWatch struct {
	inner http.RoundTripper
	mu    sync.Mutex
	ok    bool
}

func (p *pingWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.inner.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && req.URL.Path == "/v2/" && req.URL.Scheme == "https" && resp.StatusCode == http.StatusOK {
		p.mu.Lock()
		p.ok = true
		p.mu.Unlock()
	}
	return resp, err
}

func (p *pingWatch) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok
}

// cloneRequest is req with a body of its own (GetBody's), to send it twice.
func cloneRequest(req *http.Request) (*http.Request, error) {
	c := req.Clone(req.Context())
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		c.Body = body
	}
	return c, nil
}

func waitDone(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discard drains an answer that will not be used, if there is one.
func discard(resp *http.Response) {
	if resp != nil {
		drain(resp)
	}
}
