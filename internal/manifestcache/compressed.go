package manifestcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayerRecord remembers, across runs, what an uncompressed layer (by its
// diff_id) was compressed to and put into each registry as: a layer read
// from a Docker engine is compressed on the way, and a later run asks the
// registry for that blob (a HEAD) before it compresses or uploads the layer
// again. Compression is deterministic (one library, one level, no
// timestamps), so the record only saves the work: a record lost or stale
// costs a compression and an upload, never a wrong image, since the blob
// is asked of the registry and a layer's diff_id is checked as it streams.
// One small file per registry and diff_id. A nil *LayerRecord keeps nothing.
type LayerRecord struct {
	dir string
}

// OpenLayerRecord returns the record in dir, or beside the manifest cache
// ($XDG_CACHE_HOME/docker-migrate/layers) when dir is ""; nil when there is
// no cache directory.
func OpenLayerRecord(dir string) *LayerRecord {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(base, "docker-migrate", "layers")
	}
	return &LayerRecord{dir: dir}
}

func (r *LayerRecord) path(host string, diffID v1.Hash) (string, bool) {
	if r == nil || diffID.Algorithm != "sha256" || len(diffID.Hex) != 64 || host == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(host))
	return filepath.Join(r.dir, hex.EncodeToString(h[:8]), diffID.Hex[:2], diffID.Hex), true
}

// layerEntry is one record: the blob, and the repository it was put into
// last (a copy into another repository of the registry mounts it from there).
type layerEntry struct {
	v1.Descriptor
	Repository string `json:"repository,omitempty"`
}

// Compressed returns what diffID was put into host as, if recorded, and the
// repository of host it was put into last.
func (r *LayerRecord) Compressed(host string, diffID v1.Hash) (v1.Descriptor, string, bool) {
	p, ok := r.path(host, diffID)
	if !ok {
		return v1.Descriptor{}, "", false
	}
	data, err := os.ReadFile(p)
	if err != nil || len(data) > 4<<10 {
		return v1.Descriptor{}, "", false
	}
	var e layerEntry
	if json.Unmarshal(data, &e) != nil || e.Digest.Algorithm != "sha256" || e.Size <= 0 || e.MediaType == "" {
		return v1.Descriptor{}, "", false
	}
	return v1.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}, e.Repository, true
}

// Put records that diffID was put into repo of host as d. Best effort, as
// the rest of the cache: a record not written only costs work later.
func (r *LayerRecord) Put(host, repo string, diffID v1.Hash, d v1.Descriptor) {
	p, ok := r.path(host, diffID)
	if !ok {
		return
	}
	data, err := json.Marshal(layerEntry{Descriptor: v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, Repository: repo})
	if err == nil {
		writeAtomic(p, data)
	}
}
