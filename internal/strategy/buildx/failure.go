package buildx

import (
	"errors"
	"regexp"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// buildFailure turns what buildx said about a failed build into one sentence
// that names the builder, the registry when one is to blame, and what to do.
// text is buildx's error (BuildKit's, through buildx); the whole of it stays
// in the chain for -D.
func buildFailure(text string, b *builder, src, dst string) error {
	detail := errors.New(strings.TrimSpace(text))
	lower := strings.ToLower(text)
	host := blamedRegistry(text, src, dst)
	regName := "registry " + host
	if host == "" {
		regName = "a registry"
		host = "HOST"
	}
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(lower, s) {
				return true
			}
		}
		return false
	}
	switch {
	case noBuildx(text):
		return errdefs.Wrap(detail, errdefs.Unavailable,
			"%s: the docker buildx plugin is not installed; install it (Docker's docker-buildx-plugin package, or docker-buildx in ~/.docker/cli-plugins)", needsBuilder)
	case has("multi-platform build is not supported", "push-by-digest is currently not implemented"):
		return errdefs.Wrap(detail, errdefs.Unavailable,
			"the buildx strategy cannot use %s: its %s driver cannot push a multi-platform index by digest; create a builder that can with 'docker buildx create --driver docker-container --use', or 'docker buildx create --driver remote ADDR' for a BuildKit you run, or pass --builder NAME",
			b, orUnknown(b.Driver))
	case has("server gave http response to https client"):
		return errdefs.Wrap(detail, errdefs.Unreachable,
			"%s cannot reach %s over HTTPS, and it answers plain HTTP: add [registry.\"%s\"] http = true to %s, and run again",
			b, regName, host, b.configHint())
	case has("x509:", "certificate signed by unknown authority", "tls: failed to verify", "certificate is not valid"):
		return errdefs.Wrap(detail, errdefs.Unreachable,
			"%s does not trust the TLS certificate of %s: add [registry.\"%s\"] ca = [\"/path/to/ca.crt\"] (or insecure = true) to %s, and run again",
			b, regName, host, b.configHint())
	case has("401 unauthorized", "403 forbidden", "unauthorized:", "authentication required", "insufficient_scope",
		"requested access to the resource is denied", "failed to authorize", "no basic auth credentials", "access denied"):
		return errdefs.Wrap(detail, errdefs.Unauthorized,
			"%s was refused by %s (unauthorized): run '%s' and run again; buildx uses the same credentials",
			b, regName, loginHint(host))
	case host != "HOST" && has("connection refused", "no such host", "i/o timeout", "no route to host", "network is unreachable", "connection reset"):
		hint := "it must be reachable from where BuildKit runs, not only from this machine"
		if isLoopback(host) && b.Addr == "" && b.Driver != "remote" {
			hint = "a builder in a container does not see this machine's loopback addresses; use a --driver remote builder or --buildkit-addr with a daemon on the host network"
		}
		return errdefs.Wrap(detail, errdefs.Unreachable, "%s cannot reach %s (%s): %s", b, regName, networkCause(lower), hint)
	case has("no match for platform"):
		return errdefs.Wrap(detail, errdefs.PlatformMissing, "%s found no image in the source for one of the platforms it was asked to build; pick the platforms with --platform", b)
	case has("failed to resolve source metadata") && has("not found"):
		return errdefs.Wrap(detail, errdefs.NotFound, "%s cannot find the source image in %s: it was there when the migration was planned; check that it was not deleted, and run again", b, regName)
	case host != "HOST" && has("client.timeout exceeded", "tls handshake timeout"):
		return errdefs.Wrap(detail, errdefs.Unreachable, "%s cannot reach %s (timed out): it must be reachable from where BuildKit runs", b, regName)
	case has("context deadline exceeded", "failed to dial", "connection error", "error while dialing", "cannot connect"):
		if b.Addr != "" {
			// The builder is a temporary one of ours: name what the user gave.
			return errdefs.Wrap(detail, errdefs.Unavailable, "the BuildKit daemon at %s did not answer (%s); check that it runs and that the address is right", b.Addr, failureLine(text))
		}
		return errdefs.Wrap(detail, errdefs.Unavailable, "%s did not answer (%s); check it with 'docker buildx inspect --bootstrap %s'", b, failureLine(text), b.Name)
	}
	return errdefs.Wrap(detail, errdefs.Unknown, "the build on %s failed: %s", b, clip(failureLine(text), 300))
}

// short is the first line of buildx's error without the "failed to build:
// failed to solve:" every one of them starts with.
func failureLine(text string) string {
	s := firstLine(text)
	for _, prefix := range []string{"failed to build: ", "failed to solve: "} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// The registry an error is about, in BuildKit's words: the request that
// failed (`Head "https://HOST/v2/…"`), else the image it was pushing or
// resolving.
var (
	urlHost     = regexp.MustCompile(`https?://([^/\s"]+)/v2/`)
	pushHost    = regexp.MustCompile(`failed to push ([^/\s]+)/`)
	resolveHost = regexp.MustCompile(`failed to resolve source metadata for ([^/\s]+)/`)
)

// blamedRegistry says which registry an error is about: the one in the
// request that failed, else the one of the image being pushed or resolved,
// else the destination for a push and the source for the rest.
func blamedRegistry(text, src, dst string) string {
	for _, re := range []*regexp.Regexp{urlHost, pushHost, resolveHost} {
		if m := re.FindStringSubmatch(text); m != nil {
			return displayRegistry(m[1])
		}
	}
	lower := strings.ToLower(text)
	switch {
	case strings.Contains(lower, "failed to push") || strings.Contains(lower, "pushing"):
		return dst
	case src != "" && strings.Contains(text, src):
		return src
	case dst != "" && strings.Contains(text, dst):
		return dst
	}
	return ""
}

// displayRegistry is how a registry appears in BuildKit's messages and in
// `docker login`: Docker Hub as docker.io.
func displayRegistry(host string) string {
	switch host {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return host
}

func loginHint(host string) string {
	if host == "docker.io" {
		return "docker login"
	}
	return "docker login " + host
}

func isLoopback(host string) bool {
	h := host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "[::1]" || h == "::1"
}

func networkCause(lower string) string {
	for _, cause := range []string{"connection refused", "no such host", "i/o timeout", "no route to host", "network is unreachable", "connection reset"} {
		if strings.Contains(lower, cause) {
			return cause
		}
	}
	return "network error"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
