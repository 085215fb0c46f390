package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// copyTag copies what from points at to the tag to, by hand (a signature
// moved onto another image).
func copyTag(t testing.TB, r *Registry, from, to string) {
	t.Helper()
	ctx := checkContext(t)
	src, err := name.ParseReference(from)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.ParseReference(to)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(src, r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(dst, desc, r.remoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}
}

func sigTag(d v1.Hash) string { return "sha256-" + d.Hex + ".sig" }

// signedImages is a source registry with images signed by cosign for real.
type signedImages struct {
	src                              *Registry
	cosign                           cosignDir
	pub, otherPub                    string
	signed, unsigned, byOther, moved v1.Hash
}

// pushSigned pushes and signs: a multi-arch index signed by pub; one unsigned;
// one signed by another key; one carrying, under its own .sig tag, the
// signature of the first (moved onto another digest by hand).
func pushSigned(t *testing.T, src *Registry) signedImages {
	t.Helper()
	s := signedImages{src: src, cosign: newCosignDir(t)}
	s.pub = s.cosign.keyPair(t, "publisher")
	s.otherPub = s.cosign.keyPair(t, "stranger")
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Seed: 241}
	push := func(tag string, seed int64) v1.Hash {
		o := opts
		o.Seed = seed
		return pushFixture(t, src, src.Ref("app:"+tag), o, false)
	}
	s.signed, s.unsigned, s.byOther, s.moved = push("signed", 241), push("unsigned", 242), push("other", 243), push("moved", 244)
	s.cosign.sign(t, s.pub, src.Ref("app@"+s.signed.String()))
	s.cosign.sign(t, s.otherPub, src.Ref("app@"+s.byOther.String()))
	copyTag(t, src, src.Ref("app:"+sigTag(s.signed)), src.Ref("app:"+sigTag(s.moved)))
	return s
}

