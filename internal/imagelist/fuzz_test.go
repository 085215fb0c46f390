package imagelist

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The seeds below, the files in testdata/ and those in testdata/fuzz/ are the
// corpora; `go test` runs them all, `go test -fuzz FuzzParseList` explores.

func FuzzParseList(f *testing.F) {
	for _, seed := range []string{
		"nginx:1.27\n",
		"nginx:1.27 harbor.lan/mirror/nginx:1.27 # comment\r\n\n# only a comment\n",
		"oci-archive:x.tar harbor.lan/app:1\ndocker-archive:\noci:\n",
		"docker://nginx\nNginx\nnginx:bad!\nnginx@sha256:abc\n",
		"a b c\n",
		"\ufeffsync:\n  - source: nginx\n",
	} {
		f.Add([]byte(seed))
	}
	addFile(f, "k3s-images.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "images.txt", data)
	})
}

func FuzzParseYAML(f *testing.F) {
	for _, seed := range []string{
		"sync:\n  - source: nginx\n",
		"version: 1\ndefaults:\n  platforms: linux/amd64,linux/arm64\n  jobs: 4\nsync:\n  - {source: alpine, target: harbor.lan/alpine, platforms: [linux/arm/v7]}\n",
		"sync:\n  - source: busybox\n    type: repository\n    tags:\n      allow: [\"^1\\\\.36\"]\n      deny: -rc\n      semverRange: [\">=1.8 <2\", \"~1.36\"]\n",
		"sync:\n  - &a {source: nginx}\n  - <<: *a\n    target: x/y\n  - *a\n  -\n",
		"creds:\n  - registry: x\n",
		"sync: [1, [2], {3: 4}]\n---\n",
		"a: &a [*a]\n",
	} {
		f.Add([]byte(seed))
	}
	addFile(f, "regsync.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, "sync.yaml", data)
	})
}

// countLines counts lines as YAML does, which also breaks at a lone CR and at
// NEL, LS and PS; a plain list, split at LF only, never has more.
func countLines(data []byte) int {
	n := 1 + bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n"))
	for _, r := range []string{"\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(r))
	}
	return n
}

func addFile(f *testing.F, name string) {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
}

// checkParse asserts what holds for any input: Parse does not panic, every
// error is an *Error naming the file, and every entry is whole.
func checkParse(t *testing.T, path string, data []byte) {
	entries, _, err := Parse(path, data)
	lines := countLines(data)
	if err != nil {
		var listErr *Error
		if !errors.As(err, &listErr) {
			t.Fatalf("error %v is a %T, not an *Error", err, err)
		}
		if listErr.File != path || listErr.Msg == "" || listErr.Line < 0 || listErr.Line > lines {
			t.Fatalf("malformed error %#v for %d lines", listErr, lines)
		}
		if entries != nil {
			t.Fatalf("entries %v returned with error %v", entries, err)
		}
		return
	}
	if len(entries) == 0 {
		t.Fatal("no entries and no error")
	}
	for _, e := range entries {
		if e.File != path || e.Line < 1 || e.Line > lines || e.Source == "" {
			t.Fatalf("malformed entry %#v for %d lines", e, lines)
		}
		if e.Repository {
			if loc, msg := parseLocation(e.Source); msg != "" || loc.transport != "" || loc.hasTagOrDigest() {
				t.Fatalf("repository entry with source %q passed", e.Source)
			}
		}
		_ = e.Tags.Select([]string{"latest", "1.36.1", "v2.0.0-rc1", e.Source})
		_ = e.Tags.String()
	}
}
