package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// unredactedState matches an upload session's _state whose value is shown.
var unredactedState = regexp.MustCompile(`_state=[^\[]`)

// assertNoSecrets fails the test if any output of res shows the signature of
// a signed storage URL, any other part of its query, or an upload's _state.
func assertNoSecrets(t *testing.T, res Result, signature string) {
	t.Helper()
	all := res.Stdout + res.Stderr
	for _, secret := range []string{signature, "X-Amz-Signature=", "X-Amz-Credential=", "AKIAQUIRKPROXY"} {
		if strings.Contains(all, secret) {
			t.Errorf("the output shows %q:\n%s", secret, res)
		}
	}
	if m := unredactedState.FindString(all); m != "" {
		t.Errorf("the output shows an upload's state (%s…):\n%s", m, res)
	}
}

// TestRedactSignedURLs runs copies whose blobs are redirected to object
// storage with a signed URL, under -D, and greps everything they print for
// the signature: a storage host that refuses every URL (the run fails after
// asking the registry again), one that refuses the first URL only (the run
// succeeds), and a destination that loses answers (upload URLs in retries).
func TestRedactSignedURLs(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/redact:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 41}, false)

	t.Run("storage refuses every URL", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, src, quirk.Options{RedirectBlobs: true, StorageForbidden: -1})
		cli := NewCLI(t)
		dstRef := dst.Ref("redact/refused:v1")
		res := cli.RunDocker(t, "-D", "migrate", "--progress", "plain", proxy.Ref("e2e/redact:v1"), dstRef)
		if res.ExitCode == 0 {
			t.Fatalf("a copy whose storage refuses every URL succeeded:\n%s", res)
		}
		assertNoSecrets(t, res, proxy.Signature)
		last := lastLine(res.Stderr)
		for _, want := range []string{"storage host " + proxy.StorageHost, "refused", proxy.Host} {
			if !strings.Contains(last, want) {
				t.Errorf("the sentence lacks %q: %s", want, last)
			}
		}
		if strings.Contains(last, "docker login") {
			t.Errorf("a refused storage URL is blamed on the login: %s", last)
		}
		if s := proxy.Stats(); s.StorageRefused < 2 {
			t.Errorf("the storage host refused %d GETs: the registry was not asked again", s.StorageRefused)
		}
		assertAbsent(t, dst, dstRef)
	})

	t.Run("storage refuses the first URL", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, src, quirk.Options{RedirectBlobs: true, StorageForbidden: 1})
		cli := NewCLI(t)
		dstRef := dst.Ref("redact/expired-once:v1")
		res := cli.RunDocker(t, "-D", "migrate", proxy.Ref("e2e/redact:v1"), dstRef).AssertSuccess(t)
		assertNoSecrets(t, res, proxy.Signature)
		assertDigest(t, dst, dstRef, digest)
		assertComplete(t, dst, dstRef)
		if s := proxy.Stats(); s.StorageRefused != 1 || s.StorageGets < 2 {
			t.Errorf("storage GETs %d, refused %d; want one refusal and the copy through storage", s.StorageGets, s.StorageRefused)
		}
	})

	t.Run("destination loses answers", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, dst, quirk.Options{LoseAnswers: 0.5, Seed: 3})
		storage := startQuirkProxy(t, src, quirk.Options{RedirectBlobs: true})
		cli := NewCLI(t)
		dstRef := proxy.Ref("redact/lost:v1")
		res := cli.RunDocker(t, "-D", "migrate", storage.Ref("e2e/redact:v1"), dstRef).AssertSuccess(t)
		assertNoSecrets(t, res, storage.Signature)
		if !strings.Contains(res.Stderr, "/blobs/uploads/") {
			t.Errorf("-D printed no upload URL, so the grep proves nothing:\n%s", res)
		}
		if s := proxy.Stats(); s.LostAnswers == 0 {
			t.Errorf("no answer was lost")
		}
		assertDigest(t, dst, dst.Ref("redact/lost:v1"), digest)
	})
}
