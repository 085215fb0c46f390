package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// A compressed archive cannot be read at an offset, and decompressing it
// whole into $TMPDIR needs room for its uncompressed tar, more than the
// archive itself when its layers compress (docker save writes them
// uncompressed). So it is read in passes of one decompressing stream each:
//
//   - the first pass (streamFiles.index) reads every header, keeps the small
//     files (index.json, manifest.json, manifests, configs: what opening and
//     planning read), finds the digest and diff_id of each compressed file
//     not named by its digest (a docker save's <id>/layer.tar: its digest is
//     needed before the plan) as it passes, and drops the rest. A blob named
//     by its digest is not hashed there: the copy's reader checks its digest
//     and the archive its diff_id (checkingReader) in the read that uploads
//     it; one the copy does not read (at DST already) has both found by one
//     more pass over every such blob, when first asked (digestRest);
//   - later passes (streamFiles.pass) hand each blob a copy waits for to its
//     reader as it passes (a blob the copy said it will read, see Expect, and
//     nobody reads yet is spooled to a temporary file, and so is the rest of
//     a blob whose reader stopped reading while others wait), and skip the
//     others. A blob asked for after its pass went by starts another pass.
//
// Temporary space is what waits: spooled blobs and the small files beyond
// what memory keeps, never more than the archive's size.

// Bounds of what the first pass keeps.
const (
	// keepSmall is the size up to which any file is kept (tiny layers,
	// oci-layout); JSON files (manifests, configs) are kept up to
	// maxManifestSize, and the archive's own index.json, manifest.json and
	// repositories up to maxJSONSize.
	keepSmall = 64 << 10
	// keepInMemory is how much of what is kept stays in memory; the rest
	// goes to a temporary file.
	keepInMemory = 8 << 20
	// chunkSize is what a pass hands a reader at a time.
	chunkSize = 64 << 10
)

// stallTimeout is how long a pass waits for a reader that does not read
// while another reader waits for a later blob, before it spools the rest of
// the blob (or leaves it to another pass when there is no room): a pass
// never waits for good on one reader, which may itself wait for another
// (two blobs written into one archive take turns).
const stallTimeout = time.Second

// streamFiles is a compressed tar read in passes; see above.
type streamFiles struct {
	f      *os.File
	file   string
	comp   compression
	temp   string // directory of temporary files
	budget int64  // the archive's size: at most this much temporary space
	debugf func(format string, args ...any)
	stall  time.Duration // stallTimeout; tests make it shorter
	// digests finds a compressed file's digests (see digestRest).
	digests    digestFunc
	digestOnce sync.Once

	entries map[string]*streamEntry
	byPos   map[int]*streamEntry
	kept    *os.File // files kept beyond memory
	keptMem int64
	keptEnd int64

	// The decoders of the passes, one at a time.
	gz   *gzip.Reader
	zstd *zstd.Decoder

	life context.Context // the archive's: ended by close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	running bool
	at      int // the position the running pass is at
	passes  int
	used    int64 // temporary space held
	peak    int64
	broken  error // the stream cannot be read
	waiting map[*streamEntry][]*feed
	// expected counts the live Expect calls naming an entry; delivered
	// says a reader took it since: it is no longer awaited.
	expected  map[*streamEntry]int
	delivered map[*streamEntry]bool
	spooled   map[*streamEntry]*feed
}

// streamEntry is one regular file of the tar.
type streamEntry struct {
	name string
	pos  int // the header's index in the tar
	size int64
	head []byte
	// body is the file kept in memory; else keptAt is where it is in kept,
	// or -1.
	body   []byte
	keptAt int64
	// layer is what a pass found of a compressed file's bytes; guarded by
	// streamFiles.mu once the first pass is over.
	layer *layerDigests
}

type layerDigests struct {
	diffID, digest v1.Hash
	err            error
}

// digestFunc finds a compressed layer's diff_id and digest as it streams.
type digestFunc func(r io.Reader, name string) (diffID, digest v1.Hash, err error)

