package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// tempFile writes content to a new file in a temp directory of t.
func tempFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// putArtifactTag pushes with regctl an artifact under ref, with a config of
// configType holding config ("" for the empty config and artifactType),
// and returns its digest.
func putArtifactTag(t testing.TB, env []string, ref, configType, config, artifactType string) string {
	t.Helper()
	args := []string{"artifact", "put", "--file-media-type", "application/vnd.example.content", "--file", tempFile(t, "content", "content of "+ref)}
	if configType != "" {
		args = append(args, "--config-type", configType, "--config-file", tempFile(t, "config", config))
	} else {
		args = append(args, "--artifact-type", artifactType)
	}
	runTool(t, env, "regctl", append(args, ref)...)
	return strings.TrimSpace(runTool(t, env, "regctl", "image", "digest", ref))
}

// TestArtifactsCopied copies OCI artifacts whose config is no image config
// (a Helm chart's, a WASM module's that is not even JSON, ORAS's empty
// one) between registries and through an OCI layout, byte for byte.
func TestArtifactsCopied(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	env := regctlFor(t, src.Host, dst.Host)
	cases := []struct{ repo, configType, config, artifactType string }{
		{"charts/app:0.1.0", "application/vnd.cncf.helm.config.v1+json", `{"name":"app","version":"0.1.0","apiVersion":"v2"}`, ""},
		{"wasm/mod:v1", "application/vnd.wasm.config.v0+json", "\x00asm\x01\x00\x00\x00", ""},
		{"oras/thing:v1", "", "", "application/vnd.example.thing"},
	}
	var refs []string
	want := map[string]string{}
	for _, c := range cases {
		ref := src.Ref(c.repo)
		want[c.repo] = putArtifactTag(t, env, ref, c.configType, c.config, c.artifactType)
		refs = append(refs, ref)
	}
	cli := NewCLI(t)
	for _, c := range cases {
		out := dst.Ref("mirror/" + c.repo)
		cli.RunDocker(t, "migrate", src.Ref(c.repo), out).AssertSuccess(t)
		if got := assertPullsWhole(t, dst, out); got.String() != want[c.repo] {
			t.Errorf("%s: %s at the destination, want the source's %s", c.repo, got, want[c.repo])
		}
	}

	// Through an OCI layout and back.
	layout := filepath.Join(t.TempDir(), "layout")
	cli.RunDocker(t, append(append([]string{"migrate"}, refs...), "oci:"+layout)...).AssertSuccess(t)
	back := cli.RunDocker(t, "migrate", "oci:"+layout, dst.Host+"/back").AssertSuccess(t)
	printed := stdoutRefs(back)
	if len(printed) != len(cases) {
		t.Fatalf("printed %q, want %d references", back.Stdout, len(cases))
	}
	for _, p := range printed {
		got := assertPullsWhole(t, dst, p)
		found := false
		for _, d := range want {
			found = found || got.String() == d
		}
		if !found {
			t.Errorf("%s: %s is none of the source's digests %v", p, got, want)
		}
	}
}

// TestNestedIndexCopied copies an index whose children are indexes (made
// with regctl index create), three deep, to distribution v3 and 2.8.
func TestNestedIndexCopied(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	env := regctlFor(t, src.Host)
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 171}
	inner := pushFixture(t, src, src.Ref("nest/app:inner"), opts, false)
	thing := putArtifactTag(t, env, src.Ref("nest/app:thing"), "", "", "application/vnd.example.thing")
	runTool(t, env, "regctl", "index", "create", src.Ref("nest/app:middle"), "--digest", inner.String(), "--digest", thing)
	middle := strings.TrimSpace(runTool(t, env, "regctl", "image", "digest", src.Ref("nest/app:middle")))
	runTool(t, env, "regctl", "index", "create", src.Ref("nest/app:v1"), "--digest", middle)
	want := strings.TrimSpace(runTool(t, env, "regctl", "image", "digest", src.Ref("nest/app:v1")))

	for _, kind := range []registryKind{distributionV3, distribution28} {
		dst := startRegistry(t, registryOptions{kind: kind})
		out := dst.Ref("mirror/app:v1")
		res := NewCLI(t).RunDocker(t, "migrate", src.Ref("nest/app:v1"), out).AssertSuccess(t)
		if got := assertPullsWhole(t, dst, out); got.String() != want {
			t.Errorf("%s: %s, want the source's %s\n%s", out, got, want, res.Stderr)
		}
		dstEnv := regctlFor(t, dst.Host)
		if got := strings.TrimSpace(runTool(t, dstEnv, "regctl", "image", "digest", dst.Ref("mirror/app@"+inner.String()))); got != inner.String() {
			t.Errorf("the nested index %s is not at the destination: %s", inner, got)
		}
	}
}
