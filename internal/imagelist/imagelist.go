// Package imagelist parses the image lists that `docker migrate -f LIST DST`
// reads: a plain list (one `SRC [DST]` a line, the shape of k3s-images.txt) or a
// YAML sync file shaped like regclient's regsync config. It only reads and
// validates; deciding what to copy is the caller's job.
package imagelist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Entry is one image, or one repository whose tags are selected, that a list names.
type Entry struct {
	File string // the list's path as given ("-" for stdin), for messages
	Line int    // 1-based line of the entry

	// Source is as written: a reference ("nginx:1.27") or a location with a
	// transport prefix ("oci-archive:x.tar").
	Source string
	// Target is as written; "" means the run's DST prefix plus the source's
	// repository path.
	Target string

	// Repository is set by `type: repository`: Source names a repository whose
	// tags are listed and selected by Tags.
	Repository bool
	Tags       TagFilter

	// Registry is set by `type: registry` and -r: Source is HOST[/NAMESPACE],
	// whose repositories are listed and selected by Repos, then each one's
	// tags by Tags. Target, when set, is the prefix they keep their paths under.
	Registry bool
	Repos    RepoFilter

	Platforms []string // this entry's platforms as written, nil for the run's

	// VerifyKeys are the cosign public keys of the entry's verify: (paths,
	// relative ones made relative to the sync file); nil for the run's.
	VerifyKeys []string
}

// Defaults are the run-wide settings a sync file's `defaults:` gives; a plain
// list has none, and zero values mean "not given".
type Defaults struct {
	Platforms []string
	Jobs      int
	// VerifyKeys are defaults' verify: keys, for entries that give none.
	VerifyKeys []string
}

// Read parses the list at path ("-" reads stdin) and returns its entries and defaults.
func Read(path string, stdin io.Reader) ([]Entry, Defaults, error) {
	var data []byte
	var err error
	if path == "-" {
		if stdin == nil {
			stdin = bytes.NewReader(nil)
		}
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		// The *PathError repeats the path, which Error already prints.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		advice := "check the path"
		if path == "-" {
			advice = "check what is piped in"
		}
		return nil, Defaults{}, &Error{File: path, Msg: fmt.Sprintf("cannot read the list: %v; %s", err, advice)}
	}
	return Parse(path, data)
}

// Parse parses data as if read from path (used by Read and by tests/fuzzing).
// A .yaml or .yml path is a sync file; any other path is a plain list unless
// its first meaningful line is a sync file's top-level key (see isSyncFile).
func Parse(path string, data []byte) ([]Entry, Defaults, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // editors on Windows add a BOM
	if isSyncFile(path, data) {
		return parseSyncFile(path, data)
	}
	entries, err := parsePlainList(path, data)
	return entries, Defaults{}, err
}

// syncFileKeys are the top-level keys that mark content as a sync file when
// the name does not say (stdin, /dev/fd/N from process substitution, list.txt).
// creds is among them so that a regsync file piped in gets the creds message.
var syncFileKeys = []string{"sync:", "version:", "defaults:", "creds:"}

// isSyncFile decides the format: by extension first, otherwise by sniffing the
// first line that is neither blank nor a comment. That line can never be a
// valid plain-list entry, since no reference ends in ':' or is "---".
func isSyncFile(path string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return true
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if trimmed == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "%YAML") {
			return true
		}
		for _, key := range syncFileKeys {
			if strings.HasPrefix(line, key) {
				return true
			}
		}
		return false
	}
	return false
}
