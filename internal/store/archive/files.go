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
	"path"
	"path/filepath"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// fileSet is what an archive is read from: a directory, or a tar file indexed
// in place. Names are slash-separated and relative ("index.json",
// "blobs/sha256/HEX"). Reads may run concurrently.
type fileSet interface {
	// open opens name; a missing name is an fs.ErrNotExist error.
	open(name string) (io.ReadCloser, error)
	// size returns the size of name, and false when it is not there.
	size(name string) (int64, bool)
	close() error
}

// dirFiles is a directory on disk.
type dirFiles struct{ root string }

func (d dirFiles) path(name string) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("%q: %w", name, fs.ErrNotExist)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d dirFiles) open(name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory: %w", p, fs.ErrNotExist)
	}
	return f, nil
}

func (d dirFiles) size(name string) (int64, bool) {
	p, err := d.path(name)
	if err != nil {
		return 0, false
	}
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return 0, false
	}
	return st.Size(), true
}

func (dirFiles) close() error { return nil }

// validName refuses names that would leave the archive's root: a
// manifest.json may name any path.
func validName(name string) bool {
	return name != "" && fs.ValidPath(name)
}

// cleanName is the name a tar entry or a manifest.json path stands for.
func cleanName(name string) string {
	name = strings.TrimLeft(name, "/")
	name = path.Clean(name)
	return strings.TrimPrefix(name, "./")
}

// tarFiles is an uncompressed tar, indexed once: each file is a section of the
// tar read in place with ReadAt, so nothing is extracted and any number of
// blobs can be read at once.
type tarFiles struct {
	f       *os.File
	entries map[string]tarEntry
}

type tarEntry struct {
	offset, size int64
}

func (t *tarFiles) open(name string) (io.ReadCloser, error) {
	e, ok := t.entries[cleanName(name)]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.offset, e.size)), nil
}

func (t *tarFiles) size(name string) (int64, bool) {
	e, ok := t.entries[cleanName(name)]
	return e.size, ok
}

func (t *tarFiles) close() error { return t.f.Close() }

// compression is how an archive file is compressed.
type compression string

const (
	uncompressed compression = ""
	gzipped      compression = "gzip"
	zstandard    compression = "zstd"
)

// detect tells the compression from the first bytes of a file. other names a
// compression docker migrate does not read.
func detect(head []byte) (c compression, other string) {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return gzipped, ""
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return zstandard, ""
	case bytes.HasPrefix(head, []byte("BZh")):
		return "", "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "", "xz"
	case bytes.HasPrefix(head, []byte{0x04, 0x22, 0x4d, 0x18}):
		return "", "lz4"
	}
	return uncompressed, ""
}

// sniff tells an archive file's compression from its first bytes, whatever
// its name says. A compression docker migrate does not read is an error that
// names it.
func sniff(head []byte, file string) (compression, error) {
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return "", errdefs.New(errdefs.InvalidArgument, "%s is a zip file, not a tar archive", file)
	}
	c, other := detect(head)
	if other != "" {
		return "", errdefs.New(errdefs.InvalidArgument,
			"%s is compressed with %s, which docker migrate does not read: decompress it first, or use an uncompressed, gzip or zstd tar", file, other)
	}
	return c, nil
}

// compressionFor chooses the compression of an archive written to file, by
// its name.
func compressionFor(file string) compression {
	lower := strings.ToLower(file)
	switch {
	case strings.HasSuffix(lower, ".gz"), strings.HasSuffix(lower, ".tgz"):
		return gzipped
	case strings.HasSuffix(lower, ".zst"), strings.HasSuffix(lower, ".tzst"), strings.HasSuffix(lower, ".zstd"):
		return zstandard
	}
	return uncompressed
}

