package buildx

import (
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// The messages below are what buildx v0.26.1 and BuildKit v0.23.2 printed on
// these machines, from "ERROR: " on.
func TestBuildFailure(t *testing.T) {
	kit := &builder{Name: "kit", Driver: "remote", Endpoint: "unix:///run/buildkit/buildkitd.sock", Status: "running"}
	container := &builder{Name: "box", Driver: "docker-container", Status: "running"}
	addr := &builder{Name: tempBuilderName, Driver: "remote", Addr: "tcp://10.0.0.5:1234"}
	const src, dst = "127.0.0.1:5000", "127.0.0.1:6000"
	tests := []struct {
		name string
		b    *builder
		text string
		kind errdefs.Kind
		want []string
	}{
		{
			name: "push over https to a plain http registry",
			b:    kit,
			text: `failed to build: failed to solve: failed to push 127.0.0.1:6000/raw/multi: failed to do request: Head "https://127.0.0.1:6000/v2/raw/multi/blobs/sha256:bd6fc6e31f3bd77f18b01b6e1742106de65756ea6bdc6c742e8926a91c6f7541": http: server gave HTTP response to HTTPS client`,
			kind: errdefs.Unreachable,
			want: []string{"builder kit cannot reach registry 127.0.0.1:6000", `[registry."127.0.0.1:6000"] http = true`, "buildkitd.toml of the daemon at unix:///run/buildkit/buildkitd.sock"},
		},
		{
			name: "pull over https from a plain http registry",
			b:    container,
			text: `failed to build: failed to solve: 127.0.0.1:5000/raw/multi@sha256:4791d54e25fdfef09063c95d1da4ffa41bb6f1f2ce4936f630c9ac7ab5f4d212: failed to resolve source metadata for 127.0.0.1:5000/raw/multi@sha256:4791d54e25fdfef09063c95d1da4ffa41bb6f1f2ce4936f630c9ac7ab5f4d212: failed to do request: Head "https://127.0.0.1:5000/v2/raw/multi/manifests/sha256:4791d54e25fdfef09063c95d1da4ffa41bb6f1f2ce4936f630c9ac7ab5f4d212": http: server gave HTTP response to HTTPS client`,
			kind: errdefs.Unreachable,
			want: []string{"builder box cannot reach registry 127.0.0.1:5000", `[registry."127.0.0.1:5000"] http = true`, "docker buildx create --buildkitd-config"},
		},
		{
			name: "unknown certificate authority",
			b:    addr,
			text: `failed to build: failed to solve: failed to push registry.lan/x: failed to do request: Head "https://registry.lan/v2/x/blobs/sha256:aa": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
			kind: errdefs.Unreachable,
			want: []string{"the BuildKit daemon at tcp://10.0.0.5:1234 does not trust the TLS certificate of registry registry.lan", "ca = ", "buildkitd.toml"},
		},
		{
			name: "push refused",
			b:    kit,
			text: `failed to build: failed to solve: failed to push 127.0.0.1:6000/x: unexpected status from HEAD request to http://127.0.0.1:6000/v2/x/blobs/sha256:9fe34d63685702fec9c0161326bfe9fedb6410552e33c2e53555ad2b6638e9f1: 401 Unauthorized`,
			kind: errdefs.Unauthorized,
			want: []string{"builder kit was refused by registry 127.0.0.1:6000", "docker login 127.0.0.1:6000"},
		},
		{
			name: "pull refused",
			b:    kit,
			text: `failed to build: failed to solve: 127.0.0.1:5000/x@sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2: failed to resolve source metadata for 127.0.0.1:5000/x@sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2: unexpected status from HEAD request to http://127.0.0.1:5000/v2/x/manifests/sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2: 401 Unauthorized`,
			kind: errdefs.Unauthorized,
			want: []string{"registry 127.0.0.1:5000", "docker login 127.0.0.1:5000"},
		},
		{
			name: "docker hub token refused",
			b:    kit,
			text: `failed to build: failed to solve: failed to push docker.io/me/x: failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://auth.docker.io/token: 401 Unauthorized`,
			kind: errdefs.Unauthorized,
			want: []string{"registry docker.io", "run 'docker login'"},
		},
		{
			name: "registry not reachable from a container",
			b:    container,
			text: `failed to build: failed to solve: failed to push 127.0.0.1:6000/x: failed to do request: Head "http://127.0.0.1:6000/v2/x/blobs/sha256:607c": dial tcp 127.0.0.1:6000: connect: connection refused`,
			kind: errdefs.Unreachable,
			want: []string{"builder box cannot reach registry 127.0.0.1:6000 (connection refused)", "does not see this machine's loopback"},
		},
		{
			name: "registry not reachable",
			b:    kit,
			text: `failed to build: failed to solve: 127.0.0.1:5000/x@sha256:f5: failed to resolve source metadata for 127.0.0.1:5000/x@sha256:f5: failed to do request: Head "http://127.0.0.1:5000/v2/x/manifests/sha256:f5": dial tcp 127.0.0.1:5000: connect: connection refused`,
			kind: errdefs.Unreachable,
			want: []string{"builder kit cannot reach registry 127.0.0.1:5000 (connection refused)", "reachable from where BuildKit runs"},
		},
		{
			name: "source gone",
			b:    kit,
			text: `failed to build: failed to solve: 127.0.0.1:5000/e2e/multi@sha256:0000: failed to resolve source metadata for 127.0.0.1:5000/e2e/multi@sha256:0000: 127.0.0.1:5000/e2e/multi@sha256:0000: not found`,
			kind: errdefs.NotFound,
			want: []string{"cannot find the source image in registry 127.0.0.1:5000"},
		},
		{
			name: "platform BuildKit does not find",
			b:    kit,
			text: `failed to build: failed to solve: 127.0.0.1:5000/e2e/multi@sha256:f5: failed to resolve source metadata for 127.0.0.1:5000/e2e/multi@sha256:f5: no match for platform in manifest: not found`,
			kind: errdefs.PlatformMissing,
			want: []string{"--platform"},
		},
		{
			name: "docker driver",
			b:    &builder{Name: "default", Driver: "docker"},
			text: "failed to build: Multi-platform build is not supported for the docker driver.\nSwitch to a different driver, or turn on the containerd image store, and try again.",
			kind: errdefs.Unavailable,
			want: []string{"builder default", "docker driver", "docker buildx create --driver docker-container"},
		},
		{
			name: "builder gone",
			b:    kit,
			text: "failed to build: context deadline exceeded",
			kind: errdefs.Unavailable,
			want: []string{"builder kit did not answer (context deadline exceeded)", "docker buildx inspect --bootstrap kit"},
		},
		{
			name: "anything else",
			b:    kit,
			text: "failed to build: something new\nand its second line",
			kind: errdefs.Unknown,
			want: []string{"the build on builder kit failed: something new"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := buildFailure(tc.text, tc.b, src, dst)
			msg := errdefs.Message(err)
			if strings.Contains(msg, "\n") {
				t.Errorf("the message is more than one line: %q", msg)
			}
			if k := errdefs.KindOf(err); k != tc.kind {
				t.Errorf("kind %v, want %v", k, tc.kind)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			// -D shows buildx's own account.
			if detail := errdefs.Detail(err); len(detail) < 2 || !strings.Contains(strings.Join(detail, "\n"), firstLine(tc.text)) {
				t.Errorf("the detail does not keep buildx's error: %q", detail)
			}
		})
	}
}

func TestBlamedRegistry(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`Head "https://registry-1.docker.io/v2/library/x/manifests/latest": EOF`, "docker.io"},
		{"failed to push 127.0.0.1:6000/x: 401 Unauthorized", "127.0.0.1:6000"},
		{"127.0.0.1:5000/x@sha256:aa: failed to resolve source metadata", "127.0.0.1:5000"},
		{"no registry in sight", ""},
	} {
		if got := blamedRegistry(tc.text, "127.0.0.1:5000", "127.0.0.1:6000"); got != tc.want {
			t.Errorf("blamedRegistry(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
