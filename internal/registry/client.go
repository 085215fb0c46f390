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
	keychain   authn.Keychain
	transports transports
	userAgent  string
	debugf     func(format string, args ...any)
	notifyf    func(format string, args ...any)
	ratef      func(host, remaining string)

	mu    sync.Mutex
	repos map[string]*Repository
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
	if IsLoopback(host) || (c.transports.insecure != nil && c.transports.insecure(host)) {
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
	auth, err := c.keychain.Resolve(reg)
	if err != nil {
		return nil, fmt.Errorf("read credentials for %s: %w", host, err)
	}
	signin := &signIn{
		bare: transport.NewUserAgent(base, c.userAgent),
		connect: func(ctx context.Context, ping http.RoundTripper) (http.RoundTripper, bool, error) {
			// Whether there are credentials may take a credential helper's
			// run to know: beside the ping, not before it.
			anonymous := make(chan bool, 1)
			go func() { anonymous <- isAnonymous(ctx, auth) }()
			rt, err := c.connect(ctx, reg, auth, ping, scopes)
			if err == nil {
				return rt, <-anonymous, nil
			}
			if te, ok := errors.AsType[*transport.Error](err); ok && te.StatusCode == http.StatusNotFound {
				return nil, false, errdefs.Wrap(err, errdefs.Unreachable, "cannot reach registry %s: it answered 404 to the registry API (/v2/); check the address", host)
			}
			return nil, false, classify(err, host, op)
		},
	}
	r := &Repository{
		Name:    repo,
		client:  &http.Client{Transport: signin},
		base:    fmt.Sprintf("https://%s/v2/%s", host, repo.RepositoryStr()),
		logf:    c.logf,
		notifyf: c.notifyf,
		ratef:   c.ratef,
		access:  access,
	}
	return r, nil
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