// TestVerifyKey copies only what the publisher signed, with signatures cosign
// made: one image at a time, in a batch, from a sync file, and through a dry
// run; and says why each refused image was refused.
func TestVerifyKey(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	s := pushSigned(t, src)
	cli := NewCLI(t)

	t.Run("signed index", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--verify-key", s.pub, src.Ref("app:signed"), dst.Ref("one/app:signed")).AssertSuccess(t)
		assertDigest(t, dst, dst.Ref("one/app:signed"), s.signed)
		if !strings.Contains(res.Stderr, "verified: ") || !strings.Contains(res.Stderr, "signed by "+s.pub+" over "+s.signed.String()) {
			t.Errorf("stderr does not say who signed it:\n%s", res.Stderr)
		}
		// cosign agrees that the copy is the signed digest (the signature
		// itself stays behind without --referrers).
		s.cosign.verify(t, s.pub, src.Ref("app@"+s.signed.String()))
	})

	for _, tc := range []struct {
		tag, want string
	}{
		{"unsigned", "the image has no signature"},
		{"other", "it has 1 signature, made by another key"},
		{"moved", "is over another digest, " + s.signed.String()},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			res := cli.RunDocker(t, "migrate", "--verify-key", s.pub, src.Ref("app:"+tc.tag), dst.Ref("one/app:"+tc.tag)).AssertExit(t, 1)
			msg := strings.TrimSpace(res.Stderr[strings.LastIndex(strings.TrimSpace(res.Stderr), "\n")+1:])
			for _, w := range []string{"app:" + tc.tag + " was not copied: it is not signed by " + s.pub, tc.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("last line %q lacks %q", msg, w)
				}
			}
			assertAbsent(t, dst, dst.Ref("one/app:"+tc.tag))
		})
	}

	t.Run("one of several keys", func(t *testing.T) {
		cli.RunDocker(t, "migrate", "--verify-key", s.pub, "--verify-key", s.otherPub, src.Ref("app:other"), dst.Ref("keys/app:other")).AssertSuccess(t)
		assertDigest(t, dst, dst.Ref("keys/app:other"), s.byOther)
	})

	t.Run("platform subset", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--verify-key", s.pub, "--platform", "linux/amd64", src.Ref("app:signed"), dst.Ref("subset/app:signed")).AssertSuccess(t)
		if !strings.Contains(res.Stderr, "the signature is over the source's digest "+s.signed.String()) || !strings.Contains(res.Stderr, "is not the signed one") {
			t.Errorf("stderr does not say the copy's digest is not the signed one:\n%s", res.Stderr)
		}
	})

	t.Run("batch", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--verify-key", s.pub, src.Ref("app:signed"), src.Ref("app:unsigned"), src.Ref("app:other"), src.Ref("app:moved"), dst.Host+"/batch").AssertExit(t, 1)
		for _, w := range []string{"copied                 1", "not signed             3", "3 of 4 images did not arrive"} {
			if !strings.Contains(res.Stderr, w) {
				t.Errorf("summary lacks %q:\n%s", w, res.Stderr)
			}
		}
		assertDigest(t, dst, dst.Ref("batch/app:signed"), s.signed)
		for _, tag := range []string{"unsigned", "other", "moved"} {
			assertAbsent(t, dst, dst.Ref("batch/app:"+tag))
		}
	})

	t.Run("dry run", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--dry-run", "--verify-key", s.pub, src.Ref("app:signed"), src.Ref("app:unsigned"), dst.Host+"/dry").AssertExit(t, 1)
		for _, w := range []string{"verified: ", "app:unsigned would not be copied", "planned                1", "not signed             1"} {
			if !strings.Contains(res.Stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
			}
		}
		assertAbsent(t, dst, dst.Ref("dry/app:signed"))
	})

	t.Run("sync file", func(t *testing.T) {
		dir := t.TempDir()
		// Relative key paths are relative to the sync file.
		for _, k := range []string{s.pub, s.otherPub} {
			data, err := os.ReadFile(k)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "keys", filepath.Base(k)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(dir, "mirror.yaml")
		yaml := fmt.Sprintf(`defaults:
  verify: {keys: [keys/publisher.pub]}
sync:
  - source: %s
  - source: %s
    verify:
      keys: [keys/stranger.pub]
  - source: %s
`, src.Ref("app:signed"), src.Ref("app:other"), src.Ref("app:unsigned"))
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		res := cli.RunDocker(t, "migrate", "-f", file, dst.Host+"/yaml").AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "not signed             1") || !strings.Contains(res.Stderr, "copied                 2") {
			t.Errorf("summary:\n%s", res.Stderr)
		}
		assertDigest(t, dst, dst.Ref("yaml/app:signed"), s.signed)
		assertDigest(t, dst, dst.Ref("yaml/app:other"), s.byOther)
		assertAbsent(t, dst, dst.Ref("yaml/app:unsigned"))
	})
}

// TestVerifyKeyCheck audits mirrors: --check --verify-key says whether DST
// carries a signature by the key over the digest it serves.
func TestVerifyKeyCheck(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	s := pushSigned(t, src)
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", "--referrers", src.Ref("app:signed"), dst.Ref("with/app:signed")).AssertSuccess(t)
	cli.RunDocker(t, "migrate", src.Ref("app:signed"), dst.Ref("without/app:signed")).AssertSuccess(t)

	res := cli.RunDocker(t, "migrate", "--check", "--verify-key", s.pub, src.Ref("app:signed"), dst.Ref("with/app:signed")).AssertSuccess(t)
	if !strings.HasPrefix(res.Stdout, "equal ") {
		t.Errorf("stdout %q, want equal", res.Stdout)
	}
	res = cli.RunDocker(t, "migrate", "--check", "--verify-key", s.pub, src.Ref("app:signed"), dst.Ref("without/app:signed")).AssertExit(t, 1)
	if !strings.HasPrefix(res.Stdout, "not-signed ") || !strings.Contains(res.Stderr, "the image has no signature") {
		t.Errorf("stdout %q, stderr:\n%s", res.Stdout, res.Stderr)
	}
	res = cli.RunDocker(t, "migrate", "--check", "--verify-key", s.otherPub, src.Ref("app:signed"), dst.Ref("with/app:signed")).AssertExit(t, 1)
	if !strings.Contains(res.Stderr, "made by another key") {
		t.Errorf("stderr:\n%s", res.Stderr)
	}
}