// openPasses reads the first pass of the compressed archive f.
func openPasses(ctx context.Context, f *os.File, c compression, file string, opts Options, digests digestFunc) (*streamFiles, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	tempDir := opts.TempDir
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	s := &streamFiles{f: f, file: file, comp: c, temp: tempDir, budget: st.Size(), debugf: opts.Debugf, stall: stallTimeout, digests: digests,
		entries: map[string]*streamEntry{}, byPos: map[int]*streamEntry{},
		waiting: map[*streamEntry][]*feed{}, expected: map[*streamEntry]int{},
		delivered: map[*streamEntry]bool{}, spooled: map[*streamEntry]*feed{}}
	if s.debugf == nil {
		s.debugf = func(string, ...any) {}
	}
	s.life, s.stop = context.WithCancel(context.Background())
	start := time.Now()
	if err := s.index(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.debugf("%s: first pass over the stream (headers, small files, digests of files not named by theirs) in %s", s.file, time.Since(start).Round(time.Millisecond))
	return s, nil
}

// counter counts the bytes read through it, and keeps the error that
// ended them: the stream's own, or a clean end.
type counter struct {
	r   io.Reader
	n   int64
	err error
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// decompressed opens one pass over the archive's decompressed bytes. Passes
// run one at a time and share one decoder, whose window is the memory they
// need: one goroutine and low memory, a pass is one stream, and a k3s
// archive's 32 MiB window is all it needs to hold.
func (s *streamFiles) decompressed(ctx context.Context) (io.Reader, func(), error) {
	raw := io.NewSectionReader(s.f, 0, s.budget)
	switch s.comp {
	case gzipped:
		var err error
		if s.gz == nil {
			s.gz, err = gzip.NewReader(raw)
		} else {
			err = s.gz.Reset(raw)
		}
		if err != nil {
			return nil, nil, errdefs.Wrap(err, errdefs.InvalidArgument, "%s is not a valid gzip file: %v", s.file, err)
		}
		return store.ContextReader{Ctx: ctx, R: s.gz}, func() {}, nil
	default:
		var err error
		if s.zstd == nil {
			s.zstd, err = zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		} else {
			err = s.zstd.Reset(raw)
		}
		if err != nil {
			return nil, nil, errdefs.Wrap(err, errdefs.InvalidArgument, "%s is not a valid zstd file: %v", s.file, err)
		}
		return store.ContextReader{Ctx: ctx, R: s.zstd}, func() { _ = s.zstd.Reset(nil) }, nil
	}
}

// streamError says what stopped reading the stream, in one sentence.
func (s *streamFiles) streamError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is truncated: its %s stream ends early", s.file, s.comp)
	}
	if _, ok := errors.AsType[*errdefs.Error](err); ok {
		return err
	}
	return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is damaged: %s decompression failed: %v", s.file, s.comp, err)
}

// index is the first pass: every header, the small files kept, the
// digests found of the compressed files not named by theirs.
func (s *streamFiles) index(ctx context.Context) error {
	r, done, err := s.decompressed(ctx)
	if err != nil {
		return err
	}
	defer done()
	cr := &counter{r: r}
	tr := tar.NewReader(cr)
	links := map[string]string{}
	var end int64
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return errdefs.New(errdefs.InvalidArgument, "%s is not a tar archive: it holds no files", s.file)
			}
			if cr.n <= end {
				return errdefs.New(errdefs.InvalidArgument, "%s is truncated: its tar data stops after %d bytes, without an end-of-archive block", s.file, end)
			}
			break
		}
		if err != nil {
			// The decompressed bytes ended cleanly, or are there: the tar
			// in them is what is wrong.
			tarAtFault := errors.Is(cr.err, io.EOF) || cr.err == nil
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case tarAtFault && i == 0:
				return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is not a tar archive", s.file)
			case tarAtFault && errors.Is(err, io.ErrUnexpectedEOF):
				return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is truncated: it ends inside its tar data", s.file)
			case tarAtFault:
				return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is a damaged tar archive: %v", s.file, err)
			}
			return s.streamError(ctx, err)
		}
		end = cr.n + (hdr.Size+511)/512*512
		name := cleanName(hdr.Name)
		if isSparse(hdr) {
			return errdefs.New(errdefs.InvalidArgument, "%s holds a sparse file (%s), which no image archive has", s.file, name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old tars still use TypeRegA
			e := &streamEntry{name: name, pos: i, size: hdr.Size, keptAt: -1}
			if err := s.keep(ctx, e, tr); err != nil {
				return err
			}
			s.entries[name] = e
			s.byPos[i] = e
		default:
			addLink(links, hdr, name)
		}
	}
	linkEntries(s.entries, links)
	return nil
}

