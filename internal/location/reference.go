package location

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/distribution/reference"
)

// ReferenceExample is the reference the hints show as a valid one.
const ReferenceExample = "docker.io/library/nginx:1.27"

var (
	tagPattern       = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestPattern    = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,}$`)
	imageIDPattern   = regexp.MustCompile(`^(?:sha256:)?[0-9a-f]{64}$`)
	schemePattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	uppercasePattern = regexp.MustCompile(`[A-Z]`)
	// archiveSuffix ends a name that is surely a file: no image on Docker
	// Hub is called so, and `docker save -o` writes such names.
	archiveSuffix = regexp.MustCompile(`\.(tar|tgz|tar\.gz|tar\.zst|tzst|tar\.xz)$`)
)

// ParseReference applies docker's normalisation to a registry reference, as
// ParseNormalizedNamed does, and also refuses what that lets through but no
// registry can serve: a port out of range, and a file name that would be read
// as a Docker Hub image ("image.tar"). The error is one sentence that starts
// with s quoted and says what a valid reference looks like.
func ParseReference(s string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, errors.New(ReferenceHint(s, err))
	}
	if msg := checkPort(s, reference.Domain(named)); msg != "" {
		return nil, errors.New(msg)
	}
	if msg := fileHint(s); msg != "" && !strings.Contains(s, "/") {
		return nil, errors.New(msg)
	}
	return named, nil
}

// ReferenceHint turns the reference library's terse error for s into advice
// for the mistakes people make when typing a reference or pasting one from
// elsewhere: one sentence, starting with s quoted.
func ReferenceHint(s string, err error) string {
	if s == "" {
		return fmt.Sprintf(`"" is empty; give an image reference, e.g. %s`, ReferenceExample)
	}
	if _, perr := Parse(s); perr != nil {
		// A transport with no path: "oci:".
		return perr.Error()
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Sprintf("%s holds a control character (a newline or tab pasted in?); a reference is one word, e.g. %s", quote(s), ReferenceExample)
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return fmt.Sprintf("%s holds a space; a reference is one word, e.g. %s", quote(s), ReferenceExample)
	}
	if scheme := schemePattern.FindString(s); scheme != "" {
		return fmt.Sprintf("%s starts with the scheme %q; drop it and write the reference alone, e.g. %s", quote(s), scheme, referenceWithoutScheme(s, scheme))
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII }); i >= 0 {
		r := []rune(s[i:])[0]
		return fmt.Sprintf("%s holds %q, which no reference has; a reference is ASCII letters, digits and . _ - / : @, e.g. %s", quote(s), r, ReferenceExample)
	}
	if msg := fileHint(s); msg != "" {
		return msg
	}
	name, tag, digest, hasTag, hasDigest := splitReference(s)
	if errors.Is(err, reference.ErrNameContainsUppercase) || strings.Contains(err.Error(), "must be lowercase") ||
		(uppercasePattern.MatchString(repositoryPath(name)) && !imageIDPattern.MatchString(strings.ToLower(s))) {
		return fmt.Sprintf("%s has uppercase letters in its repository; repository names are lowercase (tags may mix case), e.g. %s", quote(s), ReferenceExample)
	}
	if hasTag && !tagPattern.MatchString(tag) {
		if len(tag) > 128 {
			return fmt.Sprintf("%s has a tag of %d characters; a tag is 1 to 128 letters, digits, '_', '.' or '-', e.g. 1.27", quote(s), len(tag))
		}
		if tag == "" {
			return fmt.Sprintf("%s has the invalid tag \"\"; write a tag after ':' or drop the ':', e.g. %s", quote(s), ReferenceExample)
		}
		return fmt.Sprintf("%s has the invalid tag %s; a tag is 1 to 128 letters, digits, '_', '.' or '-' and does not start with '.' or '-', e.g. 1.27", quote(s), quote(tag))
	}
	if hasDigest && (!digestPattern.MatchString(digest) || errors.Is(err, reference.ErrDigestInvalidFormat)) {
		return fmt.Sprintf("%s has the invalid digest %s; a digest is sha256: followed by 64 lowercase hex digits", quote(s), quote(digest))
	}
	if errors.Is(err, reference.ErrNameTooLong) {
		return fmt.Sprintf("%s has a repository name over %d characters; repository names are shorter", quote(s), reference.RepositoryNameTotalLengthMax)
	}
	if imageIDPattern.MatchString(s) {
		return fmt.Sprintf("%s is an image ID, not a reference; name the image by repository and tag, e.g. %s", quote(s), ReferenceExample)
	}
	if name == "" {
		return fmt.Sprintf("%s has no repository name; write NAME[:TAG][@DIGEST], e.g. %s", quote(s), ReferenceExample)
	}
	return fmt.Sprintf("%s is not a valid image reference (expected NAME[:TAG][@DIGEST], e.g. %s)", quote(s), ReferenceExample)
}

// fileHint says what to write for s when it is a file or directory path:
// the transports are what read one.
func fileHint(s string) string {
	switch {
	case strings.HasPrefix(s, "/"), strings.HasPrefix(s, "./"), strings.HasPrefix(s, "../"), strings.HasPrefix(s, "~"), s == ".", s == "..":
	case archiveSuffix.MatchString(s):
	default:
		return ""
	}
	if archiveSuffix.MatchString(s) {
		return fmt.Sprintf("%s is a file, not an image reference; write docker-archive:%s (what 'docker save' writes and 'docker load' reads) or oci-archive:%s (an OCI layout in a tar)", quote(s), s, s)
	}
	return fmt.Sprintf("%s is a path, not an image reference; write oci:%s for an OCI layout directory, or docker-archive:FILE or oci-archive:FILE for an archive", quote(s), s)
}

// referenceWithoutScheme is s with its scheme dropped, when that is a valid
// reference, to show the user; else the example.
func referenceWithoutScheme(s, scheme string) string {
	rest := strings.TrimSuffix(strings.TrimPrefix(s, scheme), "/")
	if _, err := reference.ParseNormalizedNamed(rest); err == nil && len(rest) <= 100 {
		return rest
	}
	return ReferenceExample
}

// checkPort refuses a registry port out of range: the reference grammar
// takes any digits, and the copy would only fail when it dials.
func checkPort(s, domain string) string {
	if err := CheckHost(domain); err != nil {
		return fmt.Sprintf("%s has %v", quote(s), err)
	}
	return ""
}

// CheckHost checks a registry host as --insecure or a DST names it:
// HOST[:PORT], the port 1 to 65535.
func CheckHost(host string) error {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		// No port (or not HOST:PORT at all, which the callers' grammar
		// refuses on its own).
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("the port %s, which is out of range: a port is 1 to 65535, e.g. %s:5000", shorten(port), h)
	}
	return nil
}

// IsRegistryHost reports whether s, a DST, names a registry's root rather
// than an image: HOST or HOST:PORT and no path, where HOST has a dot, is
// localhost or an IP address ("harbor.lan", "localhost:5000", "[::1]:5000"),
// or has a numeric port ("registry:5000"). Docker would read such a text as
// the Docker Hub image library/HOST:PORT, which no one but Docker can push to.
func IsRegistryHost(s string) bool {
	if s == "" || strings.ContainsAny(s, "/@") || strings.ContainsFunc(s, unicode.IsSpace) || archiveSuffix.MatchString(s) {
		return false
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Contains(strings.Trim(s, "[]"), ":") && !strings.HasPrefix(s, "[") {
		// "nginx:1.27:x" and the like: not a host.
		return false
	}
	if port != "" && strings.Trim(port, "0123456789") != "" {
		// "nginx:1.27": a tag, not a port.
		return false
	}
	return IsDomain(host) || port != ""
}

// NamesRegistry reports a text that is a registry host alone, with no
// repository, and could not be an image name: HOST[:PORT] where HOST has a
// dot, is localhost or an IP address. No SRC can be one.
func NamesRegistry(s string) bool {
	if !IsRegistryHost(s) {
		return false
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	return IsDomain(host)
}

// IsDomain reports a host that cannot be a Docker Hub repository name: it has
// a dot, is localhost, or is an IP address.
func IsDomain(host string) bool {
	host = strings.Trim(host, "[]")
	return host != "" && (strings.Contains(host, ".") || host == "localhost" || net.ParseIP(host) != nil)
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

// shorten keeps a long text readable in a sentence: its first 60 characters
// and its length.
func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	cut := 60
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d characters)", s[:cut], len(s))
}

// quote is s quoted for a sentence; a long s is cut, its length said.
func quote(s string) string {
	if len(s) <= 80 {
		return strconv.Quote(s)
	}
	cut := 60
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d characters)", strconv.Quote(s[:cut]), len(s))
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
