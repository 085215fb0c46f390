// Package manifestcache keeps the manifests docker-migrate has read, by
// digest, in the user's cache directory. Content-addressed, an entry can never
// be stale: it is checked against its digest each time it is read. The
// planner uses it to know an index's children before any registry answers, so
// that it asks the destination for all of them in the same round trip as the
// tag, and to read from the source (Docker Hub counts manifest GETs against a
// pull quota) only what it has not seen before.
package manifestcache

import (
	"bytes"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxEntry bounds what is kept of one manifest (registries refuse larger).
const maxEntry = 4 << 20

// Cache is a directory of manifests named by digest. A nil *Cache keeps
// nothing and finds nothing.
type Cache struct {
	dir      string
	readOnly bool
}

// ReadOnly is the same cache, finding what it has and keeping nothing new
// (for --dry-run, which writes nothing anywhere).
func (c *Cache) ReadOnly() *Cache {
	if c == nil {
		return nil
	}
	return &Cache{dir: c.dir, readOnly: true}
}

// Open returns the cache in dir, or the user's cache directory
// ($XDG_CACHE_HOME/docker-migrate/manifests, ~/.cache/… by default) when dir
// is "". It returns nil, a cache that keeps nothing, when there is no such
// directory.
func Open(dir string) *Cache {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(base, "docker-migrate", "manifests")
	}
	return &Cache{dir: dir}
}

func (c *Cache) path(d v1.Hash) (string, bool) {
	if d.Algorithm != "sha256" || len(d.Hex) != 64 {
		return "", false
	}
	return filepath.Join(c.dir, d.Algorithm, d.Hex[:2], d.Hex), true
}

// Get returns the manifest with digest d, when the cache has it whole. An
// entry that does not match its digest is removed.
func (c *Cache) Get(d v1.Hash) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	p, ok := c.path(d)
	if !ok {
		return nil, false
	}
	body, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if got, _, err := v1.SHA256(bytes.NewReader(body)); err != nil || got != d {
		_ = os.Remove(p)
		return nil, false
	}
	return body, true
}

// Put keeps body as the manifest with digest d, if it is that. It writes a
// temporary file and renames it, so that a reader never sees half an entry;
// a cache that cannot be written is no error, only slower next time.
func (c *Cache) Put(d v1.Hash, body []byte) {
	if c == nil || c.readOnly || len(body) > maxEntry {
		return
	}
	p, ok := c.path(d)
	if !ok {
		return
	}
	if got, _, err := v1.SHA256(bytes.NewReader(body)); err != nil || got != d {
		return
	}
	if _, err := os.Stat(p); err == nil {
		return
	}
	writeAtomic(p, body)
}
