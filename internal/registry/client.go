// Package registry is docker-migrate's client for the OCI distribution API: manifests
// by tag or digest, blob existence, cross-repository mounts and streaming uploads.
// It speaks HTTP itself (over go-containerregistry's authenticating transport) so
// that every request is one the copier chose: HEAD before GET, mount before upload.
package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Option configures a Client.
type Option func(*Client)

// WithKeychain sets where credentials come from (the docker CLI's config store).
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithInsecure allows plain HTTP and unverified TLS for the hosts it accepts.
func WithInsecure(f func(host string) bool) Option {
	return func(c *Client) { c.transports.insecure = f }
}

// WithCertDirs sets the certs.d directories searched for HOST/*.crt, *.cert, *.key.
func WithCertDirs(dirs ...string) Option {
	return func(c *Client) { c.transports.certDirs = dirs }
}

// WithEndpoints sets where a source's registry is read from besides
// itself: for host, its mirrors in order, then its server (the registry
// itself, Endpoint.Mirror false, unless a hosts.toml names another). It is
// asked once per registry, when a PullSource handle there is first opened;
// nil or an empty list means the registry alone.
func WithEndpoints(f func(host string) ([]Endpoint, error)) Option {
	return func(c *Client) { c.endpoints = f }
}

// WithEngineInsecure sets how to ask whether the engine lists a registry as
// insecure (its insecure-registries). It is asked only when a registry
// fails for want of it (plain HTTP, a certificate that does not verify).
func WithEngineInsecure(f func(host string) bool) Option {
	return func(c *Client) { c.engineInsecure = f }
}

// WithUserAgent sets the User-Agent sent to registries.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithNotify sets where lines the user should see go (a wait for a rate limit).
func WithNotify(f func(format string, args ...any)) Option { return func(c *Client) { c.notifyf = f } }

// WithRateLimit sets a function told the pulls a registry says remain
// (Docker Hub's RateLimit-Remaining), each time it says so.
func WithRateLimit(f func(host, remaining string)) Option { return func(c *Client) { c.ratef = f } }

// WithDebugf sets a logger for request-level detail (-D).
func WithDebugf(f func(format string, args ...any)) Option { return func(c *Client) { c.debugf = f } }

// Client opens authorised handles to repositories.
type Client struct {
	keychain authn.Keychain
	// unreadableNoted holds the hosts whose unreadable credentials were
	// already reported.
	unreadableNoted map[string]bool
	transports      transports
	userAgent       string
	debugf          func(format string, args ...any)
	notifyf         func(format string, args ...any)
	ratef           func(host, remaining string)
	// endpoints and engineInsecure: see WithEndpoints, WithEngineInsecure.
	endpoints      func(host string) ([]Endpoint, error)
	engineInsecure func(host string) bool

	mu    sync.Mutex
	repos map[string]*Repository
	// hostEndpoints caches endpoints' answer per registry.
	hostEndpoints map[string][]Endpoint
	// insecureNoted holds the hosts the engine's setting made insecure, told once.
	insecureNoted map[string]bool
}

// New returns a Client. Without WithKeychain it is anonymous.
func New(opts ...Option) *Client {
	c := &Client{keychain: authn.NewMultiKeychain(), userAgent: "docker-migrate"}
	c.transports.stall = stallTimeoutFromEnv()
	for _, o := range opts {
		o(c)
	}
	return c
}

// logf writes a debug line with every URL query in it redacted: upload
// sessions (_state) and signed storage URLs carry credentials there.
func (c *Client) logf(format string, args ...any) {
	if c.debugf != nil {
		c.debugf("%s", errdefs.Redact(fmt.Sprintf(format, args...)))
	}
}

// Access is what a handle may do in its repository.
type Access int

const (
	Pull Access = iota
	Push
	// PullSource is Pull for the source of a copy: its reads go through the
	// registry's mirrors (WithEndpoints) where it has any. A destination is
	// always read from the registry itself.
	PullSource
)