// keep reads what the first pass keeps of entry e: its head, its body when
// small, its digests when it is a compressed file not named by its digest.
func (s *streamFiles) keep(ctx context.Context, e *streamEntry, tr io.Reader) error {
	head := make([]byte, 8)
	n, err := io.ReadFull(tr, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return s.streamError(ctx, err)
	}
	e.head = head[:n]
	rest := io.MultiReader(bytes.NewReader(e.head), tr)
	if s.keeps(e) {
		body, err := io.ReadAll(rest)
		if err != nil {
			return s.tarError(ctx, err)
		}
		return s.store(e, body)
	}
	if c, _ := detect(e.head); c != uncompressed && s.digests != nil && !digestNamed(e.name) {
		l, err := digestsBeside(rest, e.name, s.digests)
		if err != nil {
			return s.tarError(ctx, err)
		}
		e.layer = l
	}
	return nil
}

// digestsBeside runs digests over r in a goroutine of its own, fed through
// a pipe: the stream decompresses in one, the layer hashes and
// uncompresses in the other, on two cores.
func digestsBeside(r io.Reader, name string, digests digestFunc) (*layerDigests, error) {
	pr, pw := io.Pipe()
	l := &layerDigests{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.diffID, l.digest, l.err = digests(pr, name)
		_, _ = io.Copy(io.Discard, pr) // what digests left unread
	}()
	_, err := io.CopyBuffer(pw, r, make([]byte, chunkSize))
	pw.CloseWithError(err)
	<-done
	return l, err
}

// tarError is an error reading a file's data from the tar.
func (s *streamFiles) tarError(ctx context.Context, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil {
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is truncated: it ends inside its tar data", s.file)
	}
	return s.streamError(ctx, err)
}

// keeps says whether the first pass keeps e whole: what opening and
// planning read (manifests, configs, the archive's own JSON files) and
// other small files.
func (s *streamFiles) keeps(e *streamEntry) bool {
	switch {
	case e.size <= keepSmall:
		return true
	case e.name == "index.json" || e.name == "manifest.json" || e.name == "repositories":
		return e.size <= maxJSONSize
	}
	return e.size <= maxManifestSize && looksJSON(e.head)
}

