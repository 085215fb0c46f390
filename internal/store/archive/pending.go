package archive

import (
	"errors"
	"io/fs"
	"os"
)

// pendingFile is a file written under a temporary name in the directory of
// its final one, which it gets only once whole: synced, made 0644, renamed.
// Neither a reader nor a crash ever finds part of it under the final name;
// a killed run leaves only the temporary name, which the next run sweeps.
//
// Not github.com/google/renameio/v2 nor github.com/natefinch/atomic: the
// archive stream keeps its temporary file open for the whole export, reads
// blobs back from it and cuts failed entries off its end, and holds an
// advisory lock on it until the rename (sweepTemps skips a locked file, so a
// concurrent run never removes it): the file must stay open through the
// rename and be named by the caller (streamTempPrefix is what the sweep looks
// for). renameio closes before it renames and names the file itself;
// natefinch/atomic takes the whole body at once.
type pendingFile struct {
	*os.File
}

// createPending makes the temporary file in dir; pattern is os.CreateTemp's.
func createPending(dir, pattern string) (*pendingFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &pendingFile{File: f}, nil
}

// commit makes the file durable and then gives it its name final. The file
// is closed only after the rename where the system allows it (renameOpen), so
// that a lock on it holds until then; a close error once the synced file has
// its name loses nothing and is not reported. On an error the file is closed and keeps its temporary name:
// the caller removes it (discard).
func (p *pendingFile) commit(final string) error {
	if err := p.Sync(); err != nil {
		p.Close()
		return err
	}
	if err := p.Chmod(0o644); err != nil {
		p.Close()
		return err
	}
	if !renameOpen {
		if err := p.Close(); err != nil {
			return err
		}
	}
	if err := os.Rename(p.Name(), final); err != nil {
		p.Close()
		return err
	}
	_ = p.Close()
	return nil
}

// discard closes the file and removes it; one already gone is fine.
func (p *pendingFile) discard() error {
	p.Close()
	if err := os.Remove(p.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
