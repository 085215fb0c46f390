package registry

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

func TestValidateMirror(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "https://mirror.example.com", want: "https://mirror.example.com/v2"},
		{in: "https://mirror.example.com/", want: "https://mirror.example.com/v2"},
		{in: "http://10.0.0.1:5000", want: "http://10.0.0.1:5000/v2"},
		{in: "https://nexus.lan/repository/hub/", want: "https://nexus.lan/repository/hub/v2"},
		{in: "mirror.example.com", err: "scheme must be http or https"},
		{in: "ftp://mirror.example.com", err: "scheme must be http or https"},
		{in: "https://mirror.example.com/?x=1", err: "no query or fragment"},
		{in: "https://mirror.example.com/#top", err: "no query or fragment"},
		{in: "https://user:secret@mirror.example.com", err: "credentials do not go in the URL"},
		{in: "https://", err: "no host"},
		{in: "http://[::1", err: "not a URL"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			e, err := ValidateMirror(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the password is in the message: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.URL.String(); got != tc.want {
				t.Errorf("URL = %s, want %s", got, tc.want)
			}
			if !e.Mirror || !e.Pull || !e.Resolve {
				t.Errorf("endpoint = %+v, want a pull and resolve mirror", e)
			}
		})
	}
}

func TestParseHostsFile(t *testing.T) {
	const file = `
server = "https://registry-1.docker.io"

[host."https://public-mirror.example.com"]
  capabilities = ["pull"]
[host."http://docker-mirror.internal:5000"]
  capabilities = ["pull", "resolve"]
  ca = "docker-mirror.crt"
  [host."http://docker-mirror.internal:5000".header]
    x-custom = "a"
[host."https://nexus.lan/repository/hub"]
  override_path = true
  skip_verify = true
  client = [["/etc/certs/c.cert", "c.key"]]
`
	f, err := ParseHostsFile("/etc/docker/certs.d/docker.io", "docker.io", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, e := range f.Endpoints {
		urls = append(urls, e.URL.String())
	}
	want := []string{"https://public-mirror.example.com/v2", "http://docker-mirror.internal:5000/v2", "https://nexus.lan/repository/hub", "https://registry-1.docker.io/v2"}
	if strings.Join(urls, " ") != strings.Join(want, " ") {
		t.Fatalf("endpoints = %v, want %v (the file's order, the server last)", urls, want)
	}
	e := f.Endpoints
	if !e[0].Mirror || !e[0].Pull || e[0].Resolve {
		t.Errorf("public mirror: %+v, want pull only", e[0])
	}
	if got := e[1].CAFiles; len(got) != 1 || got[0] != "/etc/docker/certs.d/docker.io/docker-mirror.crt" {
		t.Errorf("ca = %v, relative to the file's directory", got)
	}
	if !e[2].SkipVerify || e[2].ClientPairs[0] != [2]string{"/etc/certs/c.cert", "/etc/docker/certs.d/docker.io/c.key"} {
		t.Errorf("nexus: %+v", e[2])
	}
	if e[0].Namespace != "docker.io" || e[3].Namespace != "" {
		t.Errorf("mirrors are asked with ?ns=docker.io, the registry without: %q, %q", e[0].Namespace, e[3].Namespace)
	}
	if e[3].Mirror || !e[3].Pull || !e[3].Resolve {
		t.Errorf("server registry-1.docker.io is Docker Hub itself: %+v", e[3])
	}
}

func TestParseHostsFileServerIsMirror(t *testing.T) {
	// A server other than the registry: only the mirror is used.
	f, err := ParseHostsFile("/d", "10.0.0.1:5000", []byte(`server = "http://cache.lan:5000"`+"\nskip_verify = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Endpoints) != 1 || !f.Endpoints[0].Mirror || !f.Endpoints[0].SkipVerify || f.Endpoints[0].String() != "http://cache.lan:5000" {
		t.Fatalf("endpoints = %+v", f.Endpoints)
	}
	// No server: the registry itself, with the root's TLS settings.
	f, err = ParseHostsFile("/d", "10.0.0.1:5000", []byte("skip_verify = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Endpoints) != 1 || f.Endpoints[0].Mirror || !f.Endpoints[0].SkipVerify || f.Endpoints[0].Host() != "10.0.0.1:5000" {
		t.Fatalf("endpoints = %+v", f.Endpoints)
	}
}

func TestParseHostsFileErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"server = \n", "line 1"},
		{`[host."https://m"]` + "\ncapabilities = [\"fly\"]\n", `unknown capability "fly"`},
		{`[host."https://m"]` + "\nca = 3\n", `"ca" must be`},
		{`[host."https://u:p@m"]` + "\n", "credentials"},
	} {
		_, err := ParseHostsFile("/d", "r.lan", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/d/hosts.toml") {
			t.Errorf("%q: err = %v, want %q and the file's path", tc.file, err, tc.want)
		}
	}
}

func TestLoadHostsFileLookupOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(sub, server string) {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, "hosts.toml"), []byte(`server = "`+server+`"`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	server := func(host string) string {
		t.Helper()
		f, err := LoadHostsFile([]string{filepath.Join(dir, "missing"), dir}, host)
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			return ""
		}
		return f.Endpoints[len(f.Endpoints)-1].String()
	}
	if got := server("r.lan:5000"); got != "" {
		t.Fatalf("no file: %q", got)
	}
	write("_default", "https://default.lan")
	write("r.lan:5000", "https://colon.lan")
	if got := server("r.lan:5000"); got != "https://colon.lan" {
		t.Errorf("HOST:PORT before _default: %q", got)
	}
	write("r.lan_5000_", "https://underscore.lan")
	if got := server("r.lan:5000"); got != "https://underscore.lan" {
		t.Errorf("HOST_PORT_ first: %q", got)
	}
	if got := server("other.lan"); got != "https://default.lan" {
		t.Errorf("_default for the rest: %q", got)
	}
	write("docker.io", "https://hub-mirror.lan")
	if got := server("index.docker.io"); got != "https://hub-mirror.lan" {
		t.Errorf("Docker Hub's is docker.io/hosts.toml: %q", got)
	}
}

// TestPlainHTTPSentence: a registry that answers HTTPS in plain HTTP (on an
// address the ping does not try HTTP for) gets the sentence naming
// --insecure=HOST and the engine's insecure-registries.
func TestPlainHTTPSentence(t *testing.T) {
	err := classify(&url.Error{Op: "Get", URL: "https://192.0.2.2:15003/v2/", Err: errors.New("http: server gave HTTP response to HTTPS client")}, "192.0.2.2:15003", "read 192.0.2.2:15003/x")
	for _, want := range []string{"--insecure=192.0.2.2:15003", "insecure-registries"} {
		if !strings.Contains(errdefs.Message(err), want) {
			t.Errorf("%q lacks %q", errdefs.Message(err), want)
		}
	}
}