// Repository returns a handle for repo. A Push handle may also mount blobs from the
// repositories in mountFrom (same registry), so its token carries pull on them.
// It sends nothing: the registry is pinged, and signed in to, beside the
// handle's first request (see signIn), and a failure to connect is that
// request's error.
func (c *Client) Repository(ctx context.Context, repo name.Repository, access Access, mountFrom ...name.Repository) (*Repository, error) {
	key := fmt.Sprintf("%s|%d", repo.Name(), access)
	for _, m := range mountFrom {
		key += "|" + m.Name()
	}
	c.mu.Lock()
	if r, ok := c.repos[key]; ok {
		c.mu.Unlock()
		return r, nil
	}
	c.mu.Unlock()

	scopes := []string{repo.Scope(transport.PullScope)}
	if access == Push {
		scopes = []string{repo.Scope(transport.PushScope)}
	}
	for _, m := range mountFrom {
		scopes = append(scopes, m.Scope(transport.PullScope))
	}
	op := "read " + repo.Name()
	if access == Push {
		op = "push to " + repo.Name()
	}
	r, err := c.open(repo, access, scopes, op)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.repos == nil {
		c.repos = map[string]*Repository{}
	}
	c.repos[key] = r
	c.mu.Unlock()
	return r, nil
}

// open makes a handle on repo that signs in for scopes; op names what it is
// for in failures ("read old.lan/app", "list the repositories of old.lan").
func (c *Client) open(repo name.Repository, access Access, scopes []string, op string) (*Repository, error) {
	host := repo.RegistryStr()
	reg := repo.Registry
	if IsLoopback(host) || (c.transports.insecure != nil && c.transports.insecure(host)) || c.transports.hostsSayHTTP(host) {
		// name.Insecure lets the ping fall back to plain HTTP; schemePolicy still
		// refuses HTTP to any host that is neither loopback nor --insecure.
		var err error
		if reg, err = name.NewRegistry(host, name.Insecure); err != nil {
			return nil, err
		}
	}
	base, err := c.transports.forHost(host)
	if err != nil {
		return nil, err
	}
	signin, err := c.signIn(reg, base, scopes, op)
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = signin
	if access == PullSource {
		endpoints, err := c.endpointsFor(host)
		if err != nil {
			return nil, err
		}
		if len(endpoints) > 0 {
			ert, err := c.endpointTransports(endpoints, signin, scopes, op)
			if err != nil {
				return nil, err
			}
			rt = newMirrorTransport(host, op, ert, c.notifyf, c.logf)
		}
	}
	r := &Repository{
		Name:       repo,
		signin:     signin,
		unreadable: signin.unreadable,
		client:     &http.Client{Transport: rt},
		base:       fmt.Sprintf("https://%s/v2/%s", host, repo.RepositoryStr()),
		logf:       c.logf,
		notifyf:    c.notifyf,
		ratef:      c.ratef,
		access:     access,
		owner:      c,
	}
	return r, nil
}

