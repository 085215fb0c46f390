package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// statusError turns a registry's error answer into a typed error with one
// sentence. The *transport.Error stays in the chain: its status code and OCI
// error codes are what later decisions (fallbacks) look at.
func statusError(te *transport.Error, retryAfter time.Duration, host, op string) error {
	switch te.StatusCode {
	case http.StatusUnauthorized:
		return errdefs.Wrap(te, errdefs.Unauthorized, "%s: unauthorized: run '%s'", op, loginHint(host))
	case http.StatusForbidden:
		return errdefs.Wrap(te, errdefs.Denied, "%s: denied: the account logged in to %s has no access there; check the name or run '%s' with an account that has", op, host, loginHint(host))
	case http.StatusNotFound:
		return errdefs.Wrap(te, errdefs.NotFound, "%s: not found", op)
	case http.StatusTooManyRequests:
		wait := ""
		if retryAfter > 0 {
			wait = fmt.Sprintf(" (it asks to wait %s)", retryAfter)
		}
		return errdefs.Wrap(&RateLimitError{Err: te, RetryAfter: retryAfter, Host: host}, errdefs.RateLimited, "%s: %s is rate limiting requests%s: wait and run again, or log in with 'docker login' for a higher limit", op, host, wait)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError:
		return errdefs.Wrap(te, errdefs.Unavailable, "%s: %s answered %d %s: the registry is having trouble; run again later", op, host, te.StatusCode, http.StatusText(te.StatusCode))
	}
	// The codes are the registry's text: keep them to one short line.
	codes := printable(diagnostics(te), 120)
	if codes == "" {
		codes = strings.TrimSpace(fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode)))
	}
	if hasCode(te, transport.UnauthorizedErrorCode) {
		return errdefs.Wrap(te, errdefs.Unauthorized, "%s: unauthorized: run '%s'", op, loginHint(host))
	}
	if hasCode(te, transport.DeniedErrorCode) {
		return errdefs.Wrap(te, errdefs.Denied, "%s: denied: the account logged in to %s has no access there; check the name or run '%s' with an account that has", op, host, loginHint(host))
	}
	return errdefs.Wrap(te, errdefs.Rejected, "%s: %s refused the request (%s)", op, host, codes)
}

// credentialsRefused makes a 401's sentence say what was sent: stored
// credentials that the registry refused want a new `docker login`, not the
// first one; credentials that could not be read say why.
func credentialsRefused(err error, host, op string, sent bool, unreadable string) error {
	switch {
	case sent:
		return errdefs.Wrap(err, errdefs.Unauthorized, "%s: unauthorized: %s refused the credentials stored for it; run '%s' again (or 'docker logout %s' to go on without them)", op, host, loginHint(host), host)
	case unreadable != "":
		return errdefs.Wrap(err, errdefs.Unauthorized, "%s: unauthorized: %s needs credentials, and they could not be read: %s", op, host, unreadable)
	}
	return err
}

// RateLimitError is a 429 with the wait the registry asked for.
type RateLimitError struct {
	Err        *transport.Error
	RetryAfter time.Duration
	// Host is the registry that said it, so a batch stops starting images there.
	Host string
}

func (e *RateLimitError) Error() string { return e.Err.Error() }
func (e *RateLimitError) Unwrap() error { return e.Err }

// retryAfter reads a Retry-After header given in seconds, or 0.
func retryAfter(h http.Header) time.Duration {
	// Bounded: seconds past a year would overflow, and mean nothing.
	if n, err := strconv.Atoi(h.Get("Retry-After")); err == nil && n > 0 && n <= 366*24*3600 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// checkResponse returns nil if resp has one of the codes, else the registry's
// error classified for host with op as the sentence's subject. It consumes the
// body of an error response.
func checkResponse(resp *http.Response, host, op string, codes ...int) error {
	if !slices.Contains(codes, resp.StatusCode) && resp.Body != nil {
		// An error body is read whole to find its codes: bound it.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxErrorBody), resp.Body}
	}
	err := transport.CheckError(resp, codes...)
	if err == nil {
		return nil
	}
	te, ok := errors.AsType[*transport.Error](err)
	if !ok {
		return unreachable(err, host)
	}
	return statusError(te, retryAfter(resp.Header), host, op)
}

// unreachable names the host and the shortest true cause of a network failure.
func unreachable(err error, host string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if se, ok := errors.AsType[*StallError](err); ok {
		return errdefs.Wrap(err, errdefs.Unreachable, "%s", se.Error())
	}
	if !isNetwork(err) {
		// Not the network: an answer the transport could not use. At
		// connect, that is the sign-in handshake (a WWW-Authenticate
		// challenge, the token service's answer).
		return errdefs.Wrap(err, errdefs.Unreachable, "cannot sign in to registry %s: %s; check the address, or tell the registry's operator", host, printable(errdefs.Redact(err.Error()), 200))
	}
	cause := printable(errdefs.Redact(err.Error()), 200)
	if ue, ok := errors.AsType[*url.Error](err); ok {
		// Its text holds the URL, query and all: a redirect to storage may
		// carry signed credentials there. The inner error is the cause.
		cause = printable(errdefs.Redact(ue.Err.Error()), 200)
	}
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		cause = "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		cause = "no route to host"
	case errors.As(err, &dnsErr):
		cause = "no such host"
	case errors.As(err, &unknownCA):
		return errdefs.Wrap(err, errdefs.Unreachable,
			"cannot reach registry %s: its TLS certificate is signed by an unknown authority; put the CA in /etc/docker/certs.d/%s/ca.crt or pass --insecure=%s", host, host, host)
	case errors.As(err, &hostErr), errors.As(err, &invalid):
		return errdefs.Wrap(err, errdefs.Unreachable,
			"cannot reach registry %s: its TLS certificate is not valid for it; fix the certificate or pass --insecure=%s", host, host)
	case errors.As(err, &netErr) && netErr.Timeout():
		cause = "timed out"
	}
	return errdefs.Wrap(err, errdefs.Unreachable, "cannot reach registry %s: %s", host, cause)
}

// maxErrorBody bounds what is read of an error answer: its codes are in
// the first bytes, and a registry (or a proxy in front of one) may send a
// page of any size.
const maxErrorBody = 64 << 10

// isNetwork reports a failure to exchange bytes with a registry, as opposed
// to an answer that came and could not be used.
func isNetwork(err error) bool {
	var netErr net.Error
	var errno syscall.Errno
	return errors.As(err, new(*url.Error)) || errors.As(err, &netErr) || errors.As(err, &errno) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// printable makes text a registry sent fit in a sentence: its first line,
// without control characters, cut to about n bytes.
func printable(s string, n int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimRight(s[:i], " :")
	}
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(s)
}

// ErrRetried marks a failure that is what is left after every retry the
// request was worth: a caller should not start it over.
var ErrRetried = errors.New("retried already")

// Retried wraps err so that errors.Is(err, ErrRetried) holds.
func Retried(err error) error { return &retried{err: err} }

type retried struct{ err error }

func (e *retried) Error() string   { return e.err.Error() }
func (e *retried) Unwrap() []error { return []error{e.err, ErrRetried} }
