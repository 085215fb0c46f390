// Package uploadsession keeps, across runs, the upload sessions of large blobs
// that were cut off (Ctrl-C, a dropped link), in the user's cache directory
// beside the manifest cache. Registries keep an upload session for a while
// (the distribution registry a week), and say how much of it they hold when
// asked (GET on the session, its Range): the next run goes on from there
// instead of sending the whole blob again.
//
// A record is the session's URL, never a credential (the URL's user
// information is dropped; the token that signed the requests is not kept),
// and the state of the blob's SHA-256 at a few offsets, so that the next run
// checks the digest over the whole blob without reading the part the registry
// holds. A record is a hint: one that is missing, unreadable, old, or names a
// session the registry forgot means an ordinary upload, never an error.
package uploadsession

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxAge is how long a record is trusted: the distribution registry purges
// upload sessions older than a week by default, and most registries sooner.
const MaxAge = 7 * 24 * time.Hour

// maxRecord bounds what is read of one record (marks every MiB of a 10 GiB
// blob are about 1.5 MB of JSON).
const maxRecord = 4 << 20

// Mark is the state of the blob's SHA-256 (crypto/sha256's MarshalBinary)
// after its first Offset bytes.
type Mark struct {
	Offset int64  `json:"offset"`
	State  []byte `json:"state"`
}

// Record is one blob's upload session in one destination repository.
type Record struct {
	// Repository is the destination, registry host and path
	// ("harbor.lan/library/nginx").
	Repository string  `json:"repository"`
	Digest     v1.Hash `json:"digest"`
	Size       int64   `json:"size"`
	// Location is the session's URL, as the registry last gave it.
	Location string `json:"location"`
	// Marks are hash states at offsets up to what was sent, ascending.
	Marks []Mark    `json:"marks,omitempty"`
	Saved time.Time `json:"saved"`
}

// Store is a directory of records. A nil *Store keeps nothing and finds
// nothing.
type Store struct {
	dir      string
	readOnly bool
}

// Open returns the store in dir, or in the user's cache directory
// ($XDG_CACHE_HOME/docker-migrate/uploads, ~/.cache/… by default) when dir is
// "". It returns nil, a store that keeps nothing, when there is no such
// directory.
func Open(dir string) *Store {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(base, "docker-migrate", "uploads")
	}
	return &Store{dir: dir}
}

// ReadOnly is the same store, finding records and keeping or forgetting
// nothing (for --dry-run, which writes nothing anywhere).
func (s *Store) ReadOnly() *Store {
	if s == nil {
		return nil
	}
	return &Store{dir: s.dir, readOnly: true}
}

// Dir is where the records are.
func (s *Store) Dir() string {
	if s == nil {
		return ""
	}
	return s.dir
}

func (s *Store) path(repository string, d v1.Hash) string {
	key := sha256.Sum256([]byte(repository + "@" + d.String()))
	return filepath.Join(s.dir, hex.EncodeToString(key[:])+".json")
}

// Find returns the record of blob d's session in repository, if there is one
// that is whole, young enough and about that blob. A record that is not is
// removed.
func (s *Store) Find(repository string, d v1.Hash) (Record, bool) {
	if s == nil {
		return Record{}, false
	}
	p := s.path(repository, d)
	f, err := os.Open(p)
	if err != nil {
		return Record{}, false
	}
	var r Record
	err = json.NewDecoder(io.LimitReader(f, maxRecord)).Decode(&r)
	_ = f.Close()
	if err != nil || r.Repository != repository || r.Digest != d || r.Location == "" || r.Size <= 0 ||
		time.Since(r.Saved) > MaxAge || time.Until(r.Saved) > time.Hour {
		s.remove(p)
		return Record{}, false
	}
	return r, true
}

// Keep writes r, replacing any record of the same blob and repository. The
// file is written whole and renamed, readable by its owner only; a store that
// cannot be written is no error, only a longer upload next time.
func (s *Store) Keep(r Record) {
	if s == nil || s.readOnly {
		return
	}
	loc, err := url.Parse(r.Location)
	if err != nil {
		return
	}
	loc.User = nil
	r.Location = loc.String()
	if r.Saved.IsZero() {
		r.Saved = time.Now()
	}
	body, err := json.Marshal(r)
	if err != nil {
		return
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(body)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), s.path(r.Repository, r.Digest)) != nil {
		_ = os.Remove(f.Name())
	}
}

// Forget removes the record of blob d's session in repository, if any.
func (s *Store) Forget(repository string, d v1.Hash) {
	if s == nil || s.readOnly {
		return
	}
	s.remove(s.path(repository, d))
}

func (s *Store) remove(p string) {
	if !s.readOnly {
		_ = os.Remove(p)
	}
}