// signIn is the sign-in transport for one host: its ping, credentials (from
// the keychain, for that host) and token for scopes. A host that fails for
// want of plain HTTP or an unverified certificate is asked about once more
// when the engine lists it as insecure.
func (c *Client) signIn(reg name.Registry, base http.RoundTripper, scopes []string, op string) (*signIn, error) {
	host := reg.RegistryStr()
	auth, err := c.keychain.Resolve(reg)
	if err != nil {
		return nil, fmt.Errorf("read credentials for %s: %w", host, err)
	}
	unreadable := ""
	if u, ok := auth.(UnreadableCredentials); ok {
		unreadable = u.UnreadableReason()
		c.noteUnreadable(host, unreadable)
	}
	return &signIn{
		unreadable: unreadable,
		bare:       transport.NewUserAgent(base, c.userAgent),
		connect: func(ctx context.Context, ping http.RoundTripper) (http.RoundTripper, bool, error) {
			// Whether there are credentials may take a credential helper's
			// run to know: beside the ping, not before it.
			anonymous := make(chan bool, 1)
			go func() { anonymous <- isAnonymous(ctx, auth) }()
			rt, err := c.connect(ctx, reg, auth, ping, scopes)
			if err != nil && wantsInsecure(err) && c.engineSaysInsecure(host) {
				// Now with the plain-HTTP fallback the ping allows for
				// insecure registries.
				if ireg, ierr := name.NewRegistry(host, name.Insecure); ierr == nil {
					rt, err = c.connect(ctx, ireg, auth, ping, scopes)
				}
			}
			if err == nil {
				return rt, <-anonymous, nil
			}
			if te, ok := errors.AsType[*transport.Error](err); ok && te.StatusCode == http.StatusNotFound {
				return nil, false, errdefs.Wrap(err, errdefs.Unreachable, "cannot reach registry %s: it answered 404 to the registry API (/v2/); check the address", host)
			}
			err = classify(err, host, op)
			if errdefs.Is(err, errdefs.Unauthorized) {
				err = credentialsRefused(err, host, op, !<-anonymous, unreadable)
			}
			return nil, false, err
		},
	}, nil
}

// engineSaysInsecure asks the engine's settings about host, once; when they
// list it as insecure, the host's transport allows plain HTTP and unverified
// TLS from now on, and the user is told.
func (c *Client) engineSaysInsecure(host string) bool {
	if c.engineInsecure == nil || (c.transports.insecure != nil && c.transports.insecure(host)) || !c.engineInsecure(host) {
		return false
	}
	c.transports.allowInsecure(host)
	c.mu.Lock()
	noted := c.insecureNoted[host]
	if c.insecureNoted == nil {
		c.insecureNoted = map[string]bool{}
	}
	c.insecureNoted[host] = true
	c.mu.Unlock()
	if !noted && c.notifyf != nil {
		c.notifyf("%s is an insecure registry in the engine's settings (insecure-registries): reaching it over plain HTTP or without verifying its certificate, as docker pull does", host)
	}
	return true
}

// wantsInsecure reports a failure that allowing plain HTTP or unverified
// TLS would get past.
func wantsInsecure(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	_, plain := errors.AsType[*ErrPlainHTTP](err)
	return plain || isHTTPToHTTPS(err) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid)
}

