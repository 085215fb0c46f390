package imagelist

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// transportPrefixes mark a source or target that is not in a registry. Their
// paths are the caller's to open, so only their presence is checked here.
// A registry host literally named "oci" or "docker-archive" cannot be written
// without a domain dot, which is the same trade-off skopeo makes.
var transportPrefixes = []string{"oci:", "oci-archive:", "docker-archive:"}

const referenceExample = "docker.io/library/nginx:1.27"

var (
	tagPattern       = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestPattern    = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$`)
	imageIDPattern   = regexp.MustCompile(`^(?:sha256:)?[0-9a-f]{64}$`)
	schemePattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	uppercasePattern = regexp.MustCompile(`[A-Z]`)
)

// location is a parsed source or target: either a transport location or a
// registry reference.
type location struct {
	transport string          // one of transportPrefixes, or ""
	named     reference.Named // set when transport is ""
}

// hasTagOrDigest reports whether the reference pins an image rather than
// naming a repository.
func (l location) hasTagOrDigest() bool {
	if l.named == nil {
		return false
	}
	_, tagged := l.named.(reference.Tagged)
	_, digested := l.named.(reference.Digested)
	return tagged || digested
}

// parseLocation checks s as a source or target. On failure it returns one
// sentence that says what is wrong with s and what a valid one looks like.
func parseLocation(s string) (location, string) {
	for _, prefix := range transportPrefixes {
		if path, ok := strings.CutPrefix(s, prefix); ok {
			if path == "" {
				return location{}, fmt.Sprintf("%q has no path after the transport; write e.g. %simages/nginx.tar", s, prefix)
			}
			return location{transport: prefix}, ""
		}
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return location{}, referenceHint(s, err)
	}
	return location{named: named}, ""
}

// referenceHint turns the reference library's terse error into advice for the
// mistakes people make when writing lists by hand or pasting from elsewhere.
func referenceHint(s string, err error) string {
	if scheme := schemePattern.FindString(s); scheme != "" {
		return fmt.Sprintf("%q starts with the scheme %q; drop it and write the reference alone, e.g. %s", s, scheme, referenceExample)
	}
	name, tag, digest, hasTag, hasDigest := splitReference(s)
	if errors.Is(err, reference.ErrNameContainsUppercase) || strings.Contains(err.Error(), "must be lowercase") ||
		(uppercasePattern.MatchString(repositoryPath(name)) && !imageIDPattern.MatchString(strings.ToLower(s))) {
		return fmt.Sprintf("%q has uppercase letters in its repository; repository names are lowercase (tags may mix case), e.g. %s", s, referenceExample)
	}
	if hasTag && !tagPattern.MatchString(tag) {
		return fmt.Sprintf("%q has the invalid tag %q; a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-', e.g. 1.27", s, tag)
	}
	if hasDigest && (!digestPattern.MatchString(digest) || errors.Is(err, reference.ErrDigestInvalidFormat)) {
		return fmt.Sprintf("%q has the invalid digest %q; a digest is sha256: followed by 64 lowercase hex digits", s, digest)
	}
	if errors.Is(err, reference.ErrNameTooLong) {
		return fmt.Sprintf("%q has a repository name over %d characters; repository names are shorter", s, reference.RepositoryNameTotalLengthMax)
	}
	if imageIDPattern.MatchString(s) {
		return fmt.Sprintf("%q is an image ID, not a reference; name the image by repository and tag, e.g. %s", s, referenceExample)
	}
	return fmt.Sprintf("%q is not a valid image reference (expected NAME[:TAG][@DIGEST], e.g. %s)", s, referenceExample)
}

// splitReference cuts s at '@' and at the last ':' after the last '/'. It is
// only used to explain a reference that failed to parse, so it may be loose.
func splitReference(s string) (name, tag, digest string, hasTag, hasDigest bool) {
	name = s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, digest, hasDigest = name[:i], name[i+1:], true
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && i > strings.LastIndexByte(name, '/') {
		name, tag, hasTag = name[:i], name[i+1:], true
	}
	return name, tag, digest, hasTag, hasDigest
}

// repositoryPath drops the registry host, which may contain uppercase
// letters; it tells a host the way the reference library does.
func repositoryPath(name string) string {
	host, path, ok := strings.Cut(name, "/")
	if !ok {
		return name
	}
	if strings.ContainsAny(host, ".:") || host == "localhost" || strings.ToLower(host) != host {
		return path
	}
	return name
}