func looksJSON(head []byte) bool {
	b := bytes.TrimLeft(head, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// store keeps body: in memory up to keepInMemory, then in a temporary file
// while there is room; beyond that, e is read from the stream as a blob.
func (s *streamFiles) store(e *streamEntry, body []byte) error {
	n := int64(len(body))
	if s.keptMem+n <= keepInMemory {
		e.body = body
		s.keptMem += n
		return nil
	}
	if !s.reserve(n) {
		return nil
	}
	if s.kept == nil {
		f, err := os.CreateTemp(s.temp, "docker-migrate-"+filepath.Base(s.file)+"-*.json")
		if err != nil {
			s.debugf("%s: cannot keep %s in %s: %v", s.file, e.name, s.temp, err)
			s.release(n)
			return nil
		}
		os.Remove(f.Name()) // gone with the last descriptor, even after a kill
		s.kept = f
	}
	if _, err := s.kept.WriteAt(body, s.keptEnd); err != nil {
		// No room: read from the stream when asked for, as a blob is.
		s.debugf("%s: cannot keep %s in %s: %v", s.file, e.name, s.temp, err)
		s.release(n)
		return nil
	}
	e.keptAt = s.keptEnd
	s.keptEnd += n
	return nil
}

// reserve takes n bytes of temporary space, if the budget allows.
func (s *streamFiles) reserve(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used+n > s.budget {
		return false
	}
	s.used += n
	s.peak = max(s.peak, s.used)
	return true
}

func (s *streamFiles) release(n int64) {
	s.mu.Lock()
	s.used -= n
	s.mu.Unlock()
}

func (s *streamFiles) size(name string) (int64, bool) {
	e, ok := s.entries[cleanName(name)]
	if !ok {
		return 0, false
	}
	return e.size, true
}

// entry is the file name, or nil.
func (s *streamFiles) entry(name string) *streamEntry {
	return s.entries[cleanName(name)]
}

func (s *streamFiles) open(name string) (io.ReadCloser, error) {
	return s.openContext(context.Background(), name)
}

// openContext opens name: a kept file at once, a blob from the pass that
// will bring it; ctx bounds the wait.
func (s *streamFiles) openContext(ctx context.Context, name string) (io.ReadCloser, error) {
	e := s.entry(name)
	if e == nil {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if e.body != nil || e.size == 0 {
		return io.NopCloser(bytes.NewReader(e.body)), nil
	}
	if e.keptAt >= 0 {
		return io.NopCloser(io.NewSectionReader(s.kept, e.keptAt, e.size)), nil
	}
	f, err := s.request(e, 0)
	if err != nil {
		return nil, err
	}
	return &feedReader{s: s, e: e, f: f, ctx: ctx}, nil
}

// request asks for entry e from offset skip on: a spooled copy, or the
// pass that brings it next.
func (s *streamFiles) request(e *streamEntry, skip int64) (*feed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, s.broken
	}
	s.delivered[e] = true
	if f := s.spooled[e]; f != nil && skip == 0 {
		delete(s.spooled, e)
		f.claimed = true
		return f, nil
	}
	f := newFeed(s, e, skip)
	f.claimed = true
	s.waiting[e] = append(s.waiting[e], f)
	if s.running && s.at >= e.pos {
		s.debugf("%s: %s is asked for after the stream passed it: another pass reads it", s.file, e.name)
	}
	s.kick()
	return f, nil
}

// Expect says that the files names will be read (by a copy, until ctx
// ends): a pass spools one that passes before its reader asks.
func (s *streamFiles) Expect(ctx context.Context, names []string) {
	var es []*streamEntry
	for _, n := range names {
		if e := s.entry(n); e != nil && e.body == nil && e.keptAt < 0 && e.size > 0 {
			es = append(es, e)
		}
	}
	if len(es) == 0 {
		return
	}
	s.mu.Lock()
	for _, e := range es {
		s.expected[e]++
	}
	s.kick()
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range es {
			if s.expected[e]--; s.expected[e] <= 0 {
				delete(s.expected, e)
			}
		}
	})
}

// position is where name passes in the stream, and false when it is not
// read from it.
func (s *streamFiles) position(name string) (int, bool) {
	e := s.entry(name)
	if e == nil || e.body != nil || e.keptAt >= 0 {
		return 0, false
	}
	return e.pos, true
}

// awaited says whether e is expected and nobody took it yet. The caller
// holds s.mu.
func (s *streamFiles) awaited(e *streamEntry) bool {
	return s.expected[e] > 0 && !s.delivered[e] && s.spooled[e] == nil
}

