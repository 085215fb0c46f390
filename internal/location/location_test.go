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
		{"docker-daemon:nginx:1.27", DockerDaemon, "", false},
		{"docker-daemon:", DockerDaemon, "", false},
		{"docker-daemon@edge:nginx", DockerDaemon, "", false},
		{"docker-daemon@edge:", DockerDaemon, "", false},
		{"docker-daemon@edge", "", "", true},
		{"docker-daemon@:nginx", "", "", true},
		{"docker-daemon@a/b:nginx", "", "", true},
		{"docker-daemonx:foo", Registry, "", false},
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
	for _, s := range []string{"nginx", "oci:dir", "oci-archive:a.tar.gz", "docker-archive:", "oci::", "localhost:5000/a:b@sha256:00",
		"docker-daemon:", "docker-daemon:nginx:1.27", "docker-daemon@edge:", "docker-daemon@edge", "docker-daemon@:x", "docker-daemon@a:b:c"} {
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
		if l.IsEngine() && l.IsArchive() {
			t.Errorf("%q is both an engine and an archive", s)
		}
		if l.Text != s {
			t.Errorf("Text %q, want %q", l.Text, s)
		}
	})
}

func TestParseEngine(t *testing.T) {
	for _, c := range []struct{ in, context, image string }{
		{"docker-daemon:nginx:1.27", "", "nginx:1.27"},
		{"docker-daemon:", "", ""},
		{"docker-daemon@edge:localhost:5000/app:v1", "edge", "localhost:5000/app:v1"},
		{"docker-daemon@my-box.lan:", "my-box.lan", ""},
	} {
		l, err := Parse(c.in)
		if err != nil || !l.IsEngine() || l.IsArchive() || l.Context != c.context || l.Image != c.image {
			t.Errorf("Parse(%q) = %+v, %v; want context %q image %q", c.in, l, err, c.context, c.image)
		}
	}
}

func TestParseReference(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // "" for a valid reference
	}{
		{"nginx:1.27", ""},
		{"localhost:5000/x:1", ""},
		{"[::1]:5000/x", ""},
		{"myorg/backup.tar", ""},
		{"", `"" is empty`},
		{"nginx:1.27\n", "control character"},
		{"nginx 1.27", "holds a space"},
		{"http://localhost:5000/x:1", `drop it and write the reference alone, e.g. localhost:5000/x:1`},
		{"docker://alpine", `the scheme "docker://"`},
		{"ñginx", `holds 'ñ'`},
		{"./image.tar", "docker-archive:./image.tar"},
		{"image.tar.zst", "oci-archive:image.tar.zst"},
		{"/srv/layout", "oci:/srv/layout"},
		{"Nginx:1.27", "uppercase"},
		{"nginx:" + strings.Repeat("a", 200), "a tag of 200 characters"},
		{"nginx:1.27!", `the invalid tag "1.27!"`},
		{"nginx:", `the invalid tag ""`},
		{"nginx@sha256:abc", "invalid digest"},
		{strings.Repeat("a", 64), "image ID"},
		{":v1", "no repository name"},
		{"a/" + strings.Repeat("b", 300), "over 255 characters"},
		{"localhost:99999/x", "the port 99999, which is out of range"},
		{"localhost:0/x", "out of range"},
		{"a//b", "not a valid image reference"},
	} {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseReference(c.in)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("ParseReference(%q): %v", c.in, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("ParseReference(%q) = %v, want an error with %q", c.in, err, c.want)
			}
		})
	}
}

func TestIsRegistryHost(t *testing.T) {
	for _, c := range []struct {
		in            string
		host, namesIt bool
	}{
		{"localhost", true, true},
		{"localhost:5000", true, true},
		{"harbor.lan", true, true},
		{"10.0.0.1:5000", true, true},
		{"[::1]:5000", true, true},
		{"registry:5000", true, false},
		{"nginx", false, false},
		{"nginx:1.27", false, false},
		{"redis:7", true, false},
		{"image.tar", false, false},
		{"harbor.lan/mirror", false, false},
		{"a:b:c", false, false},
		{"", false, false},
	} {
		if got := IsRegistryHost(c.in); got != c.host {
			t.Errorf("IsRegistryHost(%q) = %v", c.in, got)
		}
		if got := NamesRegistry(c.in); got != c.namesIt {
			t.Errorf("NamesRegistry(%q) = %v", c.in, got)
		}
	}
}

// FuzzParseReference: any text is a reference or is refused with one
// sentence of a readable length that quotes it first; nothing panics.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"nginx:1.27", "localhost:99999/x", "http://a/b", "./a.tar", "ñ", "a:" + strings.Repeat("b", 200), "a@sha256:00", ":v1", "[::1]:5000/x", "UPPER/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		named, err := ParseReference(s)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") || len(msg) > 600 || !strings.HasPrefix(msg, `"`) {
				t.Errorf("%q: %q is not one sentence quoting it first", s, msg)
			}
			return
		}
		if named == nil || named.Name() == "" {
			t.Errorf("%q parsed to nothing", s)
		}
		if NamesRegistry(s) && !IsRegistryHost(s) {
			t.Errorf("%q names a registry but is no registry host", s)
		}
	})
}
