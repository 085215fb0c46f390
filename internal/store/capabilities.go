package store

import (
	"context"
	"io"

	"github.com/docker-migrate/docker-migrate/internal/progress"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The optional capabilities of a store, and of a blob body handed to one,
// gathered here as go-containerregistry's partial package gathers its With…
// interfaces: code that can do better when a store can do more asserts one of
// these, and every store gets the plain path without them.

// Mounter is a store that can take a blob from another store of its own kind
// without moving the bytes, as a registry mounts across repositories.
type Mounter interface {
	// CanMount reports whether a mount from src can be asked for at all.
	CanMount(src Store) bool
	// Mount asks for blob d from src; false with no error means it was declined
	// and the caller copies the blob instead.
	Mount(ctx context.Context, d v1.Hash, src Store) (bool, error)
}

// RecordedMounter is a store that can mount a blob from another of its
// repositories named by path (a registry repository), one a record says
// holds the blob rather than a store at hand.
type RecordedMounter interface {
	MountFrom(ctx context.Context, d v1.Hash, repoPath string) (bool, error)
}

// RangeReader is a store that reads a blob from an offset on (a registry,
// with a Range request); start is where the body it opened begins.
type RangeReader interface {
	GetBlobAt(ctx context.Context, d v1.Hash, off, size int64) (rc io.ReadCloser, start int64, err error)
}

// BlobSizer is a store that can tell a blob's size without reading it (a
// registry's HEAD, an archive's file size).
type BlobSizer interface {
	// BlobSize is the size of blob d, or ok false when it is not there.
	BlobSize(ctx context.Context, d v1.Hash) (size int64, ok bool, err error)
}

// Placed is a store whose blobs other stores can reach: the repositories of one
// registry (by a mount), the images of one layout (they share its blobs).
type Placed interface {
	// Place names the blob space: a registry host, a layout's path.
	Place() string
}

// TagLister is a store that can list its repository's tags (a registry
// repository): what a "not found" can be explained with.
type TagLister interface {
	ListTags(ctx context.Context) ([]string, error)
}

// LayerChecker is a source that can prove a layer uncompresses to the
// diff_id its image's config gives (an archive: docker load refuses a layer
// that does not). The check runs when the layer is read; a layer the
// destination already holds, or takes by a mount, is never read from the
// source, so the planner asks for the check of those.
type LayerChecker interface {
	CheckLayer(ctx context.Context, d v1.Hash) error
}

// Streamed is a source read as one stream (a compressed archive): it hands
// each blob over as the stream passes it, so a copy that says up front which
// blobs it will read, and reads the large ones in the stream's order, needs
// no extra pass over it and little temporary space.
type Streamed interface {
	// Expect says the copy will read blobs ds (until ctx ends): one that
	// passes before its reader asks is kept for it.
	Expect(ctx context.Context, ds []v1.Hash)
	// StreamOrder is where blob d passes in the stream (smaller first), and
	// false when it is not read from the stream.
	StreamOrder(d v1.Hash) (int, bool)
}

// Verifier is a blob body that checks its own digest as it is read (the copy
// engine's blob reader). A store's PutBlob asks it, once the body was read to
// its end, instead of hashing the bytes again, and commits only on nil.
type Verifier interface {
	Verified() error
}

// ImageHolder is a place that keeps images under names but no manifest a
// planner can compare by digest (a Docker engine: it loads a manifest and
// keeps what it made of it). The planner asks it instead whether the image
// under a name is the one planned, by what the place can prove.
type ImageHolder interface {
	// HeldImage says what tag names there: nothing (an errdefs.NotFound
	// error), or Held.ID, and Held.Same when that is the image root (a
	// manifest or index, with its body) whole.
	HeldImage(ctx context.Context, tag string, root v1.Descriptor, body []byte) (Held, error)
}

// Held is what an ImageHolder keeps under a name.
type Held struct {
	// ID is the place's own name of the image (a Docker engine's image ID),
	// which messages show as what the name points at.
	ID v1.Hash
	// Same reports the very image asked about, with all of its content.
	Same bool
}

// StreamPutter is a store that takes a blob whose digest and size are known
// only once its body has been read (a registry repository: an upload is
// named by its digest when it is closed, not when it is opened). It returns
// the blob's descriptor; nothing is committed when body fails.
type StreamPutter interface {
	PutBlobStream(ctx context.Context, mediaType types.MediaType, body io.Reader) (v1.Descriptor, error)
}

// Forwarder is a source read in one pass whose manifests come last (a Docker
// engine's save stream): it cannot say its blobs' digests before it has read
// them, so instead of holding them until the copy is planned it puts the
// large ones straight into the destination as they stream, when the
// destination can take them so (a StreamPutter). The copy is planned after
// Forward and finds them there; no tag is written by Forward.
type Forwarder interface {
	// Forward reads the source, putting into dst what it can, and reports
	// each blob it put on pw; ref is the tag (or digest) the copy writes in
	// dst, whose image may hold some of the blobs already. It returns what
	// it put, by digest with its size; none when dst cannot take blobs this
	// way (the source is then read as before, when the copy asks). When
	// ctx ends part way it returns what had arrived whole, with ctx's error.
	// claims, when not nil, are the run's claims on layers, so that a layer
	// two images of the run share is sent into one registry once.
	Forward(ctx context.Context, dst Store, ref string, pw *progress.Writer, claims LayerClaimer) (Forwarded, error)
	// OtherImageAt is what ref points at in dst when that is another image
	// than the source's, as far as the source can tell before it is read
	// (its layers); the zero hash when ref is not there or may be the same
	// image. -n (no clobber) asks it before Forward.
	OtherImageAt(ctx context.Context, dst Store, ref string) v1.Hash
}

// LayerClaimer is a run's record of the uncompressed layers (by diff_id)
// and blobs (by digest) being sent into each registry (a *ledger.Ledger).
type LayerClaimer interface {
	ClaimLayer(dst Store, diffID v1.Hash) LayerClaim
	ClaimBlob(dst Store, d v1.Hash) LayerClaim
}

// LayerClaim is one copy's stake in one layer: the owner sends it and
// Finishes; a Follower Waits for the owner, then finds the layer where the
// owner put it.
type LayerClaim interface {
	Follower() bool
	// Owner is the destination the owner sends the layer into.
	Owner() Store
	Finish(ok bool)
	Wait(ctx context.Context) (Store, error)
}

// Forwarded are the blobs a Forwarder put into the destination: the copy
// counts them as copied, not as found there.
type Forwarded map[v1.Hash]int64
