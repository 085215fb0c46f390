package e2e

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestHarness checks the pieces the other tests stand on, without the plugin:
// the registries start and hold what is pushed, the proxies misbehave as
// intended, and the real docker CLI can log in with no engine.
func TestHarness(t *testing.T) {
	t.Parallel()
	plain := startRegistry(t, registryOptions{})
	ref := plain.Ref("harness/oci:v1")
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], Attestations: true, LayerSize: 2048, Seed: 7}
	digest := pushFixture(t, plain, ref, opts, false)
	assertDigest(t, plain, ref, digest)
	// 2 configs, 1 shared and 2 own layers, 2 attestation configs and layers.
	if n := len(assertComplete(t, plain, ref)); n != 9 {
		t.Errorf("checked %d distinct blobs, want 9", n)
	}
	idx := readIndex(t, plain, ref)
	if got, want := strings.Join(idx.Platforms, ","), "linux/amd64,linux/arm64/v8"; got != want {
		t.Errorf("platforms %s, want %s", got, want)
	}
	if len(idx.Attestations) != 2 {
		t.Errorf("%d attestations, want 2", len(idx.Attestations))
	}
	assertAbsent(t, plain, plain.Ref("harness/oci:missing"))

	t.Run("corrupting proxy", func(t *testing.T) {
		t.Parallel()
		proxy := startProxy(t, plain, corruptBlobs)
		parsed, err := name.ParseReference(proxy.Ref("harness/oci:v1"))
		if err != nil {
			t.Fatal(err)
		}
		ctx := checkContext(t)
		img, err := remote.Image(parsed, remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layers[1].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("reading a blob through the proxy: %v, want a checksum error", err)
		}
	})

	t.Run("stalling proxy", func(t *testing.T) {
		t.Parallel()
		proxy := startProxy(t, plain, stallBlobs)
		parsed, err := name.ParseReference(proxy.Ref("harness/oci:v1"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(checkContext(t))
		img, err := remote.Image(parsed, remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layers[1].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		<-proxy.BlobRequested
		cancel()
		if _, err := io.ReadAll(rc); err == nil {
			t.Error("a stalled blob read to the end")
		}
	})

	t.Run("docker login", func(t *testing.T) {
		t.Parallel()
		secured := startRegistry(t, registryOptions{htpasswd: true})
		cli := newBareCLI(t)
		res := cli.RunDockerStdin(t, "wrong\n", "login", "--username", secured.User, "--password-stdin", secured.Host)
		if res.ExitCode == 0 {
			t.Errorf("login with a wrong password succeeded:\n%s", res)
		}
		cli.Login(t, secured)
		if !strings.Contains(cli.readConfig(t), secured.Host) {
			t.Errorf("config.json has no entry for %s", secured.Host)
		}
	})
}
