package indexstrategy

import (
	"context"
	"crypto/sha256"
	"encoding"
	"fmt"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/uploadsession"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker/go-units"
)

// keptSession is where a blob's upload session is kept across runs: the
// store, the destination repository, and the record an earlier run left.
type keptSession struct {
	store      *uploadsession.Store
	repository string
	found      uploadsession.Record
	ok         bool
}

// maxKeptMarks bounds the hash states a record keeps: a resumed run reads
// again (without sending) at most 1/maxKeptMarks of the blob, or 1 MiB.
const maxKeptMarks = 64

// sessionFor returns where blob b's upload session is kept, when the
// destination is a registry (only registries keep sessions) and the run keeps
// them.
func (e *executor) sessionFor(b *plan.Blob) *keptSession {
	r, ok := e.dst.(*registry.Repository)
	if !ok || e.opts.Uploads == nil || b.Size <= store.SmallBlobSize {
		return nil // a small blob goes in one request: no session to keep
	}
	k := &keptSession{store: e.opts.Uploads, repository: r.Name.Name()}
	k.found, k.ok = k.store.Find(k.repository, b.Digest)
	if k.ok && k.found.Size != b.Size {
		k.store.Forget(k.repository, b.Digest)
		k.ok = false
	}
	return k
}

var _ registry.SessionKeeper = (*blobReader)(nil)

// KeptSession is the session an earlier run left for the blob, or "".
func (b *blobReader) KeptSession() string {
	if b.session == nil || !b.session.ok {
		return ""
	}
	return b.session.found.Location
}

// ResumeAt makes the next Read hand on the blob from off on, which the
// registry holds from an earlier run. The hash goes on from the last state
// that run kept at or before off, so the source is read (and not sent) from
// there: with a Range request, or from the start where it ignores Range. The
// digest is checked over the whole blob all the same.
func (b *blobReader) ResumeAt(ctx context.Context, off int64) error {
	if off <= 0 || off > b.size {
		return fmt.Errorf("the registry says it holds %d bytes of a blob of %d", off, b.size)
	}
	start := mark{off: 0}
	if b.session != nil {
		for _, m := range b.session.found.Marks {
			if m.Offset > start.off && m.Offset <= off && m.Offset%markEvery == 0 && validState(m.State) {
				start = mark{off: m.Offset, state: m.State}
			}
		}
	}
	b.closeSource()
	b.verified = false
	b.marks = []mark{{off: 0}}
	if start.off > 0 {
		b.marks = append(b.marks, start)
	}
	b.restore(start.off)
	b.from = off
	b.readAt = -1
	b.resumedFrom = off
	b.task.Reset()
	b.task.Held(off)
	at := resumedShare(off, b.size)
	b.notify("blob %s: resumed at %s (%s of %s already at the destination from an earlier run)",
		wording.ID(b.want), at, units.HumanSize(float64(off)), units.HumanSize(float64(b.size)))
	return nil
}

// validState says whether state is a SHA-256 state this build can go on from.
func validState(state []byte) bool {
	return sha256.New().(encoding.BinaryUnmarshaler).UnmarshalBinary(state) == nil
}

// KeepSession records loc, a session holding part of the blob, with the hash
// states read so far, for the next run; "" forgets the record.
func (b *blobReader) KeepSession(loc string) {
	k := b.session
	if k == nil {
		return
	}
	if loc == "" {
		if k.ok {
			k.store.Forget(k.repository, b.want)
			k.ok = false
		}
		return
	}
	var marks []uploadsession.Mark
	for _, m := range b.marks {
		if m.off > 0 && m.state != nil {
			marks = append(marks, uploadsession.Mark{Offset: m.off, State: m.state})
		}
	}
	rec := uploadsession.Record{Repository: k.repository, Digest: b.want, Size: b.size, Location: loc, Marks: thin(marks, maxKeptMarks)}
	k.store.Keep(rec)
	k.found, k.ok = rec, true
}

// thin keeps at most n of marks, evenly spread, and always the last.
func thin(marks []uploadsession.Mark, n int) []uploadsession.Mark {
	if len(marks) <= n {
		return marks
	}
	out := make([]uploadsession.Mark, 0, n)
	for i := range n {
		out = append(out, marks[(i+1)*len(marks)/n-1])
	}
	return out
}

// resumedShare is off as a share of size, rounded down: "80%".
func resumedShare(off, size int64) string {
	return fmt.Sprintf("%d%%", off*100/size)
}

// resumedBlobs are the blobs of a run whose upload went on from an earlier one.
type resumedBlobs struct {
	mu    sync.Mutex
	blobs []strategy.Resumed
	held  int64
}

func (r *resumedBlobs) add(b *plan.Blob, off int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs = append(r.blobs, strategy.Resumed{Digest: b.Digest.String(), Size: b.Size, Offset: off, At: resumedShare(off, b.Size)})
	r.held += off
}

func (r *resumedBlobs) bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

func (r *resumedBlobs) list() []strategy.Resumed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]strategy.Resumed(nil), r.blobs...)
}
