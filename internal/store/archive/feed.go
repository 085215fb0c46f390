package archive

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// chunk is bytes of a blob a pass read, shared by the feeds it was put in:
// the last to be done with it gives its buffer back, so a pass allocates
// little however much it reads.
type chunk struct {
	b    []byte
	buf  *[]byte
	refs atomic.Int32
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func newChunk(n, refs int) *chunk {
	buf := chunkPool.Get().(*[]byte)
	c := &chunk{b: (*buf)[:n], buf: buf}
	c.refs.Store(int32(refs))
	return c
}

// release says one holder is done with c.
func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		chunkPool.Put(c.buf)
	}
}

// piece is a part of a chunk handed to a reader.
type piece struct {
	c *chunk
	b []byte
}

// feed carries one blob from a pass to one reader: chunk by chunk in memory
// while the reader keeps up, through a temporary file (unlinked at once, so
// a killed run leaves nothing) once it does not, or for a reader yet to come.
type feed struct {
	s *streamFiles
	e *streamEntry
	// skip is where the reader wants the blob from: it had the bytes before
	// from a pass that gave up on it.
	skip int64
	// ch hands chunks over in memory; it is closed when the pass goes on in
	// the file, finishes or gives up.
	ch       chan piece
	gone     chan struct{}
	goneOnce sync.Once
	// claimed says a reader took the feed (streamFiles.spooled holds one
	// no reader took yet); under streamFiles.mu.
	claimed bool

	mu     sync.Mutex
	notify chan struct{} // closed and replaced on every change below
	// file holds the blob from fileStart on, written bytes of it so far.
	file      *os.File
	fileStart int64
	written   int64
	reserved  int64
	chClosed  bool
	done      bool
	abandoned bool
	err       error
}

func newFeed(s *streamFiles, e *streamEntry, skip int64) *feed {
	return &feed{s: s, e: e, skip: skip, ch: make(chan piece, 2), gone: make(chan struct{}), notify: make(chan struct{})}
}

// changed wakes the reader. The caller holds f.mu.
func (f *feed) changed() {
	close(f.notify)
	f.notify = make(chan struct{})
}

func (f *feed) closeCh() {
	if !f.chClosed {
		f.chClosed = true
		close(f.ch)
	}
}

// put hands the reader chunk (of c), which is the blob's bytes from off on,
// and releases c when the reader will not. It reports false when this feed
// wants no more: its reader left, or the pass gave it up to another.
func (f *feed) put(c *chunk, chunk []byte, off int64) bool {
	handed := false
	defer func() {
		if !handed {
			c.release()
		}
	}()
	if end := off + int64(len(chunk)); end <= f.skip {
		return true
	}
	if off < f.skip {
		chunk, off = chunk[f.skip-off:], f.skip
	}
	f.mu.Lock()
	spilling := f.file != nil
	f.mu.Unlock()
	if spilling {
		return f.write(chunk)
	}
	timer := time.NewTimer(f.s.stall)
	defer timer.Stop()
	for {
		select {
		case f.ch <- piece{c: c, b: chunk}:
			handed = true
			return true
		case <-f.gone:
			return false
		case <-f.s.life.Done():
			f.finish(f.s.life.Err()) // the archive was closed
			return false
		case <-timer.C:
		}
		// The reader stopped reading, or did not come yet. If nobody else
		// waits, wait on: a pass is a pipe. Else the rest of the blob goes
		// to a file, or, with no room for it, to another pass.
		f.s.mu.Lock()
		others := len(f.s.waiting) > 0
		unwanted := !f.claimed && f.s.expected[f.e] == 0
		if unwanted && f.s.spooled[f.e] == f {
			delete(f.s.spooled, f.e)
		}
		f.s.mu.Unlock()
		if unwanted {
			return false // the copy that expected it is over
		}
		if !others {
			timer.Reset(f.s.stall)
			continue
		}
		rest := f.e.size - off
		if f.s.reserve(rest) {
			if err := f.spill(off, rest); err == nil {
				f.s.debugf("%s: the reader of %s stopped reading while others wait: spooling its last %d bytes", f.s.file, f.e.name, rest)
				return f.write(chunk)
			}
			f.s.release(rest)
		}
		f.s.debugf("%s: the reader of %s stopped reading while others wait, and there is no room to spool it: another pass reads it", f.s.file, f.e.name)
		f.s.mu.Lock()
		if f.s.spooled[f.e] == f {
			delete(f.s.spooled, f.e) // its reader asks another pass
		}
		f.s.mu.Unlock()
		f.mu.Lock()
		f.abandoned = true
		f.closeCh()
		f.changed()
		f.mu.Unlock()
		return false
	}
}