// openTar opens an archive file for reading. An uncompressed tar is indexed in
// place; a compressed one is read in passes of one decompressing stream each
// (see streamFiles), digests finding each compressed layer's digests in the
// first.
func openTar(ctx context.Context, file string, opts Options, digests digestFunc) (fileSet, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, openError(file, err)
	}
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "cannot read %s: %v", file, err)
	}
	if n == 0 {
		f.Close()
		return nil, errdefs.New(errdefs.InvalidArgument, "%s is empty", file)
	}
	c, err := sniff(head[:n], file)
	if err != nil {
		f.Close()
		return nil, err
	}
	if c != uncompressed {
		s, err := openPasses(ctx, f, c, file, opts, digests)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	t := &tarFiles{f: f}
	if err := t.index(file); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func openError(file string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s does not exist", file)
	case errors.Is(err, fs.ErrPermission):
		return errdefs.Wrap(err, errdefs.InvalidArgument, "%s cannot be read: permission denied", file)
	}
	return errdefs.Wrap(err, errdefs.InvalidArgument, "cannot open %s: %v", file, err)
}

// isSparse reports a GNU sparse file, old style or PAX: its bytes in the tar
// are not the file's bytes, so it cannot be read in place.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// maxLinkDepth bounds how many links are followed to find a file.
const maxLinkDepth = 8

// index reads every header of the tar and records where each file's bytes
// are. archive/tar seeks over file contents when it can, so only the headers
// are read.
func (t *tarFiles) index(file string) error {
	st, err := t.f.Stat()
	if err != nil {
		return err
	}
	total := st.Size()
	t.entries = map[string]tarEntry{}
	links := map[string]string{}
	tr := tar.NewReader(t.f)
	// end is where the last file's data (padded to a block) ends: a tar that
	// stops there, with no end-of-archive block after it, was cut between two
	// files.
	var end int64
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return errdefs.New(errdefs.InvalidArgument, "%s is not a tar archive: it holds no files", file)
			}
			if pos, err := t.f.Seek(0, io.SeekCurrent); err == nil && pos <= end {
				return errdefs.New(errdefs.InvalidArgument, "%s is truncated: its tar data stops after %d bytes, without an end-of-archive block", file, end)
			}
			break
		}
		if err != nil {
			if i == 0 {
				return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is not a tar archive", file)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is truncated: it ends inside its tar data", file)
			}
			return errdefs.Wrap(err, errdefs.InvalidArgument, "%s is a damaged tar archive: %v", file, err)
		}
		off, err := t.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		end = off + (hdr.Size+511)/512*512
		name := cleanName(hdr.Name)
		if isSparse(hdr) {
			return errdefs.New(errdefs.InvalidArgument, "%s holds a sparse file (%s), which no image archive has", file, name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old tars still use TypeRegA
			if off+hdr.Size > total {
				return errdefs.New(errdefs.InvalidArgument, "%s is truncated: %s needs %d bytes but the file ends before them", file, name, hdr.Size)
			}
			t.entries[name] = tarEntry{offset: off, size: hdr.Size}
		default:
			addLink(links, hdr, name)
		}
	}
	linkEntries(t.entries, links)
	return nil
}

// addLink records hdr, named name, when it is a symbolic or hard link.
func addLink(links map[string]string, hdr *tar.Header, name string) {
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		links[name] = cleanName(path.Join(path.Dir(name), hdr.Linkname))
	case tar.TypeLink:
		links[name] = cleanName(hdr.Linkname)
	}
}

// linkEntries gives each link the entry of the file it ends at.
func linkEntries[E any](entries map[string]E, links map[string]string) {
	for name, target := range resolveLinks(links) {
		if e, ok := entries[target]; ok {
			entries[name] = e
		}
	}
}

// resolveLinks follows each link to what it ends at, at most maxLinkDepth
// links deep.
func resolveLinks(links map[string]string) map[string]string {
	out := make(map[string]string, len(links))
	for name, target := range links {
		for range maxLinkDepth {
			next, ok := links[target]
			if !ok {
				break
			}
			target = next
		}
		out[name] = target
	}
	return out
}
