// Package store defines what the index strategy copies between: a place that
// holds manifests and blobs. A registry repository is one kind; an OCI image
// layout (a directory, or a tar of one) is another; a `docker save` archive is a
// read-only third. Platform subsets, media-type conversion, dedupe, dry runs,
// progress and the tag-last rule live above this interface, so every kind of
// location gets them once.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Store is one repository's view of a place: its manifests by tag or digest,
// and the blobs they name. A missing manifest or blob is an errdefs.NotFound
// error, so that planners can tell "not there" from "cannot ask".
type Store interface {
	// String names the place in messages: "harbor.lan/mirror/nginx",
	// "oci-archive:k3s.tar.zst (docker.io/rancher/klipper-lb)".
	String() string
	// HeadManifest returns the descriptor ref (a tag or a digest) points to.
	HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error)
	// GetManifest reads a manifest; when ref is a digest the body is checked
	// against it.
	GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error)
	// PutManifest stores a manifest under ref: its digest for a child, the tag
	// for the root, which callers write last.
	PutManifest(ctx context.Context, ref string, mt types.MediaType, body []byte) error
	// BlobExists reports whether blob d is there.
	BlobExists(ctx context.Context, d v1.Hash) (bool, error)
	// GetBlob opens blob d. The caller verifies what it reads.
	GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error)
	// PutBlob stores size bytes of body as blob d. It commits only once body has
	// been read to its end without error: a reader that fails its digest check
	// leaves nothing behind that looks finished.
	PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error
}

// ErrNoDigest is in the chain of a HeadManifest error that says the store
// answered without the manifest's digest (some registries omit
// Docker-Content-Digest on HEAD): the manifest may well be there, and a GET
// tells. A store whose HEAD can say so is a Describer, which asks that GET.
var ErrNoDigest = errors.New("no digest in response")

// Describer is a store that finds what a reference points to better than by
// its HeadManifest alone: a registry asks a GET when a HEAD gave no digest.
type Describer interface {
	Describe(ctx context.Context, ref string) (v1.Descriptor, error)
}

// Describe returns the descriptor ref points to in s: the Describer's
// answer, else the HEAD's.
func Describe(ctx context.Context, s Store, ref string) (v1.Descriptor, error) {
	if d, ok := s.(Describer); ok {
		return d.Describe(ctx, ref)
	}
	return s.HeadManifest(ctx, ref)
}

// SmallBlobSize is the size up to which a blob costs round trips rather than
// bandwidth: a config, an attestation, a small layer. Copies of such blobs run
// beside the large ones instead of waiting for them, and a registry takes
// them in one request, over a shared connection.
const SmallBlobSize = 256 << 10

// Archive is a location that holds several images in one blob space: an OCI
// image layout (a directory, or a tar of one) or a `docker save` archive.
type Archive interface {
	// String names it as the user wrote it ("oci-archive:k3s.tar.zst").
	String() string
	// Images lists the images it holds, each by its full name
	// (docker.io/rancher/klipper-lb:v0.3.4), in the archive's order.
	Images(ctx context.Context) ([]name.Reference, error)
	// Repository is the store of one repository in the archive: its tags, and
	// the blobs the archive shares between all of its images.
	Repository(repo name.Repository) Store
	// Commit makes what was written final (for a tar: write index.json, close
	// the temporary file and rename it over the target). Reading archives
	// commit nothing.
	Commit(ctx context.Context) error
	// Close releases the archive; without a Commit it removes what was
	// written, so no file is left that looks finished.
	Close() error
}

// MediaType reads what kind of manifest body is: its own mediaType field
// first, since registries get Content-Type wrong; else header, when it says
// more than "JSON"; else its shape, for an OCI manifest or index that leaves
// the field out.
func MediaType(body []byte, header types.MediaType) (types.MediaType, error) {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
		Layers    json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", fmt.Errorf("manifest is not JSON: %w", err)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case header != "" && header != "application/json" && header != "text/plain":
		return header, nil
	case probe.Manifests != nil:
		return types.OCIImageIndex, nil
	case probe.Config != nil && probe.Layers != nil:
		// Both: an image's config has a "config" field of its own.
		return types.OCIManifestSchema1, nil
	}
	return "", fmt.Errorf("cannot tell what kind of manifest this is (media type %q)", header)
}

// ContextReader stops a read when its context is cancelled: local files and
// pipes do not watch a context of their own.
type ContextReader struct {
	Ctx context.Context
	R   io.Reader
}

func (c ContextReader) Read(p []byte) (int, error) {
	if err := c.Ctx.Err(); err != nil {
		return 0, err
	}
	return c.R.Read(p)
}
