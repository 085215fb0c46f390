// Package errdefs holds the typed errors docker-migrate reports. Each carries one
// sentence for the user (what failed and what to do) and the detail behind it,
// which the command prints only in debug mode (-D).
package errdefs

import (
	"errors"
	"fmt"
	"regexp"
)

// Kind classifies a failure by what the registry or engine answered, so callers
// decide with errors.As and a switch rather than by matching message strings.
type Kind int

const (
	Unknown Kind = iota
	InvalidArgument
	NotFound
	Unauthorized
	Denied
	Unreachable
	DigestMismatch
	PlatformMissing
	RateLimited
	Unavailable
	Rejected
	Canceled
)

func (k Kind) String() string {
	switch k {
	case InvalidArgument:
		return "invalid argument"
	case NotFound:
		return "not found"
	case Unauthorized:
		return "unauthorized"
	case Denied:
		return "denied"
	case Unreachable:
		return "unreachable"
	case DigestMismatch:
		return "digest mismatch"
	case PlatformMissing:
		return "platform missing"
	case RateLimited:
		return "rate limited"
	case Unavailable:
		return "unavailable"
	case Rejected:
		return "rejected"
	case Canceled:
		return "canceled"
	}
	return "unknown"
}

// Error is a failure with a user-facing sentence and an optional cause.
type Error struct {
	Kind Kind
	// Msg is the single sentence the user sees.
	Msg string
	// Err is the detail behind it (HTTP status, registry error codes, …).
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error of kind k with a formatted message and no cause.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error of kind k that keeps err as its detail.
func Wrap(err error, k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, or Unknown.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return Unknown
}

// Is reports whether err has an *Error of kind k anywhere in its chain.
func Is(err error, k Kind) bool {
	for err != nil {
		if e, ok := err.(*Error); ok && e.Kind == k {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

// Message is the sentence to show: the outermost *Error's message when there is
// one (so wrapping for context never buries it), else the error text itself.
func Message(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Msg
	}
	return err.Error()
}

// queryRE matches the query of a URL in an error's text; signed storage
// URLs carry credentials there. bareQueryRE matches a query whose URL has no
// scheme (a path, a Location header), and stateRE an upload's _state anywhere.
var (
	queryRE     = regexp.MustCompile(`(https?://[^\s"?]+)\?[^\s"]*`)
	bareQueryRE = regexp.MustCompile(`\?[A-Za-z0-9_.~-]+=[^\s"']*`)
	stateRE     = regexp.MustCompile(`_state=[^&\s"']+`)
)

// Redact drops URL queries from s, and any upload _state.
func Redact(s string) string {
	s = queryRE.ReplaceAllString(s, "$1?[redacted]")
	s = bareQueryRE.ReplaceAllString(s, "?[redacted]")
	return stateRE.ReplaceAllString(s, "_state=[redacted]")
}

// Detail is the whole chain, for debug output, with URL queries redacted.
func Detail(err error) []string {
	var lines []string
	for err != nil {
		lines = append(lines, Redact(fmt.Sprintf("%T: %v", err, err)))
		if e, ok := err.(*Error); ok {
			err = e.Err
			continue
		}
		err = errors.Unwrap(err)
	}
	return lines
}
