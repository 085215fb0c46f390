package plugin

import (
	"runtime/debug"
	"strings"
)

// devVersion is the version of a build between releases; the Makefile adds
// the commit as build metadata (v0.1.0-dev+545a5f4), as buildx and compose
// do.
const devVersion = "v0.1.0-dev"

// Version and Revision are set at build time:
//
//	-ldflags "-X github.com/docker-migrate/docker-migrate/plugin.Version=v0.1.0
//	          -X github.com/docker-migrate/docker-migrate/plugin.Revision=545a5f4"
//
// A build without them (go build, go install) reads the commit from the Go
// build info when the toolchain recorded it.
var (
	Version  = ""
	Revision = ""
)

func init() {
	if Version != "" && Revision != "" {
		return
	}
	rev, dirty := vcsRevision()
	if Revision == "" {
		Revision = rev
	}
	if Version == "" {
		Version = devVersion
		if rev != "" {
			Version += "+" + rev + dirty
		}
	}
}

// vcsRevision is the short commit the Go toolchain stamped into the binary,
// and ".dirty" for a build from a modified tree.
func vcsRevision() (rev, dirty string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ".dirty"
			}
		}
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	return strings.TrimSpace(rev), dirty
}
