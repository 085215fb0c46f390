package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// layerToCheck says how layer d's diff_id is to be checked when it is opened
// for the copy: not at all (not a layer, or an archive being written), by a
// check already made (its verdict is err), or, when no check of it ran yet,
// on the bytes the copy reads (stream true, w what they must uncompress to).
func (a *Archive) layerToCheck(d v1.Hash) (w layerWant, stream bool, err error) {
	if a.w != nil {
		return layerWant{}, false, nil
	}
	a.mu.Lock()
	w, ok := a.layers[d]
	_, checked := a.checks[d]
	a.mu.Unlock()
	switch {
	case !ok:
		return layerWant{}, false, nil
	case checked:
		return layerWant{}, false, a.checkLayer(d)
	}
	return w, true, nil
}

// streamCheckBuffer is how much of a layer the uncompressing goroutine takes
// from the copy at a time: one hand-over per read of the copy's (32 KiB),
// rather than one per 4 KiB, bufio's default.
const streamCheckBuffer = 64 << 10

// checkingReader hands on layer d's bytes (file f, size bytes, rc) as the copy
// reads them, and uncompresses them on the side, in a goroutine, to the digest
// w.diffID names: the check docker load makes, in the same read as the upload
// instead of a whole read of its own before it (the upload's reader checks the
// blob's own digest). The last bytes are handed on only once the check has
// passed, so that a layer that fails it ends in an error before its upload
// can be committed.
func (a *Archive) checkingReader(rc io.ReadCloser, d v1.Hash, f string, size int64, w layerWant) io.ReadCloser {
	pr, pw := io.Pipe()
	c := &checkingReader{a: a, d: d, want: w, rc: rc, left: size, pw: pw, feeding: true, result: make(chan streamedDiffID, 1)}
	go func() {
		got, err := a.streamDiffID(bufio.NewReaderSize(pr, streamCheckBuffer), d, f)
		// Whatever it did not read is not wanted: the copy's writes end.
		pr.CloseWithError(errCheckDone)
		c.result <- streamedDiffID{got, err}
	}()
	return c
}

// errCheckDone ends the hand-over to a check that needs no more bytes.
var errCheckDone = errors.New("layer check done")

type streamedDiffID struct {
	got v1.Hash
	err error
}

type checkingReader struct {
	a    *Archive
	d    v1.Hash
	want layerWant
	rc   io.ReadCloser
	// left is how many of the file's bytes are still to be read.
	left int64
	pw   *io.PipeWriter
	// feeding is false once the check takes no more bytes.
	feeding bool
	result  chan streamedDiffID
	// waited is set once the check's result was taken; err is the verdict
	// every later read returns.
	waited bool
	err    error
	once   sync.Once
}

func (c *checkingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.waited {
		return c.rc.Read(p)
	}
	n, err := c.rc.Read(p)
	if c.feeding && n > 0 {
		if _, werr := c.pw.Write(p[:n]); werr != nil {
			c.feeding = false
		}
	}
	c.left -= int64(n)
	switch {
	case c.left <= 0:
		// The whole file went by: the check's verdict before its end does.
		c.pw.Close()
		if verdict := c.verdict(); verdict != nil {
			c.err = verdict
			return 0, verdict
		}
	case err != nil:
		// The read broke off: the copy opens the blob again, and checks it then.
		c.stop(err)
		c.err = err
	}
	return n, err
}

// verdict waits for the check and says whether the layer passed it.
func (c *checkingReader) verdict() error {
	r := <-c.result
	c.waited = true
	if r.err == nil && c.want.diffID.Hex != "" && r.got == c.want.diffID {
		return nil
	}
	// Failed (or the config lists no diff_id for it): the whole check, the
	// blob's digest first, says precisely what is wrong, and is kept for
	// every later read.
	if err := c.a.checkLayer(c.d); err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	return errdefs.New(errdefs.DigestMismatch, "%s is damaged: layer %s (of manifest %s) uncompresses to %s, but the image's config says %s; docker load and docker pull refuse such an image",
		c.a.loc.Path, c.d, c.want.manifest, r.got, c.want.diffID)
}

// stop ends the check without a verdict.
func (c *checkingReader) stop(cause error) {
	c.once.Do(func() {
		c.pw.CloseWithError(cause)
		if !c.waited {
			<-c.result
			c.waited = true
		}
	})
}

func (c *checkingReader) Close() error {
	c.stop(errCheckDone)
	return c.rc.Close()
}

// streamDiffID is the digest of what layer d (file f) read from r uncompresses
// to; r is read to its end. An uncompressed layer's is its own digest, which
// the copy's reader checks: it is not computed again.
func (a *Archive) streamDiffID(r io.Reader, d v1.Hash, f string) (v1.Hash, error) {
	head := make([]byte, 8)
	n, _ := io.ReadFull(r, head)
	c, other := detect(head[:n])
	switch {
	case other != "":
		return v1.Hash{}, errdefs.New(errdefs.DigestMismatch,
			"%s has a layer %s compressed with %s, which registries do not take: only uncompressed, gzip and zstd layers are read", a.loc.Path, f, other)
	case c == uncompressed:
		return d, nil
	}
	un := sha256.New()
	in := io.MultiReader(bytes.NewReader(head[:n]), r)
	if err := uncompressTo(un, in, c); err != nil {
		return v1.Hash{}, errdefs.Wrap(err, errdefs.DigestMismatch, "%s is damaged: layer %s does not uncompress (%s): %v", a.loc.Path, f, c, err)
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(un.Sum(nil))}, nil
}

// uncompressTo writes what in, compressed with c, uncompresses to.
func uncompressTo(w io.Writer, in io.Reader, c compression) error {
	switch c {
	case gzipped:
		zr, err := gzip.NewReader(in)
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	case zstandard:
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	}
	_, err := io.Copy(w, in)
	return err
}
