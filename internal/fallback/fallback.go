// Package fallback classifies why a strategy failed by what the registry
// answered (status codes and OCI error codes, not message text), and decides
// which other strategy could get past it.
package fallback

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Class is a kind of failure, as --format json's attempts list names it.
type Class string

const (
	// OCIRejected: a manifest with an OCI media type was refused.
	OCIRejected Class = "oci-rejected"
	// IndexRejected: a manifest list or index was refused, whatever its media type.
	IndexRejected Class = "index-rejected"
	// SparseIndex: the registry says a child of the index is missing.
	SparseIndex Class = "sparse-index"
	// BlobCommit: a blob was accepted but reads back with the wrong size.
	BlobCommit Class = "blob-commit"
	// MountRefused: a cross-repository mount failed in a way an upload did not fix.
	MountRefused Class = "mount-refused"
	// RateLimited: the registry asked to wait longer than is reasonable to wait.
	RateLimited Class = "rate-limited"
	// Fatal: auth, not found, network, corrupt data: no other strategy helps.
	Fatal Class = "fatal"
)

// Classify returns the class of err and a one-sentence error that names the
// quirk, for the user and for the attempts list.
func Classify(err error) (Class, error) {
	if err == nil {
		return "", nil
	}
	if bc, ok := errors.AsType[*registry.BlobCommitError](err); ok {
		return BlobCommit, errdefs.Wrap(err, errdefs.Rejected, "%s", bc.Error())
	}
	if errdefs.Is(err, errdefs.RateLimited) {
		return RateLimited, err
	}
	mpe, ok := errors.AsType[*registry.ManifestPutError](err)
	if !ok {
		return Fatal, err
	}
	te, ok := errors.AsType[*transport.Error](err)
	if !ok {
		return Fatal, err
	}
	host := ""
	if te.Request != nil {
		host = te.Request.URL.Host
	}
	answer := fmt.Sprintf("%d %s", te.StatusCode, codes(te))
	isOCI := strings.HasPrefix(string(mpe.MediaType), "application/vnd.oci.")
	switch {
	case mpe.MediaType.IsIndex() && (has(te, transport.ManifestBlobUnknownErrorCode) || has(te, transport.BlobUnknownErrorCode) || has(te, transport.ManifestUnknownErrorCode)):
		return SparseIndex, errdefs.Wrap(err, errdefs.Rejected,
			"%s refused the index %s (%s): it says a child manifest is missing, though each was pushed first", host, mpe.Ref, answer)
	case !mpe.MediaType.IsIndex() && (has(te, transport.BlobUnknownErrorCode) || has(te, transport.ManifestBlobUnknownErrorCode)):
		// The blobs were committed just before: the registry lost or hides them.
		return BlobCommit, errdefs.Wrap(err, errdefs.Rejected,
			"%s refused manifest %s (%s): it says a blob is missing, though each was committed and read back first", host, mpe.Ref, answer)
	case !refusal(te):
		return Fatal, err
	case isOCI:
		// Quote the registry: a manifest can be refused for its body (a
		// mediaType field that disagrees with the type it was pushed as,
		// say) as well as for its media type.
		return OCIRejected, errdefs.Wrap(err, errdefs.Rejected,
			"%s refused the OCI manifest %s (%s)", host, mpe.Ref, reason(te))
	case mpe.MediaType.IsIndex():
		return IndexRejected, errdefs.Wrap(err, errdefs.Rejected,
			"%s refused the manifest list for %s (%s): it does not accept manifest lists or indexes", host, mpe.Ref, answer)
	}
	return Fatal, err
}

// Hint is what a run that failed with c, and had no other strategy to fall
// back to, should try next. strategyGiven is whether the user chose the
// strategy: only then is running "without --strategy" advice (a copy to or
// from an archive has the index strategy alone, and gave none).
func Hint(c Class, strategyGiven bool) string {
	switch c {
	case OCIRejected:
		if !strategyGiven {
			return "run again with --media-types docker (the digest then changes)"
		}
		return "run again with --media-types docker (the digest then changes), or without --strategy to let auto fall back"
	case IndexRejected:
		return "copy one platform at a time with --platform os/arch"
	case SparseIndex, BlobCommit:
		if !strategyGiven {
			return ""
		}
		return "try --strategy manifest (through the Docker engine), or run without --strategy to let auto fall back"
	}
	return ""
}

// refusal is an answer that says "this manifest is not acceptable here".
func refusal(te *transport.Error) bool {
	if has(te, transport.ManifestInvalidErrorCode) || has(te, transport.UnsupportedErrorCode) {
		return true
	}
	switch te.StatusCode {
	case http.StatusUnsupportedMediaType, http.StatusNotAcceptable:
		return true
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		// With another code (NAME_INVALID, TAG_INVALID, …) it is not about
		// the media type; without any, it may well be.
		return len(te.Errors) == 0
	}
	return false
}

func has(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// reason is the registry's answer with its own words: codes and messages.
func reason(te *transport.Error) string {
	var s []string
	for _, d := range te.Errors {
		if d.Message != "" {
			s = append(s, fmt.Sprintf("%s: %s", d.Code, d.Message))
		} else {
			s = append(s, string(d.Code))
		}
	}
	if len(s) == 0 {
		return fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode))
	}
	return fmt.Sprintf("%d %s", te.StatusCode, strings.Join(s, "; "))
}

func codes(te *transport.Error) string {
	var s []string
	for _, d := range te.Errors {
		s = append(s, string(d.Code))
	}
	if len(s) == 0 {
		return http.StatusText(te.StatusCode)
	}
	return strings.Join(s, ", ")
}

// Step is one rung of the auto chain.
type Step string

const (
	StepIndex       Step = "index"
	StepIndexDocker Step = "index-docker"
	StepManifest    Step = "manifest"
	StepBuildx      Step = "buildx"
)

// Helps says whether step can get past a failure of class c, and if not, why.
func Helps(step Step, c Class) (bool, string) {
	switch c {
	case OCIRejected:
		return true, ""
	case BlobCommit, SparseIndex:
		if step == StepIndexDocker {
			return false, fmt.Sprintf("it pushes blobs and manifests the same way as index, which failed with %s", c)
		}
		return true, ""
	case MountRefused:
		return step != StepIndexDocker, "it mounts the same way as index"
	}
	return false, fmt.Sprintf("no strategy gets past %s", c)
}

// Stops reports whether auto should stop at once on c: every strategy would
// meet the same refusal (every one of them writes a list or index) or the same
// registry (rate limits, auth, not found, network).
func Stops(c Class) bool {
	switch c {
	case OCIRejected, BlobCommit, SparseIndex, MountRefused:
		return false
	}
	return true
}
