package imagelist

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"

	loc "github.com/docker-migrate/docker-migrate/internal/location"
)

// transportPrefixes mark a source or target that is not in a registry. Their
// paths are the caller's to open, so only their presence is checked here.
// A registry host literally named "oci" or "docker-archive" cannot be written
// without a domain dot, which is the same trade-off skopeo makes.
var transportPrefixes = []string{"oci:", "oci-archive:", "docker-archive:"}

const referenceExample = loc.ReferenceExample

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
	if l, err := loc.Parse(s); err != nil && strings.HasPrefix(s, string(loc.DockerDaemon)) {
		return location{}, err.Error()
	} else if err == nil && l.IsEngine() {
		if l.Image == "" {
			return location{}, fmt.Sprintf("%q names no image; write e.g. docker-daemon:myapp:1.0 (docker-daemon: alone is a DST)", s)
		}
		return location{transport: "docker-daemon:"}, ""
	}
	for _, prefix := range transportPrefixes {
		if path, ok := strings.CutPrefix(s, prefix); ok {
			if path == "" {
				return location{}, fmt.Sprintf("%q has no path after the transport; write e.g. %simages/nginx.tar", s, prefix)
			}
			return location{transport: prefix}, ""
		}
	}
	named, err := loc.ParseReference(s)
	if err != nil {
		return location{}, err.Error()
	}
	return location{named: named}, ""
}
