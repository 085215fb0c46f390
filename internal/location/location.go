// Package location parses the places docker migrate reads from and writes to: a
// registry reference, an archive with a transport prefix (oci:, oci-archive:,
// docker-archive:), or a Docker engine (docker-daemon:[NAME[:TAG]], and
// docker-daemon@CONTEXT:[NAME[:TAG]] for the engine of another docker
// context). Any other text, "localhost:5000/x" included, is a registry
// reference.
package location

import (
	"fmt"
	"strings"
)

// Transport is the kind of a location.
type Transport string

const (
	Registry      Transport = ""
	OCIDir        Transport = "oci"            // an OCI image layout directory
	OCIArchive    Transport = "oci-archive"    // an OCI image layout in one tar (.tar, .tar.gz, .tar.zst)
	DockerArchive Transport = "docker-archive" // what `docker save` writes
	DockerDaemon  Transport = "docker-daemon"  // an image in a Docker engine
)

// Transports lists the prefixes, as users write them.
var Transports = []Transport{OCIDir, OCIArchive, DockerArchive}

// Location is one SRC or DST as given.
type Location struct {
	Transport Transport
	// Path is the directory or file of an archive location.
	Path string
	// Context is the docker context whose engine a docker-daemon location
	// names; "" is the CLI's current one.
	Context string
	// Image is the NAME[:TAG] of a docker-daemon location; "" makes it a
	// place (as DST: each image keeps its name).
	Image string
	// Text is what the user wrote.
	Text string
}

// IsArchive reports an archive location: a file or directory.
func (l Location) IsArchive() bool { return l.Transport != Registry && l.Transport != DockerDaemon }

// IsEngine reports a docker-daemon location.
func (l Location) IsEngine() bool { return l.Transport == DockerDaemon }

func (l Location) String() string { return l.Text }

// Parse reads one location. Only the three transport words followed by ':'
// make an archive, and docker-daemon: or docker-daemon@CONTEXT: an engine;
// everything else is left for the reference parser.
func Parse(s string) (Location, error) {
	if rest, ok := strings.CutPrefix(s, string(DockerDaemon)); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "@")) {
		return parseEngine(s, rest)
	}
	for _, t := range Transports {
		if rest, ok := strings.CutPrefix(s, string(t)+":"); ok {
			if rest == "" {
				return Location{}, fmt.Errorf("%q names no path: write %s:PATH, e.g. %s", s, t, example(t))
			}
			return Location{Transport: t, Path: rest, Text: s}, nil
		}
	}
	return Location{Transport: Registry, Text: s}, nil
}

func example(t Transport) string {
	switch t {
	case OCIDir:
		return "oci:./images"
	case DockerArchive:
		return "docker-archive:images.tar"
	}
	return "oci-archive:images.tar.zst"
}

// parseEngine reads what follows "docker-daemon": ":NAME[:TAG]" or
// "@CONTEXT:NAME[:TAG]". skopeo names the engine's host with flags
// (--src-daemon-host); a context in the location itself lets each SRC of a
// list, and DST, name its own engine.
func parseEngine(s, rest string) (Location, error) {
	l := Location{Transport: DockerDaemon, Text: s}
	if ctxName, ok := strings.CutPrefix(rest, "@"); ok {
		var found bool
		ctxName, rest, found = strings.Cut(ctxName, ":")
		if !found {
			return Location{}, fmt.Errorf("%q names no image after the context: write docker-daemon@CONTEXT:NAME[:TAG], e.g. docker-daemon@edge:nginx:1.27, or docker-daemon@CONTEXT: as a DST", s)
		}
		if !validContextName(ctxName) {
			return Location{}, fmt.Errorf("%q names no valid docker context %q: a context name is letters, digits, '.', '_' and '-' (see 'docker context ls')", s, ctxName)
		}
		l.Context = ctxName
		rest = ":" + rest
	}
	l.Image = strings.TrimPrefix(rest, ":")
	if strings.ContainsFunc(l.Image, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Location{}, fmt.Errorf("%q holds a space or control character in the image name", s)
	}
	return l, nil
}

// validContextName is docker/cli's rule for context names
// (cli/context/store: ^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$), without the minimum of
// two characters, which "docker context create" enforces and a user may not
// know about.
func validContextName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("_.+-", r)) {
			return false
		}
	}
	return true
}