// kick starts a pass when there is something to read and none runs. The
// caller holds s.mu.
func (s *streamFiles) kick() {
	if s.running || s.life.Err() != nil {
		return
	}
	want := len(s.waiting) > 0
	for e := range s.expected {
		want = want || s.awaited(e)
	}
	if !want {
		return
	}
	maxPasses := len(s.byPos) + 2
	if s.passes >= maxPasses {
		err := errdefs.New(errdefs.Unknown, "%s was read %d times over and its blobs are still asked for; run again, or decompress it and pass the .tar", s.file, s.passes)
		s.failWaiting(err)
		return
	}
	s.running = true
	s.passes++
	s.at = -1
	s.debugf("%s: pass %d over the stream", s.file, s.passes+1)
	s.wg.Add(1)
	go s.pass()
}

// failWaiting ends every waiting reader with err. The caller holds s.mu.
func (s *streamFiles) failWaiting(err error) {
	for e, ws := range s.waiting {
		for _, f := range ws {
			f.finish(err)
		}
		delete(s.waiting, e)
	}
}

// ahead says whether a blob after position i is waited for or awaited. The
// caller holds s.mu.
func (s *streamFiles) ahead(i int) bool {
	for e := range s.waiting {
		if e.pos > i {
			return true
		}
	}
	for e := range s.expected {
		if e.pos > i && s.awaited(e) {
			return true
		}
	}
	return false
}

// pass reads the stream once, handing each blob waited for to its readers
// and spooling those awaited, and stops when nothing more is wanted ahead.
func (s *streamFiles) pass() {
	defer s.wg.Done()
	start := time.Now()
	err := s.run()
	s.debugf("%s: a pass over the stream ended after %s (%v)", s.file, time.Since(start).Round(time.Millisecond), err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	if err != nil && s.life.Err() == nil {
		s.broken = err
		s.failWaiting(err)
		return
	}
	if s.life.Err() != nil {
		s.failWaiting(s.life.Err())
		return
	}
	s.kick() // readers that asked after their blob went by
}

func (s *streamFiles) run() error {
	r, done, err := s.decompressed(s.life)
	if err != nil {
		return err
	}
	defer done()
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		s.mu.Lock()
		more := s.ahead(i - 1)
		s.mu.Unlock()
		if !more {
			return nil
		}
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.streamError(s.life, err)
		}
		e := s.byPos[i]
		if e == nil {
			continue
		}
		feeds := s.take(e)
		if len(feeds) == 0 {
			continue
		}
		if err := s.serve(e, tr, feeds); err != nil {
			return err
		}
	}
}

// take is the feeds a pass at e fills: its waiting readers, or, when it is
// awaited, a feed its reader takes when it comes (in the meantime, it is a
// reader that does not read: see feed.put).
func (s *streamFiles) take(e *streamEntry) []*feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at = e.pos
	feeds := s.waiting[e]
	delete(s.waiting, e)
	if len(feeds) > 0 || !s.awaited(e) {
		return feeds
	}
	f := newFeed(s, e, 0)
	s.spooled[e] = f
	return []*feed{f}
}

// serve copies e's bytes from the stream into its feeds.
func (s *streamFiles) serve(e *streamEntry, r io.Reader, feeds []*feed) error {
	var off int64
	for off < e.size {
		c := newChunk(int(min(chunkSize, e.size-off)), len(feeds))
		n, err := io.ReadFull(r, c.b)
		if err != nil {
			err = s.tarError(s.life, err)
			for _, f := range feeds {
				f.finish(err)
			}
			return err
		}
		live := feeds[:0]
		for _, f := range feeds {
			if f.put(c, c.b[:n], off) {
				live = append(live, f)
			}
		}
		feeds = live
		off += int64(n)
		if len(feeds) == 0 {
			return nil // every reader left: the tar reader skips the rest
		}
	}
	for _, f := range feeds {
		f.finish(nil)
	}
	return nil
}

