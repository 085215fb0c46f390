package imagelist

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseSyncFileVerify(t *testing.T) {
	file := filepath.Join("conf", "mirror.yaml")
	data := `defaults:
  verify: {keys: [cosign.pub]}
sync:
  - source: nginx:1.27
  - source: alpine:3.20
    verify:
      keys:
        - /etc/keys/team.pub
        - keys/other.pub
`
	entries, defaults, err := Parse(file, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join("conf", "cosign.pub")}; !reflect.DeepEqual(defaults.VerifyKeys, want) {
		t.Errorf("defaults keys %q, want %q", defaults.VerifyKeys, want)
	}
	if entries[0].VerifyKeys != nil {
		t.Errorf("entry without verify has keys %q", entries[0].VerifyKeys)
	}
	if want := []string{"/etc/keys/team.pub", filepath.Join("conf", "keys", "other.pub")}; !reflect.DeepEqual(entries[1].VerifyKeys, want) {
		t.Errorf("entry keys %q, want %q", entries[1].VerifyKeys, want)
	}

	// From stdin, a relative path stays relative to the working directory.
	entries, _, err = Parse("-", []byte("sync:\n  - source: nginx\n    verify: {keys: cosign.pub}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cosign.pub"}; !reflect.DeepEqual(entries[0].VerifyKeys, want) {
		t.Errorf("stdin entry keys %q, want %q", entries[0].VerifyKeys, want)
	}
}

func TestParseSyncFileVerifyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		line       int
		msg        string
	}{
		{"no keys", "sync:\n  - source: nginx\n    verify: {keys: []}\n", 3, "verify has no keys"},
		{"empty key", "sync:\n  - source: nginx\n    verify:\n      keys: [\"\"]\n", 4, "keys has an empty entry"},
		{"unknown key", "sync:\n  - source: nginx\n    verify: {key: cosign.pub}\n", 3, `unknown key "key" in verify; the keys there are keys`},
		{"keys is a mapping", "defaults:\n  verify: {keys: {a: b}}\nsync:\n  - source: nginx\n", 2, "keys must be a string or a list of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("s.yaml", []byte(tc.data))
			checkError(t, err, "s.yaml", tc.line, tc.msg)
		})
	}
}
