package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestDocsUpToDate fails when docs/reference or docs/man differ from what the
// commands generate: run `make docs` and commit the result.
func TestDocsUpToDate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	tmp := t.TempDir()
	source, man := filepath.Join(tmp, "reference"), filepath.Join(tmp, "man")
	copyDir(t, "reference", source)
	if err := generate(source, man, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, dir := range [][2]string{{"reference", source}, {"man", man}} {
		want := readDir(t, dir[1])
		have := readDir(t, dir[0])
		for name, body := range want {
			if have[name] != body {
				t.Errorf("docs/%s/%s is stale: run `make docs`", dir[0], name)
			}
		}
		for name := range have {
			if _, ok := want[name]; !ok {
				t.Errorf("docs/%s/%s is not generated any more: remove it, or run `make docs`", dir[0], name)
			}
		}
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range readDir(t, from) {
		if err := os.WriteFile(filepath.Join(to, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
