package plugin

import (
	"runtime/debug"
	"strings"

	"github.com/Masterminds/semver/v3"
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
// A build without them (go build, go install) takes its version from the Go
// build info: the release tag when the module was built at one (go install
// …@v0.1.0, or go build at a tagged commit), else devVersion plus the commit
// when the toolchain recorded it.
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
		if info, ok := debug.ReadBuildInfo(); ok && isRelease(info.Main.Version) {
			Version = info.Main.Version
			return
		}
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

// isRelease reports a module version that is a release tag (v0.1.0): not
// "(devel)", not a pseudo-version (v0.0.0-20261206140125-f80a6ca0400c, what
// go build stamps between tags), and not a build from a modified tree
// (v0.1.0+dirty).
func isRelease(v string) bool {
	if !strings.HasPrefix(v, "v") {
		return false
	}
	sv, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
	return err == nil && sv.Prerelease() == "" && sv.Metadata() == ""
}
