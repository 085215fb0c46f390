package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"os"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// Record is one line of a --report file: one image as it ended.
type Record struct {
	Source            string          `json:"source"`
	SourceDigest      string          `json:"sourceDigest,omitempty"`
	Destination       string          `json:"destination"`
	DestinationDigest string          `json:"destinationDigest,omitempty"`
	Outcome           outcome.Outcome `json:"outcome"`
	Error             string          `json:"error,omitempty"`
	// BytesMoved is what an image that did not arrive had moved when it
	// stopped (those blobs are at the destination; a re-run skips them).
	BytesMoved int64 `json:"bytesMoved,omitempty"`
}

// Report is a --report file: JSON lines appended as images end, and read back
// by a re-run to skip what an earlier run finished.
type Report struct {
	path string
	mu   sync.Mutex
	f    *os.File
	// finished maps source and destination to the digest an earlier run left.
	finished map[[2]string]string
}

// OpenReport reads the report at path, if there is one, and opens it for
// appending. A last line without its newline is what a killed run leaves
// behind: it is cut off, so the file stays valid JSON lines.
func OpenReport(path string) (*Report, error) {
	r := &Report{path: path, finished: map[[2]string]string{}}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "report %s cannot be read: %v", path, err)
	}
	keep := len(data)
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		keep = i + 1
	}
	sc := bufio.NewScanner(bytes.NewReader(data[:keep]))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, errdefs.New(errdefs.InvalidArgument, "report %s line %d is not a report record (%v): give a report this tool wrote, or a new file name", path, line, err)
		}
		key := [2]string{rec.Source, rec.Destination}
		if rec.Outcome.Arrived() && rec.DestinationDigest != "" {
			r.finished[key] = rec.DestinationDigest
		} else if rec.Outcome == outcome.Failed {
			delete(r.finished, key)
		}
	}
	// O_APPEND: shards of one list may share a report file.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "report %s cannot be written: %v", path, err)
	}
	if err := f.Truncate(int64(keep)); err != nil {
		f.Close()
		return nil, fmt.Errorf("report %s: %w", path, err)
	}
	r.f = f
	return r, nil
}

// Finished returns the digest an earlier run left at dst for src, if any.
func (r *Report) Finished(src, dst string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.finished[[2]string{src, dst}]
	return d, ok
}

// Append writes one record as one line, in a single write, so that a run
// killed at any moment leaves whole lines and at most one torn last line.
func (r *Report) Append(rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.f.Write(append(b, '\n'))
	return err
}

// Close closes the file.
func (r *Report) Close() error {
	if r == nil || r.f == nil {
		return nil
	}
	return r.f.Close()
}