// isHTTPToHTTPS reports Go's error for a server that answered an HTTPS
// request in plain HTTP (it has no type of its own).
func isHTTPToHTTPS(err error) bool {
	return err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// endpointsFor is the endpoints of host's registry (WithEndpoints), asked once.
func (c *Client) endpointsFor(host string) ([]Endpoint, error) {
	if c.endpoints == nil {
		return nil, nil
	}
	c.mu.Lock()
	e, ok := c.hostEndpoints[host]
	c.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := c.endpoints(host)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.hostEndpoints == nil {
		c.hostEndpoints = map[string][]Endpoint{}
	}
	c.hostEndpoints[host] = e
	c.mu.Unlock()
	return e, nil
}

// endpointTransports signs in to each mirror endpoint as to a registry of
// its own (its credentials from 'docker login MIRROR'); the registry itself
// keeps the handle's own sign-in.
func (c *Client) endpointTransports(endpoints []Endpoint, self *signIn, scopes []string, op string) ([]endpointRT, error) {
	out := make([]endpointRT, 0, len(endpoints)+1)
	for _, e := range endpoints {
		if !e.Mirror {
			out = append(out, endpointRT{Endpoint: e, rt: self})
			continue
		}
		opts := []name.Option{}
		if e.URL.Scheme == "http" {
			opts = append(opts, name.Insecure)
		}
		reg, err := name.NewRegistry(e.Host(), opts...)
		if err != nil {
			return nil, fmt.Errorf("mirror %s: %w", e, err)
		}
		base, err := c.transports.forEndpoint(e)
		if err != nil {
			return nil, err
		}
		si, err := c.signIn(reg, base, scopes, op)
		if err != nil {
			return nil, err
		}
		out = append(out, endpointRT{Endpoint: e, rt: si})
	}
	return out, nil
}

// UnreadableCredentials is what a keychain gives for credentials it could not
// read (a credential helper that is not installed): the registry is tried
// without any, and a refusal says why there were none.
type UnreadableCredentials interface {
	authn.Authenticator
	UnreadableReason() string
}

// noteUnreadable says once per host that its credentials could not be read.
func (c *Client) noteUnreadable(host, reason string) {
	c.mu.Lock()
	seen := c.unreadableNoted[host]
	if c.unreadableNoted == nil {
		c.unreadableNoted = map[string]bool{}
	}
	c.unreadableNoted[host] = true
	c.mu.Unlock()
	if !seen && c.notifyf != nil {
		c.notifyf("warning: cannot read the credentials for %s, going on without them: %s", host, reason)
	}
}

// isAnonymous reports whether auth has no credentials to send.
func isAnonymous(ctx context.Context, auth authn.Authenticator) bool {
	if auth == authn.Anonymous {
		return true
	}
	cfg, err := authn.Authorization(ctx, auth)
	return err == nil && *cfg == (authn.AuthConfig{})
}

// connect pings the registry and gets a token, trying again on the answers
// that say "try again" (a reset connection, 429, 502/503/504).
func (c *Client) connect(ctx context.Context, reg name.Registry, auth authn.Authenticator, base http.RoundTripper, scopes []string) (http.RoundTripper, error) {
	var err error
	for i := range 10 {
		var rt http.RoundTripper
		rt, err = transport.NewWithContext(ctx, reg, auth, transport.NewUserAgent(base, c.userAgent), scopes)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return rt, err
		}
		wait := backoff(i)
		if te, ok := errors.AsType[*transport.Error](err); ok && te.StatusCode == http.StatusTooManyRequests {
			// The ping's error keeps no headers, so Retry-After is unknown:
			// wait a second or more, never less.
			wait = max(wait, time.Second)
			if c.notifyf != nil {
				c.notifyf("%s is rate limiting requests; waiting %s", reg.RegistryStr(), wait)
			}
		} else if i >= 4 {
			return nil, err
		}
		c.logf("connect to %s: %v; retrying in %s", reg.RegistryStr(), causeOf(err), wait)
		if serr := sleep(ctx, wait); serr != nil {
			return nil, serr
		}
	}
	return nil, err
}

func transient(err error) bool {
	if te, ok := errors.AsType[*transport.Error](err); ok {
		switch te.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// classify turns a transport failure into one sentence that names the host and
// what to do. op is a verb phrase ("push to", "read") used in the sentence.
func classify(err error, host, op string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// A ping may try HTTPS and then HTTP; when HTTPS failed on its
	// certificate, that is the cause, not what the HTTP try met.
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid) {
		return unreachable(err, host)
	}
	if plain, ok := errors.AsType[*ErrPlainHTTP](err); ok {
		return errdefs.Wrap(err, errdefs.Unreachable, "%s", plain.Error())
	}
	if te, ok := errors.AsType[*transport.Error](err); ok {
		return statusError(te, 0, host, op)
	}
	if isHTTPToHTTPS(err) {
		// A registry on an address that is neither loopback nor private
		// gets only an HTTPS ping: its plain-HTTP answer says the same.
		return errdefs.Wrap(err, errdefs.Unreachable, "%s", (&ErrPlainHTTP{Host: host}).Error())
	}
	return unreachable(err, host)
}

func loginHint(host string) string {
	if host == name.DefaultRegistry || host == "index.docker.io" || host == "registry-1.docker.io" {
		return "docker login"
	}
	return "docker login " + host
}

// hasCode reports whether the registry answered with the OCI error code.
func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// diagnostics joins the registry's error codes and messages for debug detail.
func diagnostics(te *transport.Error) string {
	var parts []string
	for _, d := range te.Errors {
		parts = append(parts, string(d.Code))
	}
	return strings.Join(parts, ",")
}
