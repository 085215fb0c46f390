package migrate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// cosignSign writes the signature `cosign sign --key` writes for repo@digest:
// a simple-signing payload at the sha256-HEX.sig tag, signed with priv.
func cosignSign(t *testing.T, repo, digest string, priv *ecdsa.PrivateKey) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"critical": map[string]any{
		"identity": map[string]string{"docker-reference": repo},
		"image":    map[string]string{"docker-manifest-digest": digest},
		"type":     "cosign container image signature",
	}})
	s, err := signature.LoadSigner(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignMessage(strings.NewReader(string(payload)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, repo+":sha256-"+strings.TrimPrefix(digest, "sha256:")+".sig"), img); err != nil {
		t.Fatal(err)
	}
}

func loadTestKey(t *testing.T, priv *ecdsa.PrivateKey) verify.Keys {
	t.Helper()
	pem, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(p, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	ks, err := verify.LoadKeys([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestVerifyKey(t *testing.T) {
	host, rec := newRegistry(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := loadTestKey(t, key)
	three := eight
	three.Platforms = eight.Platforms[:3]

	signed := seed(t, host+"/src/signed:1", three)
	cosignSign(t, host+"/src/signed", signed.String(), key)
	three.Seed = 2
	seed(t, host+"/src/unsigned:1", three)

	withKeys := func(o *Options) { o.VerifyKeys = keys }

	t.Run("signed is copied", func(t *testing.T) {
		res, err := run(t, host+"/src/signed:1", host+"/dst/signed:1", withKeys)
		if err != nil {
			t.Fatal(err)
		}
		if res.Signature == nil || !res.Signature.Signed || res.DestinationDigest != signed.String() {
			t.Fatalf("signature %+v, destination %s", res.Signature, res.DestinationDigest)
		}
	})

	t.Run("unsigned is not copied", func(t *testing.T) {
		rec.reset()
		res, err := run(t, host+"/src/unsigned:1", host+"/dst/unsigned:1", withKeys)
		if !IsNotSigned(err) || !errdefs.Is(err, errdefs.Rejected) {
			t.Fatalf("err = %v, want a NotSignedError", err)
		}
		if msg := errdefs.Message(err); !strings.Contains(msg, "was not copied: it is not signed by "+keys[0].Path) || !strings.Contains(msg, "no signature") {
			t.Errorf("message %q", msg)
		}
		if res == nil || res.Signature == nil || res.Signature.Signed {
			t.Errorf("result %+v", res)
		}
		if n := rec.count("PUT", "/dst/"); n != 0 {
			t.Errorf("%d PUTs at the destination, want none", n)
		}
		if n := rec.count("POST", "/dst/"); n != 0 {
			t.Errorf("%d uploads started at the destination, want none", n)
		}
	})

	t.Run("a platform subset says the digest is not the signed one", func(t *testing.T) {
		res, err := run(t, host+"/src/signed:1", host+"/dst/subset:1", func(o *Options) {
			withKeys(o)
			o.Platforms = mustPlatforms(t, "linux/amd64")
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.DigestChanged || !strings.Contains(res.Signature.Note, "is not the signed one") || !strings.Contains(res.Signature.Note, signed.String()) {
			t.Errorf("note %q", res.Signature.Note)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		rec.reset()
		_, err := run(t, host+"/src/unsigned:1", host+"/dst/dry:1", func(o *Options) { withKeys(o); o.DryRun = true })
		if !IsNotSigned(err) || !strings.Contains(errdefs.Message(err), "would not be copied") {
			t.Fatalf("err = %v", err)
		}
		res, _ := run(t, host+"/src/signed:1", host+"/dst/dry:1", func(o *Options) { withKeys(o); o.DryRun = true })
		if res == nil || res.Signature == nil || !res.Signature.Signed {
			t.Fatalf("dry run of the signed image: %+v", res)
		}
		if n := rec.count("PUT", "/dst/") + rec.count("POST", "/dst/"); n != 0 {
			t.Errorf("a dry run wrote %d times", n)
		}
	})
}