// TestVerifyKeyThroughArchive carries a signed image across an air gap in
// an OCI archive with its signature (--referrers), and verifies it on the
// way in.
func TestVerifyKeyThroughArchive(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	s := pushSigned(t, src)
	cli := NewCLI(t)
	archive := filepath.Join(t.TempDir(), "gap.tar")
	cli.RunDocker(t, "migrate", "--verify-key", s.pub, "--referrers", src.Ref("app:signed"), "oci-archive:"+archive).AssertSuccess(t)
	res := cli.RunDocker(t, "migrate", "--verify-key", s.pub, "--referrers", "oci-archive:"+archive, dst.Host+"/inside").AssertSuccess(t)
	if !strings.Contains(res.Stderr, "verified: ") {
		t.Errorf("stderr:\n%s", res.Stderr)
	}
	ref := dst.Ref("inside/app:signed")
	assertDigest(t, dst, ref, s.signed)
	// The signature arrived too: cosign verifies the copy.
	s.cosign.verify(t, s.pub, dst.Ref("inside/app@"+s.signed.String()))

	// Without the signature in the archive, the image does not cross.
	bare := filepath.Join(t.TempDir(), "bare.tar")
	cli.RunDocker(t, "migrate", src.Ref("app:signed"), "oci-archive:"+bare).AssertSuccess(t)
	cli.RunDocker(t, "migrate", "--verify-key", s.pub, "oci-archive:"+bare, dst.Host+"/bare").AssertExit(t, 1)
	assertAbsent(t, dst, dst.Ref("bare/app:signed"))
}

// TestVerifyKeyBadInput refuses key files that are not public keys: one
// sentence naming the file, exit 125, nothing written.
func TestVerifyKeyBadInput(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	c := newCosignDir(t)
	pub := c.keyPair(t, "publisher")
	dir := t.TempDir()
	cert, tlsKey := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "tls.key")
	selfSignedCert(t, cert, tlsKey, "127.0.0.1")
	garbage := filepath.Join(dir, "garbage.pub")
	if err := os.WriteFile(garbage, []byte("not a key at all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pushFixture(t, src, src.Ref("app:1"), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 245}, false)
	cli := NewCLI(t)
	for _, tc := range []struct{ name, key, want string }{
		{"cosign private key", strings.TrimSuffix(pub, ".pub") + ".key", "is a private key (ENCRYPTED SIGSTORE PRIVATE KEY)"},
		{"tls private key", tlsKey, "is a private key (EC PRIVATE KEY)"},
		{"certificate", cert, "is a certificate"},
		{"garbage", garbage, "is not a PEM public key"},
		{"missing", filepath.Join(dir, "missing.pub"), "cannot be read (no such file or directory)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := cli.RunDocker(t, "migrate", "--verify-key", tc.key, src.Ref("app:1"), dst.Ref("bad/app:1")).AssertExit(t, 125)
			if !strings.Contains(res.Stderr, "--verify-key: key file "+tc.key+" "+tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, res.Stderr)
			}
			assertAbsent(t, dst, dst.Ref("bad/app:1"))
		})
	}
	t.Run("sync file", func(t *testing.T) {
		file := filepath.Join(dir, "bad.yaml")
		yaml := fmt.Sprintf("sync:\n  - source: %s\n    verify: {keys: [%s]}\n", src.Ref("app:1"), cert)
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		res := cli.RunDocker(t, "migrate", "-f", file, dst.Host+"/badyaml").AssertExit(t, 125)
		if !strings.Contains(res.Stderr, file+" line 2: verify: key file "+cert+" is a certificate") {
			t.Errorf("stderr:\n%s", res.Stderr)
		}
		assertAbsent(t, dst, dst.Ref("badyaml/app:1"))
	})
}

