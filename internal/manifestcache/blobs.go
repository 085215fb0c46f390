package manifestcache

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxMountTries is how many recorded repositories a copy asks to mount a
// blob from before it uploads it: containers/image tries 5 too. Each stale
// record costs one refused mount, never more.
const MaxMountTries = 5

// maxSeen bounds the repositories kept per blob and registry: the most
// recent ones, which are the likeliest still to hold it.
const maxSeen = 8

// BlobRecord remembers, across runs, in which repositories of each registry
// a blob was seen (copied there, mounted, or found present), so that a later
// copy into another repository of that registry can mount it instead of
// uploading it. A record is a hint: a mount from a repository that no longer
// holds the blob is refused, and the copy uploads as it would have. One small
// file per registry and blob keeps memory flat however many blobs a run
// sees. A nil *BlobRecord keeps nothing and finds nothing.
type BlobRecord struct {
	dir      string
	readOnly bool
}

// OpenBlobRecord returns the record in dir, or beside the manifest cache
// ($XDG_CACHE_HOME/docker-migrate/blobs) when dir is ""; nil when there is
// no cache directory.
func OpenBlobRecord(dir string) *BlobRecord {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(base, "docker-migrate", "blobs")
	}
	return &BlobRecord{dir: dir}
}

// ReadOnly is the same record, finding what it has and keeping nothing new
// (for --dry-run).
func (r *BlobRecord) ReadOnly() *BlobRecord {
	if r == nil {
		return nil
	}
	return &BlobRecord{dir: r.dir, readOnly: true}
}

func (r *BlobRecord) path(host string, d v1.Hash) (string, bool) {
	if d.Algorithm != "sha256" || len(d.Hex) != 64 || host == "" {
		return "", false
	}
	// The host is hashed: a port's ':' and an IPv6 address do not make good
	// directory names everywhere.
	h := sha256.Sum256([]byte(host))
	return filepath.Join(r.dir, hex.EncodeToString(h[:8]), d.Hex[:2], d.Hex), true
}

// Where returns the repositories of host where d was seen, most recent first,
// without except (the repository being written), at most MaxMountTries.
func (r *BlobRecord) Where(host string, d v1.Hash, except string) []string {
	if r == nil {
		return nil
	}
	p, ok := r.path(host, d)
	if !ok {
		return nil
	}
	var out []string
	for _, repo := range r.read(p) {
		if repo != except && len(out) < MaxMountTries {
			out = append(out, repo)
		}
	}
	return out
}

func (r *BlobRecord) read(p string) []string {
	data, err := os.ReadFile(p)
	if err != nil || len(data) > 64<<10 {
		return nil
	}
	var repos []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			repos = append(repos, line)
		}
	}
	return repos
}

// Saw records that repo of host holds d. Writing is best effort, as for the
// manifest cache: a record that cannot be written only costs an upload later.
func (r *BlobRecord) Saw(host string, d v1.Hash, repo string) {
	if r == nil || r.readOnly || repo == "" || strings.ContainsAny(repo, "\n\r") {
		return
	}
	p, ok := r.path(host, d)
	if !ok {
		return
	}
	repos := r.read(p)
	if len(repos) > 0 && repos[0] == repo {
		return
	}
	repos = slices.DeleteFunc(repos, func(s string) bool { return s == repo })
	repos = append([]string{repo}, repos...)
	repos = repos[:min(len(repos), maxSeen)]
	writeAtomic(p, []byte(strings.Join(repos, "\n")+"\n"))
}
