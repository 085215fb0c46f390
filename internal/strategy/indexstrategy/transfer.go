package indexstrategy

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// markEvery is how often blobReader keeps the state of its hash: a rewind
// reads at most this much again before it hands bytes on.
const markEvery = 1 << 20

// Bounds on resuming one download: breaks in all, and breaks in a row that
// brought nothing (a stall costs a whole stall timeout, so none of those).
const (
	maxReadBreaks     = 8
	maxIdleReadBreaks = 3
)

// stallResumeBytes is how much of a blob earns one more resume after a stall
// beyond the first two: a long download over a link that pauses now and then
// goes on, while a source that stalls on every answer, each time after a
// while, cannot hold a small blob for more than three stall timeouts (and
// one that stalls soon after each resume ends at the second stall).
const stallResumeBytes = 256 << 20

// stallResumes is how many stalls of a blob of size bytes are resumed.
func stallResumes(size int64) int {
	return min(maxReadBreaks, 2+int(max(size, 0)/stallResumeBytes))
}

// blobReader streams one blob from the source, hashing what it reads, and
// fails the read that reaches the end if the digest or size is wrong, so that
// an upload is aborted before it is committed. A download that breaks (a
// stall, a cut connection) resumes with a Range request where the source
// honours one, else reads from the start again and skips what it had. It can
// also rewind to an offset the destination holds (registry.Rewinder), going
// back to the last state of the hash it kept at or before that offset.
type blobReader struct {
	ctx    context.Context
	src    store.Store
	want   v1.Hash
	size   int64
	task   *progress.Task
	notify func(format string, args ...any)
	debugf func(format string, args ...any)

	rc io.ReadCloser
	h  hash.Hash
	// n is how much of the blob has been read and hashed; bytes before from
	// are hashed but not handed on (the reader is catching up after a
	// rewind or a source that ignored a Range).
	n, from int64
	marks   []mark
	// breaks counts broken downloads, idle those in a row that brought
	// nothing; readAt is n when the source was last opened.
	breaks, idle int
	readAt       int64
	// stalls counts the stalls resumed; resumedAt is when the last was.
	stalls    int
	resumedAt time.Time
	verified  bool
	err       error

	// session carries the blob's upload session across runs (resume.go);
	// resumedFrom is what the registry held of it from an earlier run.
	session     *keptSession
	resumedFrom int64
}

type mark struct {
	off   int64
	state []byte
}

func newBlobReader(ctx context.Context, src store.Store, want v1.Hash, size int64, t *progress.Task, notify, debugf func(string, ...any)) *blobReader {
	return &blobReader{ctx: ctx, src: src, want: want, size: size, task: t, notify: notify, debugf: debugf,
		h: sha256.New(), marks: []mark{{off: 0}}, readAt: -1}
}

// open opens the source at n (the whole blob when n is 0).
func (b *blobReader) open() error {
	var rc io.ReadCloser
	var start int64
	var err error
	if rr, ok := b.src.(store.RangeReader); ok {
		rc, start, err = rr.GetBlobAt(b.ctx, b.want, b.n, b.size)
	} else {
		rc, err = b.src.GetBlob(b.ctx, b.want)
	}
	if err != nil {
		if _, ok := errors.AsType[*registry.ShortBlobError](err); ok {
			return b.corrupt(fmt.Sprintf("ends after %d of %d bytes", b.n, b.size))
		}
		return err
	}
	if start != b.n {
		// The whole blob again: hash it from the start, and skip what was
		// handed on already.
		b.from = max(b.from, b.n)
		b.restore(0)
	}
	b.rc, b.readAt = rc, b.n
	return nil
}

func (b *blobReader) closeSource() {
	if b.rc != nil {
		_ = b.rc.Close()
		b.rc = nil
	}
}

// Close releases the source.
func (b *blobReader) Close() error {
	b.closeSource()
	return nil
}

// restore goes back to the last kept state of the hash at or before off.
func (b *blobReader) restore(off int64) {
	i := len(b.marks) - 1
	for i > 0 && b.marks[i].off > off {
		i--
	}
	m := b.marks[i]
	b.h = sha256.New()
	if m.state != nil {
		if err := b.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(m.state); err != nil {
			// Cannot happen with crypto/sha256; start from zero if it does.
			b.h, i, m = sha256.New(), 0, b.marks[0]
		}
	}
	b.marks = b.marks[:i+1]
	b.n = m.off
}

