package archive

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPendingFile: the final name appears only at commit, whole and 0644,
// and nothing is left under a temporary name; a failed commit or a discard
// leaves nothing at all.
func TestPendingFile(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "index.json")
	p, err := createPending(dir, ".index.json-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteString("{}"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("final name before commit: %v", err)
	}
	if err := p.commit(final); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(final)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 || st.Size() != 2 {
		t.Errorf("committed file: mode %v, size %d; want 0644, 2", st.Mode().Perm(), st.Size())
	}
	assertOnly(t, dir, "index.json")

	// A rename that fails (no such directory) keeps the temporary name for
	// discard, which removes it.
	p, err = createPending(dir, ".blob-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.commit(filepath.Join(dir, "missing", "blob")); err == nil {
		t.Fatal("commit into a missing directory succeeded")
	}
	if err := p.discard(); err != nil {
		t.Fatal(err)
	}
	if err := p.discard(); err != nil {
		t.Fatalf("a second discard: %v", err)
	}
	assertOnly(t, dir, "index.json")
}
