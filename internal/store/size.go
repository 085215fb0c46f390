package store

import (
	"context"
	"errors"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrSizeMismatch is in the chain of every error that says a blob is not
// the size a manifest gives it.
var ErrSizeMismatch = errors.New("a blob is not the size its descriptor says")

// BlobPresent reports whether s holds blob d, of the size a manifest of
// source says. A blob there under that digest but of another size is no
// network trouble and no reason to retry: its bytes are what the digest
// says, so the manifest that names it is damaged, and a copy that referenced
// it would not pull. Stores that cannot tell a size answer as BlobExists.
func BlobPresent(ctx context.Context, s Store, d v1.Hash, size int64, source Store) (bool, error) {
	bs, ok := s.(BlobSizer)
	if !ok {
		return s.BlobExists(ctx, d)
	}
	got, ok, err := bs.BlobSize(ctx, d)
	if err != nil || !ok {
		return false, err
	}
	if SizeDisagrees(d, got, size) {
		return false, SizeMismatch(d, got, size, source)
	}
	return true, nil
}

// emptyDigest is the digest of no bytes.
const emptyDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// SizeDisagrees reports whether a store that says blob d is got bytes long
// contradicts a descriptor that says want. A length not given (-1) says
// nothing; nor does 0 for a blob that is not the empty one: some registries
// answer a HEAD with 0 bytes for a blob they hold (see
// registry.BlobCommitError), which is their fault, not the manifest's.
func SizeDisagrees(d v1.Hash, got, want int64) bool {
	if got < 0 || got == want {
		return false
	}
	return got != 0 || d.String() == emptyDigest
}

// SizeMismatch is the sentence for blob d, got bytes long, that a manifest
// of source describes as want bytes long.
func SizeMismatch(d v1.Hash, got, want int64, source Store) error {
	return errdefs.Wrap(ErrSizeMismatch, errdefs.Rejected,
		"blob %s is %d bytes, but %s describes it as %d bytes: the source's manifest is damaged; fix or rebuild the image there, or copy from another mirror", d, got, source, want)
}
