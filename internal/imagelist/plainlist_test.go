package imagelist

import (
	"strings"
	"testing"
)

func TestParsePlainList(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []entryView
	}{
		{
			name: "source only",
			data: "nginx:1.27\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27"}},
		},
		{
			name: "source and target",
			data: "nginx:1.27 harbor.lan/mirror/nginx:1.27\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27", Target: "harbor.lan/mirror/nginx:1.27"}},
		},
		{
			name: "tabs and extra spaces between fields",
			data: "  nginx:1.27 \t  harbor.lan/mirror/nginx:1.27\t\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27", Target: "harbor.lan/mirror/nginx:1.27"}},
		},
		{
			name: "comments and blank lines keep line numbers",
			data: "# k3s images\n\nnginx:1.27\n   # indented comment\nalpine:3.20 # trailing comment\n\n",
			want: []entryView{{Line: 3, Source: "nginx:1.27"}, {Line: 5, Source: "alpine:3.20"}},
		},
		{
			name: "comment right after a tab",
			data: "alpine:3.20\t#comment\n",
			want: []entryView{{Line: 1, Source: "alpine:3.20"}},
		},
		{
			name: "CRLF line ends",
			data: "nginx:1.27\r\n# c\r\nalpine:3.20 harbor.lan/x/alpine:3.20\r\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27"}, {Line: 3, Source: "alpine:3.20", Target: "harbor.lan/x/alpine:3.20"}},
		},
		{
			name: "no newline at the end",
			data: "nginx:1.27",
			want: []entryView{{Line: 1, Source: "nginx:1.27"}},
		},
		{
			name: "byte order mark",
			data: "\ufeffnginx:1.27\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27"}},
		},
		{
			name: "digest and tag with digest",
			data: "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n" +
				"nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
			want: []entryView{
				{Line: 1, Source: "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
				{Line: 2, Source: "nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
			},
		},
		{
			name: "registry with port, uppercase host, mixed-case tag",
			data: "localhost:5000/team/app:Build-42\nRegistry.LAN/app:v1\n",
			want: []entryView{{Line: 1, Source: "localhost:5000/team/app:Build-42"}, {Line: 2, Source: "Registry.LAN/app:v1"}},
		},
		{
			name: "transport prefixes as source and target",
			data: "oci-archive:build/app.tar harbor.lan/apps/app:1.0\n" +
				"oci:layouts/app:1.0\n" +
				"docker-archive:/tmp/app.tar\n" +
				"nginx:1.27 oci:out/nginx\n",
			want: []entryView{
				{Line: 1, Source: "oci-archive:build/app.tar", Target: "harbor.lan/apps/app:1.0"},
				{Line: 2, Source: "oci:layouts/app:1.0"},
				{Line: 3, Source: "docker-archive:/tmp/app.tar"},
				{Line: 4, Source: "nginx:1.27", Target: "oci:out/nginx"},
			},
		},
		{
			name: "duplicates are kept for the caller",
			data: "nginx:1.27\nnginx:1.27\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27"}, {Line: 2, Source: "nginx:1.27"}},
		},
		{
			name: "a target with a tag of 128 characters",
			data: "nginx:1.27 harbor.lan/nginx:" + strings.Repeat("a", 128) + "\n",
			want: []entryView{{Line: 1, Source: "nginx:1.27", Target: "harbor.lan/nginx:" + strings.Repeat("a", 128)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, defaults, err := Parse("images.txt", []byte(tc.data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if defaults.Jobs != 0 || defaults.Platforms != nil {
				t.Errorf("defaults = %+v, want none from a plain list", defaults)
			}
			checkEntries(t, "images.txt", entries, tc.want)
		})
	}
}

func TestParsePlainListErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		line int
		msg  string
	}{
		{name: "empty file", data: "", line: 0, msg: "the list has no images"},
		{name: "only comments and blanks", data: "# nothing\n\n   \n", line: 0, msg: "the list has no images"},
		{name: "three fields", data: "nginx:1.27\nnginx:1.27 a/b c/d\n", line: 2, msg: "the line has 3 fields; write SRC or SRC DST"},
		{name: "docker scheme", data: "\n\ndocker://nginx:1.27\n", line: 3, msg: `starts with the scheme "docker://"; drop it`},
		{name: "https scheme", data: "https://harbor.lan/x/nginx:1.27\n", line: 1, msg: `starts with the scheme "https://"; drop it`},
		{name: "http scheme in target", data: "nginx:1.27 http://harbor.lan/x/nginx\n", line: 1, msg: `target "http://harbor.lan/x/nginx" starts with the scheme`},
		{name: "uppercase repository", data: "# c\nlibrary/Nginx:1.27\n", line: 2, msg: "repository names are lowercase"},
		{name: "uppercase path after a registry", data: "harbor.lan/Mirror/nginx:1.27\n", line: 1, msg: "repository names are lowercase"},
		{name: "tag over 128 characters", data: "nginx:" + strings.Repeat("a", 129) + "\n", line: 1, msg: "a tag is 1 to 128 letters, digits"},
		{name: "tag with invalid characters", data: "nginx:1.27\nnginx:1.27!\n", line: 2, msg: `has the invalid tag "1.27!"`},
		{name: "tag starting with a dot", data: "nginx:.1\n", line: 1, msg: `has the invalid tag ".1"`},
		{name: "empty tag", data: "nginx:\n", line: 1, msg: `has the invalid tag ""`},
		{name: "short digest", data: "nginx@sha256:abc\n", line: 1, msg: "a digest is sha256: followed by 64"},
		{name: "image ID", data: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", line: 1, msg: "is an image ID, not a reference"},
		{name: "hash inside a word is not a comment", data: "nginx#1.27\n", line: 1, msg: `"nginx#1.27" is not a valid image reference (expected NAME[:TAG][@DIGEST], e.g. docker.io/library/nginx:1.27)`},
		{name: "malformed reference", data: "nginx:1.27\n\n\nharbor.lan//nginx\n", line: 4, msg: "is not a valid image reference (expected NAME[:TAG][@DIGEST]"},
		{name: "transport without a path", data: "oci-archive:\n", line: 1, msg: `"oci-archive:" has no path after the transport`},
		{name: "bad target", data: "nginx:1.27 Harbor.lan/Mirror/nginx\n", line: 1, msg: "target"},
		{name: "YAML-looking line deeper in a plain list", data: "nginx:1.27\nsync:\n", line: 2, msg: `"sync:"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, _, err := Parse("images.txt", []byte(tc.data))
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", tc.data, entries)
			}
			checkError(t, err, "images.txt", tc.line, tc.msg)
		})
	}
}

func TestStripComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"# whole line", ""},
		{"nginx # after space", "nginx "},
		{"nginx\t# after tab", "nginx\t"},
		{"nginx#inside", "nginx#inside"},
		{"nginx", "nginx"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := stripComment(tc.in); got != tc.want {
				t.Errorf("stripComment(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
