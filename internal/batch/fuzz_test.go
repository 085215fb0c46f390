package batch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// FuzzParseDestination: DST is a prefix, an archive or a usage error of one
// sentence; nothing panics.
func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"harbor.lan/mirror", "localhost:5000", "oci-archive:x.tar", "docker.io/x:1", "a@sha256:0", "[::1]:5000", "HOST:PORT", ":", ""} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, exact bool) {
		d, err := parseDestination(s, exact)
		if err != nil {
			if !errdefs.Is(err, errdefs.InvalidArgument) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%q: %v is not one usage sentence", s, err)
			}
			return
		}
		if !d.loc.IsArchive() && d.exact == "" && d.host == "" {
			t.Errorf("%q: a registry prefix with no host", s)
		}
	})
}

// FuzzParseSource: a SRC parses to a reference or is refused; nothing panics.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.27", "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64), "UPPER", "http://x/y", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ref, err := parseSource(s); err == nil && ref.Identifier() == "" {
			t.Errorf("%q parsed with no tag or digest", s)
		}
	})
}

// FuzzOpenReport: a report file either reads, or is refused with a sentence
// naming its line; a torn last line is dropped.
func FuzzOpenReport(f *testing.F) {
	f.Add([]byte(`{"source":"a","destination":"b","destinationDigest":"sha256:00","outcome":"copied"}` + "\n"))
	f.Add([]byte("{\"source\":\"a\"\n{\"torn"))
	f.Add([]byte("not json\n"))
	// One directory for all inputs: t.TempDir in a fuzz body slows Go's
	// fuzzer to a few inputs a second.
	work := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := os.MkdirTemp(work, "in-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "report.jsonl")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReport(p)
		if err != nil {
			if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "report.jsonl line") {
				t.Errorf("%v: not a sentence naming the line", err)
			}
			return
		}
		r.Close()
	})
}
