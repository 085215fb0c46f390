package archive

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The annotations an index.json entry is named by.
const (
	// AnnotationImageName is containerd's: the full, normalised name
	// (docker.io/rancher/klipper-lb:v0.3.4). containerd, k3s and docker 25+ read
	// and write it.
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationRefName is the OCI one. containerd and docker 25+ write only the
	// tag there (v0.3.4); skopeo (oci:DIR:REF) and regctl look entries up by it.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// unnamedRegistry holds images an archive does not name, as podman names
// local images: localhost/BASE keeps them out of docker.io's namespace, and
// under a registry prefix they become PREFIX/BASE.
const unnamedRegistry = "localhost"

// parseFullName reads a full image name as docker normalises it
// ("rancher/klipper-lb:v0.3.4" is docker.io/rancher/klipper-lb:v0.3.4). With
// both a tag and a digest the tag is kept: the entry's descriptor has the
// digest. A name with neither is :latest.
func parseFullName(s string) (name.Reference, bool) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, false
	}
	repo := reference.TrimNamed(named).String()
	if t, ok := named.(reference.Tagged); ok {
		ref, err := name.NewTag(repo + ":" + t.Tag())
		return ref, err == nil
	}
	if d, ok := named.(reference.Digested); ok {
		ref, err := name.NewDigest(repo + "@" + d.Digest().String())
		return ref, err == nil
	}
	ref, err := name.NewTag(repo + ":latest")
	return ref, err == nil
}

// isFullReference tells a ref.name that is a whole reference from one that is
// only a tag, as containerd's importer does: a tag has no '/', ':' or '@'.
func isFullReference(s string) bool { return strings.ContainsAny(s, "/:@") }

// entryName names an index.json entry: io.containerd.image.name, else a
// ref.name that is a full reference, else BASE (see unnamedRepository) with
// the ref.name as its tag, else BASE@DIGEST. derived is true in the last two
// cases: the archive did not say which repository the image is from.
func entryName(ann map[string]string, digest v1.Hash, base name.Repository) (ref name.Reference, derived bool) {
	if n := ann[AnnotationImageName]; n != "" {
		if ref, ok := parseFullName(n); ok {
			return ref, false
		}
	}
	rn := ann[AnnotationRefName]
	if rn != "" && isFullReference(rn) {
		if ref, ok := parseFullName(rn); ok {
			return ref, false
		}
	}
	if rn != "" {
		if t, err := name.NewTag(base.Name() + ":" + rn); err == nil {
			return t, true
		}
	}
	return base.Digest(digest.String()), true
}

var nonRepoChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// unnamedRepository is localhost/BASE, BASE being the archive's file or
// directory name without its extensions, made a valid repository name.
func unnamedRepository(path string) name.Repository {
	base := strings.ToLower(filepath.Base(filepath.Clean(path)))
	for _, ext := range []string{".gz", ".tgz", ".zst", ".tzst", ".zstd", ".tar"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = nonRepoChars.ReplaceAllString(base, "-")
	base = strings.Trim(base, "._-")
	if base == "" {
		base = "image"
	}
	repo, err := name.NewRepository(unnamedRegistry + "/" + base)
	if err != nil {
		repo, _ = name.NewRepository(unnamedRegistry + "/image")
	}
	return repo
}

// normalizedName is how containerd writes a name in io.containerd.image.name:
// docker.io/library/nginx:1.27, not index.docker.io/….
func normalizedName(ref name.Reference) string {
	if named, err := reference.ParseNormalizedNamed(ref.Name()); err == nil {
		return named.String()
	}
	return ref.Name()
}

// sameRepository compares two repositories after normalisation.
func sameRepository(a, b name.Repository) bool { return a.Name() == b.Name() }