func (s *streamFiles) close() error {
	s.stop()
	s.wg.Wait()
	s.mu.Lock()
	s.debugf("%s: passes over its stream: %d; temporary space held: at most %d bytes (the archive is %d)", s.file, s.passes+1, s.peak, s.budget)
	var unread []*feed
	for e, f := range s.spooled {
		unread = append(unread, f)
		delete(s.spooled, e)
	}
	s.mu.Unlock()
	for _, f := range unread {
		f.drop()
	}
	var err error
	if s.kept != nil {
		err = s.kept.Close()
	}
	if s.zstd != nil {
		s.zstd.Close()
	}
	if cerr := s.f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// streamed says whether name is read from the stream rather than kept.
func (s *streamFiles) streamed(name string) bool {
	e := s.entry(name)
	return e != nil && e.body == nil && e.keptAt < 0 && e.size > 0
}

// digestsOf is what a pass found of a compressed file's bytes: the first,
// or, for a file named by its digest, one more over every such file
// (digestRest).
func (s *streamFiles) digestsOf(name string) (*layerDigests, bool) {
	e := s.entry(name)
	if e == nil {
		return nil, false
	}
	if l := s.layerOf(e); l != nil {
		return l, true
	}
	if !s.digestable(e) {
		return nil, false
	}
	s.digestRest()
	l := s.layerOf(e)
	return l, l != nil
}

// hasDigests says whether a pass found name's digests already.
func (s *streamFiles) hasDigests(name string) bool {
	e := s.entry(name)
	return e != nil && s.layerOf(e) != nil
}

func (s *streamFiles) layerOf(e *streamEntry) *layerDigests {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.layer
}

// digestable says whether e is a compressed file read from the stream,
// whose digests a pass can find.
func (s *streamFiles) digestable(e *streamEntry) bool {
	c, _ := detect(e.head)
	return s.digests != nil && c != uncompressed && e.body == nil && e.keptAt < 0 && e.size > 0
}

// digestRest finds, in one pass, the digests of every compressed file the
// first pass did not hash: asked for one (a layer the copy does not read, at
// DST already), the others are likely asked for too, and one pass for all
// costs less than one each. Their readers are asked for together and read in
// the stream's order, so that the pass never waits on one.
func (s *streamFiles) digestRest() {
	s.digestOnce.Do(func() {
		var es []*streamEntry
		for _, e := range s.byPos {
			if s.layerOf(e) == nil && s.digestable(e) {
				es = append(es, e)
			}
		}
		slices.SortFunc(es, func(x, y *streamEntry) int { return x.pos - y.pos })
		start := time.Now()
		readers := make([]*feedReader, 0, len(es))
		for _, e := range es {
			f, err := s.request(e, 0)
			if err != nil {
				for _, r := range readers {
					r.Close()
				}
				s.setLayers(es, &layerDigests{err: err})
				return
			}
			readers = append(readers, &feedReader{s: s, e: e, f: f, ctx: s.life})
		}
		for i, e := range es {
			r := readers[i]
			cr := &counter{r: r}
			l := &layerDigests{}
			l.diffID, l.digest, l.err = s.digests(cr, e.name)
			_, _ = io.Copy(io.Discard, cr) // what digests left unread
			r.Close()
			if cr.err != nil && !errors.Is(cr.err, io.EOF) {
				// The stream's failure, not the file's bytes.
				l = &layerDigests{err: cr.err}
			}
			s.setLayers(es[i:i+1], l)
		}
		s.debugf("%s: digests of %d files the copy does not read found in one pass, in %s", s.file, len(es), time.Since(start).Round(time.Millisecond))
	})
}

func (s *streamFiles) setLayers(es []*streamEntry, l *layerDigests) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range es {
		if e.layer == nil {
			e.layer = l
		}
	}
}

// digestNamed says whether a file is named by its digest, as an OCI
// layout's blobs/ALGORITHM/HEX are.
func digestNamed(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return false
	}
	_, err := v1.NewHash(parts[1] + ":" + parts[2])
	return err == nil
}

// headOf is the first bytes of name.
func (s *streamFiles) headOf(name string) ([]byte, bool) {
	e := s.entry(name)
	if e == nil {
		return nil, false
	}
	return e.head, true
}
