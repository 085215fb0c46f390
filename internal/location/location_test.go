package location

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in        string
		transport Transport
		path      string
		wantErr   bool
	}{
		{"nginx:1.27", Registry, "", false},
		{"localhost:5000/x", Registry, "", false},
		{"oci:./images", OCIDir, "./images", false},
		{"oci-archive:k3s.tar.zst", OCIArchive, "k3s.tar.zst", false},
		{"docker-archive:/tmp/a.tar", DockerArchive, "/tmp/a.tar", false},
		{"oci:", "", "", true},
		{"docker-archive:", "", "", true},
		{"ocix:foo", Registry, "", false},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("Parse(%q) error %v, want error %v", c.in, err, c.wantErr)
			}
			if err == nil && (got.Transport != c.transport || got.Path != c.path || got.Text != c.in) {
				t.Errorf("Parse(%q) = %+v", c.in, got)
			}
		})
	}
}

// FuzzParse: any text parses or gives one sentence, and an archive always has
// its path; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "oci:dir", "oci-archive:a.tar.gz", "docker-archive:", "oci::", "localhost:5000/a:b@sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			return
		}
		if l.IsArchive() && l.Path == "" {
			t.Errorf("archive %q with no path", s)
		}
		if l.Text != s {
			t.Errorf("Text %q, want %q", l.Text, s)
		}
	})
}
