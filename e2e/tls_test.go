package e2e

import (
	"strings"
	"testing"
)

// TestTLSTrust copies into a registry whose certificate no system pool
// trusts: refused with the sentence that names the fix, then accepted with
// its CA in DOCKER_CONFIG/certs.d/HOST/ca.crt (as the docker CLI and engine
// read it), or with --insecure=HOST.
func TestTLSTrust(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{tls: true})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, fixtureCases[1].opts, false)

	t.Run("unknown authority", func(t *testing.T) {
		cli := NewCLI(t)
		dstRef := dst.Ref("mirror/untrusted:v1")
		res := cli.RunDocker(t, "migrate", srcRef, dstRef)
		assertOneLineError(t, res)
		for _, want := range []string{"unknown authority", "certs.d/" + dst.Host + "/ca.crt", "--insecure=" + dst.Host} {
			if !strings.Contains(res.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res)
			}
		}
		assertAbsent(t, dst, dstRef)
	})

	t.Run("CA in certs.d", func(t *testing.T) {
		cli := NewCLI(t)
		trustCA(t, cli, dst)
		dstRef := dst.Ref("mirror/trusted:v1")
		res := cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		assertComplete(t, dst, dstRef)
	})

	t.Run("--insecure", func(t *testing.T) {
		cli := NewCLI(t)
		dstRef := dst.Ref("mirror/insecure:v1")
		res := cli.RunDocker(t, "migrate", "--insecure="+dst.Host, srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		assertDigest(t, dst, dstRef, digest)
	})
}