// spill makes the feed go on in a temporary file from blob offset from on,
// with reserved bytes of temporary space taken for it.
func (f *feed) spill(from, reserved int64) error {
	tmp, err := os.CreateTemp(f.s.temp, "docker-migrate-"+filepath.Base(f.s.file)+"-blob-*")
	if err != nil {
		return err
	}
	os.Remove(tmp.Name()) // gone with the descriptor, even after a kill
	f.mu.Lock()
	defer f.mu.Unlock()
	f.file, f.fileStart, f.reserved = tmp, from, reserved
	f.closeCh()
	f.changed()
	return nil
}

// write appends chunk to the file.
func (f *feed) write(chunk []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return false // dropped: the reader left
	}
	if _, err := f.file.WriteAt(chunk, f.written); err != nil {
		// No room after all (another program filled the disk): the reader
		// reads what the file holds, then the rest from another pass.
		f.s.debugf("%s: cannot spool %s: %v: another pass reads the rest", f.s.file, f.e.name, err)
		f.abandoned = true
		f.changed()
		return false
	}
	f.written += int64(len(chunk))
	f.changed()
	return true
}

// finish ends the feed: the whole blob was put, or err stopped the pass.
func (f *feed) finish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done, f.err = true, err
	f.closeCh()
	f.changed()
}

// drop releases the file and its temporary space.
func (f *feed) drop() {
	f.mu.Lock()
	file, reserved := f.file, f.reserved
	f.file, f.reserved = nil, 0
	f.mu.Unlock()
	if file != nil {
		file.Close()
	}
	if reserved > 0 {
		f.s.release(reserved)
	}
}

// feedReader reads a blob from the feeds of passes.
type feedReader struct {
	s       *streamFiles
	e       *streamEntry
	f       *feed
	ctx     context.Context
	pending []byte
	held    *chunk // pending's, released once read
	pos     int64
	// inFile says the feed's memory hand-off is over.
	inFile bool
	closed bool
}

func (r *feedReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	for {
		if len(r.pending) > 0 {
			n := copy(p, r.pending)
			r.pending = r.pending[n:]
			r.pos += int64(n)
			if len(r.pending) == 0 {
				r.held.release()
				r.held = nil
			}
			return n, nil
		}
		if r.pos >= r.e.size {
			return 0, io.EOF
		}
		if !r.inFile {
			select {
			case pc, ok := <-r.f.ch:
				if ok {
					r.pending, r.held = pc.b, pc.c
				} else {
					r.inFile = true
				}
				continue
			case <-r.ctx.Done():
				return 0, r.ctx.Err()
			}
		}
		n, wait, err := r.fromFile(p)
		if n > 0 || err != nil {
			return n, err
		}
		if wait == nil {
			continue // another pass's feed
		}
		select {
		case <-wait:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// fromFile reads what the feed's file holds at r.pos; else it says what to
// wait for, or moves to another pass's feed when this one was given up.
func (r *feedReader) fromFile(p []byte) (int, <-chan struct{}, error) {
	f := r.f
	f.mu.Lock()
	if f.file != nil && r.pos < f.fileStart+f.written {
		n := int64(len(p))
		n = min(n, f.fileStart+f.written-r.pos)
		k, err := f.file.ReadAt(p[:n], r.pos-f.fileStart)
		f.mu.Unlock()
		r.pos += int64(k)
		if err == io.EOF && k > 0 {
			err = nil
		}
		return k, nil, err
	}
	switch {
	case f.err != nil:
		f.mu.Unlock()
		return 0, nil, f.err
	case f.abandoned:
		f.mu.Unlock()
		next, err := r.s.request(r.e, r.pos)
		if err != nil {
			return 0, nil, err
		}
		r.f, r.inFile = next, false
		return 0, nil, nil
	case f.done:
		f.mu.Unlock()
		return 0, nil, errdefs.New(errdefs.DigestMismatch, "%s is damaged: %s ends after %d of its %d bytes", r.s.file, r.e.name, r.pos, r.e.size)
	}
	wait := f.notify
	f.mu.Unlock()
	return 0, wait, nil
}

// Close lets the pass skip the rest, and frees the feed's file.
func (r *feedReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.held != nil {
		r.held.release()
		r.held, r.pending = nil, nil
	}
	f := r.f
	f.goneOnce.Do(func() { close(f.gone) })
	r.s.mu.Lock()
	ws := r.s.waiting[r.e]
	for i, w := range ws {
		if w == f {
			r.s.waiting[r.e] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(r.s.waiting[r.e]) == 0 {
		delete(r.s.waiting, r.e)
	}
	r.s.mu.Unlock()
	f.drop()
	return nil
}
