// Package ledger is a batch's record, per place that blobs live, of which store
// has each blob or is receiving it. The index strategy consults it so that a
// layer shared by many images crosses the wire once.
package ledger

import (
	"context"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Ledger is shared by the copies of one batch. For each place blobs live (a
// registry host, one layout) it records which store received each blob, or is
// receiving it, so that a layer shared by 30 images crosses the wire once and is
// mounted everywhere else. A nil *Ledger makes every caller an owner.
type Ledger struct {
	mu      sync.Mutex
	entries map[key]*entry
}

// New returns an empty ledger.
func New() *Ledger { return &Ledger{entries: map[key]*entry{}} }

type key struct {
	place  string
	digest v1.Hash
	// layer marks an uncompressed layer known by its diff_id (ClaimLayer),
	// which is not the digest of any blob it becomes.
	layer bool
}

type entry struct {
	done chan struct{} // closed when the transfer ended, either way
	// by is the owner's destination, which a follower names while it waits.
	by store.Store
	// holder is the store that has the blob; nil when the transfer failed.
	holder store.Store
}

// Claim is one copy's stake in one blob: the owner moves it, a follower
// waits for the owner.
type Claim struct {
	l     *Ledger
	key   key
	entry *entry
	owner bool
	dst   store.Store
}

// Claim makes the caller the owner of d for dst's place, unless another copy
// owns it already. A nil ledger makes every caller an owner.
func (l *Ledger) Claim(dst store.Store, d v1.Hash) Claim {
	return l.claim(dst, d, false)
}

// ClaimLayer is Claim for an uncompressed layer known by its diff_id, which
// a Docker engine's save streams and which is compressed on its way into
// dst (store.Forwarder): the owner sends it, a follower waits and then finds
// what it became (the layer record).
func (l *Ledger) ClaimLayer(dst store.Store, diffID v1.Hash) store.LayerClaim {
	return l.claim(dst, diffID, true)
}

// ClaimBlob is Claim for a blob a Docker engine's save streams as it is (an
// OCI layout's, named by its digest): the same claim as a registry copy's,
// so that a blob an engine image and a registry image of one run share is
// sent into dst's place once either way.
func (l *Ledger) ClaimBlob(dst store.Store, d v1.Hash) store.LayerClaim {
	return l.claim(dst, d, false)
}

func (l *Ledger) claim(dst store.Store, d v1.Hash, layer bool) Claim {
	if l == nil {
		return Claim{owner: true}
	}
	place := dst.String()
	if p, ok := dst.(store.Placed); ok {
		place = p.Place()
	}
	key := key{place: place, digest: d, layer: layer}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[key]; ok {
		return Claim{l: l, key: key, entry: e, dst: dst}
	}
	e := &entry{done: make(chan struct{}), by: dst}
	l.entries[key] = e
	return Claim{l: l, key: key, entry: e, owner: true, dst: dst}
}

func (c Claim) Follower() bool { return !c.owner }

// Owner is the destination of the copy that owns the blob (the caller's
// own for an owner; nil with a nil ledger).
func (c Claim) Owner() store.Store {
	if c.entry == nil {
		return nil
	}
	return c.entry.by
}

// Finish ends an owner's transfer. After a failure the entry is dropped, so a
// later copy becomes the owner and tries again.
func (c Claim) Finish(ok bool) {
	if c.l == nil || !c.owner {
		return
	}
	c.l.mu.Lock()
	if ok {
		c.entry.holder = c.dst
	} else {
		delete(c.l.entries, c.key)
	}
	c.l.mu.Unlock()
	close(c.entry.done)
}

// Wait blocks until the owner is done and returns the store that has the blob,
// or nil when the owner failed.
func (c Claim) Wait(ctx context.Context) (store.Store, error) {
	if c.l == nil {
		return nil, nil
	}
	select {
	case <-c.entry.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.entry.holder, nil
}
