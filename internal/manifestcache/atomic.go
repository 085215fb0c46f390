package manifestcache

import (
	"os"
	"path/filepath"
)

// writeAtomic writes data to p through a temporary file renamed over it, so
// that a reader never sees half a file; best effort, as everything here:
// false when it could not.
func writeAtomic(p string, data []byte) bool {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return false
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return false
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), p) != nil {
		_ = os.Remove(f.Name())
		return false
	}
	return true
}