// hashed adds p to the hash, keeping its state at every markEvery bytes.
func (b *blobReader) hashed(p []byte) {
	for len(p) > 0 {
		next := (b.n/markEvery + 1) * markEvery
		k := int(min(int64(len(p)), next-b.n))
		b.h.Write(p[:k])
		b.n += int64(k)
		p = p[k:]
		if b.n == next {
			if state, err := b.h.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
				b.marks = append(b.marks, mark{off: b.n, state: state})
			}
		}
	}
}

// Rewind makes the next Read hand on the blob from off on: the destination
// holds the bytes before it.
func (b *blobReader) Rewind(ctx context.Context, off int64) error {
	if off > b.n && b.resumedFrom > 0 && off <= b.size {
		return b.ResumeAt(ctx, off) // more of an earlier run's upload landed
	}
	if off > b.n || off > b.size || off < 0 {
		return errdefs.New(errdefs.Rejected, "the destination says it holds %d bytes of blob %s, more than were sent to it", off, b.want)
	}
	if b.err != nil {
		return b.err
	}
	b.task.Reset()
	b.task.Add(off)
	if off == b.n && b.from <= off {
		return nil // nothing sent was lost
	}
	b.closeSource()
	b.verified = false
	b.from = off
	b.restore(off)
	b.readAt = -1 // going back is not a broken download
	return nil
}

// Verified says whether the whole blob was read and matched (store.Verifier).
func (b *blobReader) Verified() error {
	if b.err != nil {
		return b.err
	}
	if !b.verified {
		return errdefs.New(errdefs.DigestMismatch, "digest mismatch: blob %s from %s was not read to its end before the upload ended", b.want, b.src)
	}
	return nil
}

func (b *blobReader) Read(p []byte) (int, error) {
	for {
		if b.err != nil {
			return 0, b.err
		}
		if b.verified {
			return 0, io.EOF
		}
		if b.rc == nil {
			if err := b.open(); err != nil {
				b.err = err
				return 0, err
			}
		}
		// Read at most one byte past the expected size, to notice a longer
		// blob; while catching up, no more than is skipped.
		buf := p
		if rest := b.size + 1 - b.n; int64(len(buf)) > rest {
			buf = buf[:rest]
		}
		if skip := b.from - b.n; skip > 0 && int64(len(buf)) > skip {
			buf = buf[:skip]
		}
		start := b.n
		k, rerr := b.rc.Read(buf)
		b.hashed(buf[:k])
		out := k
		if start < b.from {
			out = 0 // read again to catch up: the destination has these
		}
		b.task.Add(int64(out))
		if b.n > b.size {
			if err := b.ranPast(); err != nil {
				b.err = err
				return 0, err
			}
			b.err = errdefs.New(errdefs.DigestMismatch, "%s", b.corruptSentence(fmt.Sprintf("is longer than the %d bytes its manifest says", b.size)))
			return 0, b.err
		}
		if b.n == b.size {
			got := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", b.h.Sum(nil))}
			if got != b.want {
				if rerr == nil {
					if err := b.ranPast(); err != nil {
						b.err = err
						return 0, err
					}
				}
				// Not marked retried: once may be the wire (copyBlob reads
				// the blob again); twice is what the source holds.
				b.err = errdefs.New(errdefs.DigestMismatch, "%s", b.corruptSentence("has digest "+got.String()))
				return 0, b.err
			}
			b.verified = true
			b.closeSource()
			return out, io.EOF
		}
		if rerr != nil {
			b.closeSource()
			if err := b.endedShort(); err != nil {
				b.err = err
				return 0, err
			}
			if err := b.broke(rerr); err != nil {
				b.err = err
				if out > 0 {
					return out, nil // the error comes with the next read
				}
				return 0, err
			}
		}
		if out > 0 {
			return out, nil
		}
	}
}

// corrupt is the error for a blob the source holds wrong, not to be read
// again.
func (b *blobReader) corrupt(what string) error {
	return errdefs.Wrap(registry.ErrRetried, errdefs.DigestMismatch, "%s", b.corruptSentence(what))
}

// fromRegistry says whether the source is a registry, reached over a network,
// rather than a file on this machine (an archive, an engine's save): what
// went wrong, and what to do about it, differ. Only a registry reads a blob
// from an offset on (store.RangeReader).
func (b *blobReader) fromRegistry() bool {
	_, ok := b.src.(store.RangeReader)
	return ok
}