// TestVerifyKeyReferrers verifies the signatures cosign stores as OCI 1.1
// referrers: its newer Sigstore bundle (--new-bundle-format) and its classic
// signature as a referring artifact (--registry-referrers-mode=oci-1-1), on a
// registry with the referrers API.
func TestVerifyKeyReferrers(t *testing.T) {
	src := startRegistry(t, registryOptions{kind: ociRegistry})
	dst := startRegistry(t, registryOptions{})
	c := newCosignDir(t)
	pub := c.keyPair(t, "publisher")
	other := c.keyPair(t, "stranger")
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 246}
	bundled := pushFixture(t, src, src.Ref("app:bundle"), opts, false)
	opts.Seed = 247
	artifact := pushFixture(t, src, src.Ref("app:artifact"), opts, false)
	c.sign(t, pub, src.Ref("app@"+bundled.String()), "--new-bundle-format", "--use-signing-config=false")
	c.run(t, []string{"COSIGN_EXPERIMENTAL=1"}, "sign", "--yes", "--key", strings.TrimSuffix(pub, ".pub")+".key", "--tlog-upload=false",
		"--allow-insecure-registry", "--allow-http-registry", "--registry-referrers-mode=oci-1-1", src.Ref("app@"+artifact.String()))
	for _, tc := range []struct{ tag string }{{"bundle"}, {"artifact"}} {
		t.Run(tc.tag, func(t *testing.T) {
			if _, ok := headDigest(t, src, src.Ref("app:sha256-"+map[string]v1.Hash{"bundle": bundled, "artifact": artifact}[tc.tag].Hex+".sig")); ok {
				t.Fatalf("cosign wrote a .sig tag: this test is meant for referrers")
			}
			cli := NewCLI(t)
			res := cli.RunDocker(t, "migrate", "--verify-key", pub, src.Ref("app:"+tc.tag), dst.Ref("ref/app:"+tc.tag)).AssertSuccess(t)
			if !strings.Contains(res.Stderr, "(referrer sha256:") {
				t.Errorf("stderr does not name the referrer that verified:\n%s", res.Stderr)
			}
			res = cli.RunDocker(t, "migrate", "--verify-key", other, src.Ref("app:"+tc.tag), dst.Ref("other/app:"+tc.tag)).AssertExit(t, 1)
			if !strings.Contains(res.Stderr, "made by another key") {
				t.Errorf("stderr:\n%s", res.Stderr)
			}
			assertAbsent(t, dst, dst.Ref("other/app:"+tc.tag))
		})
	}
}

// TestVerifyKeyAlgorithms verifies cosign's signatures made with Ed25519 and
// RSA keys as well as its own ECDSA P-256 ones, and says, after a
// --media-types conversion, that the copy's digest is not the signed one.
func TestVerifyKeyAlgorithms(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	c := newCosignDir(t)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{"ecdsa": c.keyPair(t, "ecdsa"), "ed25519": c.importKey(t, "ed25519", ed), "rsa": c.importKey(t, "rsa", rs)}
	cli := NewCLI(t)
	seed := int64(250)
	for _, alg := range []string{"ecdsa", "ed25519", "rsa"} {
		t.Run(alg, func(t *testing.T) {
			seed++
			d := pushFixture(t, src, src.Ref("app:"+alg), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: seed}, false)
			c.sign(t, keys[alg], src.Ref("app@"+d.String()))
			cli.RunDocker(t, "migrate", "--verify-key", keys[alg], src.Ref("app:"+alg), dst.Ref("alg/app:"+alg)).AssertSuccess(t)
			assertDigest(t, dst, dst.Ref("alg/app:"+alg), d)
			for other, pub := range keys {
				if other != alg {
					cli.RunDocker(t, "migrate", "--verify-key", pub, src.Ref("app:"+alg), dst.Ref("wrong/app:"+alg)).AssertExit(t, 1)
				}
			}
			assertAbsent(t, dst, dst.Ref("wrong/app:"+alg))
		})
	}
	t.Run("media types", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--verify-key", keys["ecdsa"], "--media-types", "docker", src.Ref("app:ecdsa"), dst.Ref("docker/app:ecdsa")).AssertSuccess(t)
		if !strings.Contains(res.Stderr, "is not the signed one") {
			t.Errorf("stderr does not say the converted digest is not the signed one:\n%s", res.Stderr)
		}
	})
}
