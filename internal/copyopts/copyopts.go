// Package copyopts holds what one copy is given, as two values passed down
// whole rather than copied field by field: the image (Image: where from, where
// to, which platforms) and what the copy shares with the other copies of its
// run (Shared: jobs, progress, transfer slots, the ledger, the caches). The
// command fills them, a batch sets the Image of each entry, and the planner,
// the strategies and the executor read the fields they need.
package copyopts

import (
	"context"

	"github.com/docker-migrate/docker-migrate/internal/ledger"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/uploadsession"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Image is one image to copy.
type Image struct {
	Source, Destination name.Reference
	// SourceStore and DestinationStore, when set, are the places to copy
	// between instead of the registry repositories the references name (an
	// archive's view of one repository).
	SourceStore, DestinationStore store.Store
	// Platforms is the platform subset to copy, nil for every platform.
	Platforms []v1.Platform
	// SinglePlatform writes the one platform's own manifest under the tag,
	// not an index of one, as `docker pull --platform` then `docker save`
	// does: a docker-save archive holds one platform per image.
	SinglePlatform bool
}

// Shared is what the copies of one run share. Every field may be left zero
// for a copy of its own.
type Shared struct {
	// Jobs bounds the blob transfers, and (times a few) the planner's
	// requests.
	Jobs     int
	Progress *progress.Writer
	Debugf   func(format string, args ...any)
	// Slots, when set, are the blob transfers shared by a batch's copies;
	// otherwise each copy has slots of its own for Jobs.
	Slots *Slots
	// Ledger, when set, is the batch's record of which blobs each
	// destination has or is receiving, so that a blob several images need
	// crosses the wire once.
	Ledger *ledger.Ledger
	// Uploads, when set, keeps the upload sessions of large blobs that were
	// cut off, so that the next run goes on from what the registry holds.
	Uploads *uploadsession.Store
	// Manifests, when set, are the manifests read before, by digest: what it
	// has is not read from the source again, and an index's children are
	// asked of the destination before its tag has answered.
	Manifests *manifestcache.Cache
	// Blobs, when set, records across runs where blobs were seen at each
	// registry: a blob the destination lacks but another repository there
	// held is planned as a mount from there.
	Blobs *manifestcache.BlobRecord
	// ReferrersAPI, when set, says whether the destination has the
	// referrers API, as the caller found out already; else a copy that
	// pushes a manifest with a subject asks.
	ReferrersAPI *bool
}

// Slots bound the blob transfers of a run, or of a whole batch. A large blob
// takes one of jobs slots: its time is bandwidth, and each goes over a
// connection of its own. A small one (store.SmallBlobSize or less) takes one of
// 4 × jobs others: its time is round trips, so it should not wait behind the
// large ones, nor they behind it.
type Slots struct {
	large, small chan struct{}
}

// NewSlots returns the slots for --jobs jobs.
func NewSlots(jobs int) *Slots {
	jobs = max(jobs, 1)
	return &Slots{large: make(chan struct{}, jobs), small: make(chan struct{}, 4*jobs)}
}

// Acquire takes a slot for a blob of size bytes, waiting until one is free
// or ctx ends; release gives it back.
func (s *Slots) Acquire(ctx context.Context, size int64) (release func(), err error) {
	pool := s.large
	if size <= store.SmallBlobSize {
		pool = s.small
	}
	select {
	case pool <- struct{}{}:
		return func() { <-pool }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