// corruptSentence says that blob b from the source is what, and what to do.
func (b *blobReader) corruptSentence(what string) string {
	if !b.fromRegistry() {
		return fmt.Sprintf("%s is damaged: blob %s in it %s; copy from an undamaged copy of it", b.src, b.want, what)
	}
	return fmt.Sprintf("digest mismatch: blob %s from %s %s; the source registry holds a corrupt blob: report it to its operator, or copy from another mirror", b.want, b.src, what)
}

// broke decides whether a download that broke with cause is resumed (nil) or
// given up, with the sentence to show.
func (b *blobReader) broke(cause error) error {
	if b.ctx.Err() != nil {
		return b.ctx.Err()
	}
	if !b.fromRegistry() {
		switch errdefs.KindOf(cause) {
		case errdefs.DigestMismatch, errdefs.InvalidArgument, errdefs.NotFound:
			// A file on this machine said what is wrong with it (a layer
			// that fails its diff_id, a damaged archive): reading it again
			// gives the same answer, and its sentence names the file.
			return cause
		}
	}
	if errors.Is(cause, io.EOF) {
		// The source ended early; reading on from there tells a cut
		// connection from a short blob.
		cause = io.ErrUnexpectedEOF
	}
	if b.n > b.readAt {
		b.idle = 0
	} else {
		b.idle++
	}
	b.breaks++
	se, stalled := errors.AsType[*registry.StallError](cause)
	// A stall soon after the last resume (it moved for less than a stall
	// timeout) is the source stalling on every answer, though each brings a
	// little: a broken proxy. Resuming it again would hold the run for a
	// stall timeout per resume, far past the bound a stall has.
	stalledAgain := stalled && b.stalls > 0 && time.Since(b.resumedAt) < 2*se.Idle
	tooManyStalls := stalled && b.stalls >= stallResumes(b.size)
	if b.breaks > maxReadBreaks || b.idle > maxIdleReadBreaks || (stalled && b.idle > 0) || stalledAgain || tooManyStalls {
		switch {
		case stalled && b.idle == 0 && stalledAgain:
			return errdefs.Wrap(registry.Retried(cause), errdefs.Unreachable, "%s stopped sending blob %s after %s of %s and sent nothing for %s, every time it was asked (%d times): run again later, or ask the operator of the registry (or of a proxy in front of it)",
				se.Who(), wording.ID(b.want), units.HumanSize(float64(b.n)), units.HumanSize(float64(b.size)), se.Idle, b.stalls+1)
		case stalled && b.idle == 0 && tooManyStalls:
			return errdefs.Wrap(registry.Retried(cause), errdefs.Unreachable, "%s stopped sending blob %s after %s of %s and sent nothing for %s, %d times: run again later",
				se.Who(), wording.ID(b.want), units.HumanSize(float64(b.n)), units.HumanSize(float64(b.size)), se.Idle, b.stalls+1)
		}
		if stalled {
			return errdefs.Wrap(registry.Retried(cause), errdefs.Unreachable, "%s stopped sending blob %s after %s of %s and sent nothing for %s",
				se.Who(), wording.ID(b.want), units.HumanSize(float64(b.n)), units.HumanSize(float64(b.size)), se.Idle)
		}
		if !b.fromRegistry() {
			// Not a network's failure: "later" would read the same file.
			return errdefs.Wrap(registry.Retried(cause), errdefs.Unknown, "cannot read blob %s from %s: the read failed %d times, the last after %s of %s (%v)",
				wording.ID(b.want), b.src, b.breaks, units.HumanSize(float64(b.n)), units.HumanSize(float64(b.size)), errdefs.Redact(cause.Error()))
		}
		return errdefs.Wrap(registry.Retried(cause), errdefs.Unreachable, "cannot read blob %s from %s: the download broke off %d times, the last after %s of %s (%v); run again later",
			wording.ID(b.want), b.src, b.breaks, units.HumanSize(float64(b.n)), units.HumanSize(float64(b.size)), errdefs.Redact(cause.Error()))
	}
	if stalled {
		b.stalls++
		b.resumedAt = time.Now()
		b.notify("%s; resuming blob %s at %s of %s", se.Error(), wording.ID(b.want), units.HumanSize(float64(b.n)), units.HumanSize(float64(b.size)))
	} else {
		b.debugf("blob %s: download broke after %d of %d bytes (%v); resuming", b.want, b.n, b.size, cause)
	}
	return nil
}
