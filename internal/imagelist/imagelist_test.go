package imagelist

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadTestdata(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		want     []entryView
		defaults Defaults
	}{
		{
			name: "k3s-images.txt",
			path: filepath.Join("testdata", "k3s-images.txt"),
			want: []entryView{
				{Line: 1, Source: "docker.io/rancher/klipper-helm:v0.9.4-build20250113"},
				{Line: 2, Source: "docker.io/rancher/klipper-lb:v0.4.13"},
				{Line: 3, Source: "docker.io/rancher/local-path-provisioner:v0.0.30"},
				{Line: 4, Source: "docker.io/rancher/mirrored-coredns-coredns:1.12.0"},
				{Line: 5, Source: "docker.io/rancher/mirrored-library-busybox:1.36.1"},
				{Line: 6, Source: "docker.io/rancher/mirrored-library-traefik:3.3.2"},
				{Line: 7, Source: "docker.io/rancher/mirrored-metrics-server:v0.7.2"},
				{Line: 8, Source: "docker.io/rancher/mirrored-pause:3.6"},
			},
		},
		{
			name: "regsync.yaml",
			path: filepath.Join("testdata", "regsync.yaml"),
			want: []entryView{
				{Line: 9, Source: "docker.io/rancher/mirrored-pause:3.6", Target: "harbor.lan/k3s/mirrored-pause:3.6"},
				{Line: 11, Source: "docker.io/rancher/klipper-lb:v0.4.13"},
				{Line: 13, Source: "docker.io/library/busybox", Target: "harbor.lan/mirror/busybox", Repository: true,
					Tags: "allow `^1\\.36`, `latest`; deny `-rc`"},
				{Line: 21, Source: "docker.io/library/traefik", Repository: true, Platforms: []string{"linux/amd64"},
					Tags: "semverRange `>=3.3 <4`"},
				{Line: 26, Source: "oci-archive:build/app.tar", Target: "harbor.lan/apps/app:1.0.0"},
			},
			defaults: Defaults{Platforms: []string{"linux/amd64", "linux/arm64"}, Jobs: 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, defaults, err := Read(tc.path, nil)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkEntries(t, tc.path, entries, tc.want)
			if !reflect.DeepEqual(defaults, tc.defaults) {
				t.Errorf("defaults = %+v, want %+v", defaults, tc.defaults)
			}
		})
	}
}

func TestReadStdin(t *testing.T) {
	tests := []struct {
		name     string
		stdin    io.Reader
		want     []entryView
		defaults Defaults
	}{
		{
			name:  "plain list",
			stdin: strings.NewReader("nginx:1.27\nalpine:3.20 harbor.lan/alpine:3.20\n"),
			want:  []entryView{{Line: 1, Source: "nginx:1.27"}, {Line: 2, Source: "alpine:3.20", Target: "harbor.lan/alpine:3.20"}},
		},
		{
			name:     "sync file sniffed from its first key",
			stdin:    strings.NewReader("# piped in\n\ndefaults:\n  jobs: 2\nsync:\n  - source: nginx\n"),
			want:     []entryView{{Line: 6, Source: "nginx"}},
			defaults: Defaults{Jobs: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, defaults, err := Read("-", tc.stdin)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkEntries(t, "-", entries, tc.want)
			if !reflect.DeepEqual(defaults, tc.defaults) {
				t.Errorf("defaults = %+v, want %+v", defaults, tc.defaults)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		stdin io.Reader
		want  string // the whole Error() text
	}{
		{name: "missing file", path: missing, want: missing + ": cannot read the list: no such file or directory; check the path"},
		{name: "directory", path: dir, want: dir + ": cannot read the list: is a directory; check the path"},
		{name: "empty file", path: empty, want: empty + ": the list has no images; write one reference a line, e.g. docker.io/library/nginx:1.27"},
		{name: "stdin fails", path: "-", stdin: failingReader{}, want: "stdin: cannot read the list: broken pipe; check what is piped in"},
		{name: "no stdin", path: "-", want: "stdin: the list has no images; write one reference a line, e.g. docker.io/library/nginx:1.27"},
		{name: "bad line on stdin", path: "-", stdin: strings.NewReader("nginx\nNginx\n"), want: `stdin line 2: source "Nginx" has uppercase letters`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Read(tc.path, tc.stdin)
			var listErr *Error
			if !errors.As(err, &listErr) {
				t.Fatalf("error = %v (%T), want *Error", err, err)
			}
			if listErr.File != tc.path {
				t.Errorf("File = %q, want %q", listErr.File, tc.path)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Error() = %q, want it to start with %q", err.Error(), tc.want)
			}
		})
	}
}

func TestIsSyncFile(t *testing.T) {
	tests := []struct {
		name string
		path string
		data string
		want bool
	}{
		{name: "yaml extension", path: "mirror.yaml", data: "nginx:1.27\n", want: true},
		{name: "yml extension in capitals", path: "MIRROR.YML", data: "", want: true},
		{name: "txt", path: "images.txt", data: "nginx:1.27\n", want: false},
		{name: "no extension", path: "images", data: "nginx:1.27\n", want: false},
		{name: "stdin plain", path: "-", data: "nginx:1.27\n", want: false},
		{name: "stdin sync", path: "-", data: "sync:\n  - source: nginx\n", want: true},
		{name: "stdin version after comments", path: "-", data: "# regsync\n\n  # indented\nversion: 1\n", want: true},
		{name: "stdin defaults", path: "-", data: "defaults:\n", want: true},
		{name: "stdin creds", path: "-", data: "creds:\n", want: true},
		{name: "stdin document marker", path: "-", data: "---\nsync: []\n", want: true},
		{name: "process substitution", path: "/dev/fd/63", data: "sync:\n", want: true},
		{name: "key not at column 0", path: "-", data: "  sync:\n", want: false},
		{name: "key after an entry", path: "-", data: "nginx:1.27\nsync:\n", want: false},
		{name: "key as a prefix of a word", path: "-", data: "synchro/app:1\n", want: false},
		{name: "empty stdin", path: "-", data: "", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isSyncFile(tc.path, []byte(tc.data)); got != tc.want {
				t.Errorf("isSyncFile(%q, %q) = %v, want %v", tc.path, tc.data, got, tc.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{name: "with line", err: Error{File: "images.txt", Line: 3, Msg: "bad"}, want: "images.txt line 3: bad"},
		{name: "whole file", err: Error{File: "images.txt", Msg: "empty"}, want: "images.txt: empty"},
		{name: "stdin", err: Error{File: "-", Line: 1, Msg: "bad"}, want: "stdin line 1: bad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
