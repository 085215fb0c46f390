// Package wording writes the pieces that messages all over the program share,
// one way each: a count with its noun, a digest cut short, a reference as
// docker names it. A message reads the same whichever package wrote it.
package wording

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Count is n with word, plural by an s when n is not 1: "1 image",
// "3 images".
func Count(n int, word string) string {
	return CountOf(n, word, word+"s")
}

// CountOf is n with one or many, for a noun whose plural is not an s:
// "1 blob or manifest", "4 blobs and manifests".
func CountOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// shortHex is how many hex digits of a digest a message shows, as docker
// shows an image ID.
const shortHex = 12

// Digest is d cut short, with its algorithm: "sha256:0123456789ab".
func Digest(d v1.Hash) string {
	if len(d.Hex) > shortHex {
		return d.Algorithm + ":" + d.Hex[:shortHex]
	}
	return d.String()
}

// ID is d as docker shows a layer or image ID in progress: its first 12 hex
// digits, no algorithm ("0123456789ab").
func ID(d v1.Hash) string {
	if len(d.Hex) > shortHex {
		return d.Hex[:shortHex]
	}
	return d.Hex
}

// Reference is r's full name as docker writes it, with Docker Hub as
// docker.io rather than index.docker.io: "docker.io/library/nginx:1.27".
func Reference(r name.Reference) string {
	s := r.Name()
	if r.Context().RegistryStr() == name.DefaultRegistry {
		s = "docker.io/" + strings.TrimPrefix(s, name.DefaultRegistry+"/")
	}
	return s
}

// Repository is repo's full name as docker writes it:
// "docker.io/library/nginx".
func Repository(repo name.Repository) string {
	return strings.TrimSuffix(Reference(repo.Tag("x")), ":x")
}

// Familiar is r in docker's short form, as `docker images` shows it:
// "nginx:1.27", "ghcr.io/org/app:v1".
func Familiar(r name.Reference) string {
	if named, err := reference.ParseNormalizedNamed(r.Name()); err == nil {
		return reference.FamiliarString(named)
	}
	return r.Name()
}

// FamiliarRepository is repo in docker's short form: "nginx",
// "ghcr.io/org/app".
func FamiliarRepository(repo name.Repository) string {
	if named, err := reference.ParseNormalizedNamed(repo.Name()); err == nil {
		return reference.FamiliarName(named)
	}
	return repo.Name()
}
