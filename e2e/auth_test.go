package e2e

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuth copies into and out of a registry with htpasswd auth, with and
// without `docker login`, and checks the password never shows.
func TestAuth(t *testing.T) {
	t.Parallel()
	plain := startRegistry(t, registryOptions{})
	secured := startRegistry(t, registryOptions{htpasswd: true})
	srcRef := plain.Ref("e2e/single:v1")
	digest := pushFixture(t, plain, srcRef, fixtureCases[2].opts, true)

	// noSecret fails the test if the password appears in any output.
	noSecret := func(t *testing.T, res Result) Result {
		t.Helper()
		if strings.Contains(res.Stdout+res.Stderr, secured.Password) {
			t.Errorf("the password appears in the output of %s", res.Command())
		}
		return res
	}
	hint := "unauthorized: run 'docker login " + secured.Host + "'"

	t.Run("without login", func(t *testing.T) {
		t.Parallel()
		cli := NewCLI(t)
		dstRef := secured.Ref("mirror/nologin:v1")
		for _, args := range [][]string{
			{"migrate", srcRef, dstRef},
			{"-D", "migrate", srcRef, dstRef},
		} {
			res := noSecret(t, cli.RunDocker(t, args...))
			if res.ExitCode == 0 {
				t.Fatalf("copy without login succeeded:\n%s", res)
			}
			if !strings.Contains(res.Stderr, hint) {
				t.Errorf("stderr lacks %q:\n%s", hint, res)
			}
		}
		assertAbsent(t, secured, dstRef)
	})

	t.Run("source without login", func(t *testing.T) {
		t.Parallel()
		cli := NewCLI(t)
		securedSrc := secured.Ref("e2e/secret:v1")
		pushFixture(t, secured, securedSrc, fixtureCases[2].opts, true)
		dstRef := plain.Ref("mirror/from-secured:v1")
		res := noSecret(t, cli.RunDocker(t, "migrate", securedSrc, dstRef))
		if res.ExitCode == 0 {
			t.Fatalf("copy from a secured registry without login succeeded:\n%s", res)
		}
		if !strings.Contains(res.Stderr, hint) {
			t.Errorf("stderr lacks %q:\n%s", hint, res)
		}
		assertAbsent(t, plain, dstRef)
	})

	t.Run("after docker login", func(t *testing.T) {
		t.Parallel()
		cli := NewCLI(t)
		noSecret(t, cli.Login(t, secured))
		dstRef := secured.Ref("mirror/login:v1")
		res := noSecret(t, cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t))
		assertResultLine(t, res, dstRef, digest)
		assertDigest(t, secured, dstRef, digest)
		assertComplete(t, secured, dstRef)
		// -D must not print the credentials either.
		noSecret(t, cli.RunDocker(t, "-D", "migrate", srcRef, dstRef).AssertSuccess(t))
	})

	t.Run("docker --config", func(t *testing.T) {
		t.Parallel()
		// The login lives in another config directory (which holds the plugin
		// too: --config also moves where docker looks for plugins).
		other := NewCLI(t)
		noSecret(t, other.Login(t, secured))
		cli := NewCLI(t)
		dstRef := secured.Ref("mirror/config:v1")
		res := noSecret(t, cli.RunDocker(t, "--config", other.ConfigDir, "migrate", srcRef, dstRef).AssertSuccess(t))
		assertResultLine(t, res, dstRef, digest)
		assertDigest(t, secured, dstRef, digest)
	})
}

// TestAuthCredentialProblems: stored credentials that the registry refuses,
// and a credential helper that is not installed, each get a sentence that
// says so (not the sentence for having no credentials); a registry that asks
// for none is copied from all the same.
func TestAuthCredentialProblems(t *testing.T) {
	t.Parallel()
	plain := startRegistry(t, registryOptions{})
	secured := startRegistry(t, registryOptions{htpasswd: true})
	srcRef := plain.Ref("e2e/creds:v1")
	digest := pushFixture(t, plain, srcRef, fixtureCases[2].opts, true)

	t.Run("stored credentials refused", func(t *testing.T) {
		t.Parallel()
		cli := NewCLI(t)
		cli.Login(t, secured)
		// The password changes on the server's side: rewrite the stored one.
		conf := cli.readConfig(t)
		auth := base64.StdEncoding.EncodeToString([]byte(secured.User + ":" + secured.Password))
		wrong := base64.StdEncoding.EncodeToString([]byte(secured.User + ":not-the-password"))
		if !strings.Contains(conf, auth) {
			t.Fatalf("config.json does not hold the login as auths:\n%s", conf)
		}
		writeFile(t, filepath.Join(cli.ConfigDir, "config.json"), strings.ReplaceAll(conf, auth, wrong))
		dstRef := secured.Ref("mirror/refused:v1")
		res := cli.RunDocker(t, "migrate", srcRef, dstRef).AssertExit(t, 1)
		want := secured.Host + " refused the credentials stored for it; run 'docker login " + secured.Host + "' again"
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		if strings.Contains(res.Stderr, "not-the-password") {
			t.Errorf("the stored password appears in the output:\n%s", res)
		}
		assertAbsent(t, secured, dstRef)
	})

	t.Run("credential helper missing", func(t *testing.T) {
		t.Parallel()
		cli := NewCLI(t)
		writeFile(t, filepath.Join(cli.ConfigDir, "config.json"), `{"credsStore": "nosuchhelper"}`)
		// A registry that needs no credentials: a warning, and the copy.
		dstRef := plain.Ref("mirror/nohelper:v1")
		res := cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		for _, want := range []string{"warning: cannot read the credentials for " + plain.Host, "docker-credential-nosuchhelper", `remove "credsStore"`} {
			if !strings.Contains(res.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res)
			}
		}
		// A registry that needs them: the failure names the helper.
		dstRef = secured.Ref("mirror/nohelper:v1")
		res = cli.RunDocker(t, "migrate", srcRef, dstRef).AssertExit(t, 1)
		want := secured.Host + " needs credentials, and they could not be read: the credential helper docker-credential-nosuchhelper"
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		assertAbsent(t, secured, dstRef)
	})
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
