package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestPlainHTTPRemoteRegistry copies to a registry that speaks plain HTTP on
// an address that is not loopback (a test host of its own): refused unless
// the user names it with --insecure, as the engine refuses it unless it is in
// insecure-registries.
func TestPlainHTTPRemoteRegistry(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	remote := startRegistry(t, registryOptions{host: startTestHost(t)})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, fixtureCases[1].opts, false)
	cli := NewCLI(t)

	dstRef := remote.Ref("mirror/app:v1")
	res := cli.RunDocker(t, "migrate", srcRef, dstRef)
	assertOneLineError(t, res)
	if want := "registry " + remote.Host + " is not served over HTTPS; pass --insecure=" + remote.Host; !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res)
	}
	assertAbsent(t, remote, dstRef)

	for _, flag := range []string{"--insecure=" + remote.Host, "--insecure"} {
		res := cli.RunDocker(t, "migrate", flag, srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
	}
	assertComplete(t, remote, dstRef)
}

// TestManifestStrategyEngineRefusesHTTP: the engine will not push to a plain
// HTTP registry that is not in its insecure-registries. The plugin (allowed
// with --insecure) says so in one sentence naming the daemon.json setting.
func TestManifestStrategyEngineRefusesHTTP(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	remote := startRegistry(t, registryOptions{host: startTestHost(t)})
	srcRef := src.Ref("e2e/app:v1")
	pushFixture(t, src, srcRef, fixtureCases[1].opts, false)
	cli := NewCLI(t).WithEngine(host)
	before := engineImages(t, cli)

	dstRef := remote.Ref("mirror/app:v1")
	res := cli.RunDocker(t, "migrate", "--strategy", "manifest", "--progress", "quiet", "--insecure="+remote.Host, srcRef, dstRef)
	assertOneLineError(t, res)
	for _, want := range []string{remote.Host, `"insecure-registries"`, "daemon.json"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	}
	assertAbsent(t, remote, dstRef)
	if after := engineImages(t, cli); !slices.Equal(after, before) {
		t.Errorf("a failed run left images in the engine: %v", after)
	}
}
