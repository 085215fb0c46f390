// Package location parses the places docker migrate reads from and writes to: a
// registry reference, or an archive with a transport prefix (oci:, oci-archive:,
// docker-archive:). Any other text, "localhost:5000/x" included, is a registry
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
)

// Transports lists the prefixes, as users write them.
var Transports = []Transport{OCIDir, OCIArchive, DockerArchive}

// Location is one SRC or DST as given.
type Location struct {
	Transport Transport
	// Path is the directory or file of an archive location.
	Path string
	// Text is what the user wrote.
	Text string
}

// IsArchive reports a location that is not a registry.
func (l Location) IsArchive() bool { return l.Transport != Registry }

func (l Location) String() string { return l.Text }

// Parse reads one location. Only the three transport words followed by ':'
// make an archive; everything else is left for the reference parser.
func Parse(s string) (Location, error) {
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
