package uploadsession

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestStore(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}
	rec := Record{Repository: "harbor.lan/app", Digest: d, Size: 100 << 20,
		Location: "https://user:secret@harbor.lan/v2/app/blobs/uploads/u1?_state=s",
		Marks:    []Mark{{Offset: 1 << 20, State: []byte("state")}}}

	t.Run("kept, found, forgotten", func(t *testing.T) {
		s := Open(t.TempDir())
		s.Keep(rec)
		got, ok := s.Find(rec.Repository, d)
		if !ok || got.Size != rec.Size || len(got.Marks) != 1 {
			t.Fatalf("Find = %+v, %v", got, ok)
		}
		if got.Location != "https://harbor.lan/v2/app/blobs/uploads/u1?_state=s" {
			t.Errorf("the kept location is %q: user information must not be kept", got.Location)
		}
		if _, ok := s.Find("harbor.lan/other", d); ok {
			t.Error("found in another repository")
		}
		if _, ok := s.Find(rec.Repository, other); ok {
			t.Error("found for another blob")
		}
		s.Forget(rec.Repository, d)
		if _, ok := s.Find(rec.Repository, d); ok {
			t.Error("found after Forget")
		}
	})
	t.Run("only its owner reads it", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "uploads")
		Open(dir).Keep(rec)
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) != 1 {
			t.Fatalf("%d files", len(files))
		}
		fi, err := os.Stat(files[0])
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("record mode %v (%v), want 0600", fi.Mode().Perm(), err)
		}
	})
	t.Run("stale or torn records are no error", func(t *testing.T) {
		s := Open(t.TempDir())
		old := rec
		old.Saved = time.Now().Add(-MaxAge - time.Hour)
		s.Keep(old)
		if _, ok := s.Find(rec.Repository, d); ok {
			t.Error("a record older than MaxAge was found")
		}
		s.Keep(rec)
		p := s.path(rec.Repository, d)
		if err := os.WriteFile(p, []byte(`{"repository":"harbor.lan/app","dig`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Find(rec.Repository, d); ok {
			t.Error("a torn record was found")
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("a torn record was left: %v", err)
		}
	})
	t.Run("read-only and nil keep nothing", func(t *testing.T) {
		s := Open(t.TempDir())
		s.ReadOnly().Keep(rec)
		if _, ok := s.Find(rec.Repository, d); ok {
			t.Error("a read-only store kept a record")
		}
		var none *Store
		none.Keep(rec)
		none.Forget(rec.Repository, d)
		if _, ok := none.Find(rec.Repository, d); ok {
			t.Error("a nil store found a record")
		}
	})
}
