package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// signer is a key pair as a test holds it: the signer, and the public key
// loaded as --verify-key loads it.
type signer struct {
	s   signature.Signer
	key *Key
}

func newSigner(t *testing.T, dir, name string, priv crypto.Signer, opts ...signature.LoadOption) signer {
	t.Helper()
	s, err := signature.LoadSignerWithOpts(priv, append([]signature.LoadOption{options.WithHash(crypto.SHA256)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(writePublicKey(t, dir, name, priv.Public()))
	if err != nil {
		t.Fatal(err)
	}
	return signer{s: s, key: k}
}

// simpleSigningPayload is what `cosign sign` signs for an image.
func simpleSigningPayload(t *testing.T, ref string, d v1.Hash) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": ref},
			"image":    map[string]string{"docker-manifest-digest": d.String()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// layer is one signature of a cosign signature manifest.
type layer struct {
	by      signer
	payload []byte
	// keyless adds the certificate a keyless signature carries.
	keyless bool
}

// pushSignature writes cosign's signature manifest to tag with one payload.
func pushSignature(t *testing.T, tag name.Reference, s signer, payload []byte) v1.Hash {
	t.Helper()
	return pushSignatures(t, tag, layer{by: s, payload: payload})
}

// pushSignatures writes cosign's signature manifest to tag: one
// simple-signing layer per payload, its signature in an annotation.
func pushSignatures(t *testing.T, tag name.Reference, layers ...layer) v1.Hash {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	for _, l := range layers {
		p := l.payload
		sig, err := l.by.s.SignMessage(strings.NewReader(string(p)))
		if err != nil {
			t.Fatal(err)
		}
		annotations := map[string]string{signatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
		if l.keyless {
			annotations[certificateAnnotation] = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(p, "application/vnd.dev.cosign.simplesigning.v1+json"),
			Annotations: annotations,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

// pushBundle writes a Sigstore bundle artifact (cosign's newer format) whose
// DSSE envelope signs an in-toto statement over subject, and returns its
// descriptor as the referrers API lists it.
func pushBundle(t *testing.T, repo name.Repository, s signer, subject v1.Hash, predicateType string) v1.Descriptor {
	t.Helper()
	st, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": repo.Name(), "digest": map[string]string{"sha256": subject.Hex}}},
		"predicateType": predicateType,
		"predicate":     map[string]any{},
	})
	env, err := sigdsse.WrapSigner(s.s, inTotoPayloadType).SignMessage(strings.NewReader(string(st)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"mediaType":            "application/vnd.dev.sigstore.bundle.v0.3+json",
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": "test"}},
		"dsseEnvelope":         json.RawMessage(env),
	})
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer: static.NewLayer(b, "application/vnd.dev.sigstore.bundle.v0.3+json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// An artifact without an artifactType field is typed by its config.
	img = mutate.ConfigMediaType(img, "application/vnd.dev.sigstore.bundle.v0.3+json")
	d, _ := img.Digest()
	if err := remote.Write(repo.Digest(d.String()), img); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{Digest: d, MediaType: types.OCIManifestSchema1, ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		Annotations: map[string]string{bundlePredicateAnnotation: predicateType}}
}

func TestImage(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	repo, err := name.NewRepository(u.Host + "/app")
	if err != nil {
		t.Fatal(err)
	}
	two := fixture.Options{Platforms: fixture.EightPlatforms()[:2]}
	push := func(tag string, seed int64) v1.Hash {
		o := two
		o.Seed = seed
		d, err := fixture.PushIndex(ctx, repo.Tag(tag), o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	sigTag := func(d v1.Hash) name.Reference { return repo.Tag("sha256-" + d.Hex + ".sig") }

	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	signEC, signOther := newSigner(t, dir, "cosign.pub", ec), newSigner(t, dir, "other.pub", other)
	signED, signRSA := newSigner(t, dir, "ed.pub", ed), newSigner(t, dir, "rsa.pub", rs)

	signed := push("signed", 1)
	pushSignature(t, sigTag(signed), signEC, simpleSigningPayload(t, repo.Name()+":signed", signed))
	unsigned := push("unsigned", 2)
	byOther := push("other", 3)
	pushSignature(t, sigTag(byOther), signOther, simpleSigningPayload(t, repo.Name()+":other", byOther))
	moved := push("moved", 4)
	pushSignature(t, sigTag(moved), signEC, simpleSigningPayload(t, repo.Name()+":signed", signed))
	elsewhere := push("elsewhere", 5)
	pushSignature(t, sigTag(elsewhere), signEC, simpleSigningPayload(t, "harbor.example/team/app:1", elsewhere))
	several := push("several", 6)
	pushSignatures(t, sigTag(several), layer{by: signOther, payload: simpleSigningPayload(t, repo.Name(), several)},
		layer{by: signOther, payload: simpleSigningPayload(t, repo.Name()+":x", several)}, layer{by: signRSA, payload: simpleSigningPayload(t, repo.Name(), several)})
	keyless := push("keyless", 10)
	pushSignatures(t, sigTag(keyless), layer{by: signOther, payload: simpleSigningPayload(t, repo.Name(), keyless), keyless: true})
	edSigned := push("ed", 7)
	pushSignature(t, sigTag(edSigned), signED, simpleSigningPayload(t, repo.Name(), edSigned))
	// cosign 2.5 and later sign with an Ed25519 key in the prehashed form.
	signEDph := newSigner(t, dir, "edph.pub", ed, options.WithED25519ph())
	edphSigned := push("edph", 11)
	pushSignature(t, sigTag(edphSigned), signEDph, simpleSigningPayload(t, repo.Name(), edphSigned))
	bundled := push("bundled", 8)
	// A registry that lists the config's media type as the artifactType.
	misreported := push("misreported", 9)
	listedAsEmpty := pushBundle(t, repo, signEC, misreported, signPredicateType)
	listedAsEmpty.ArtifactType, listedAsEmpty.Annotations = "application/vnd.oci.empty.v1+json", nil
	bundleRefs := map[v1.Hash][]v1.Descriptor{
		misreported: {listedAsEmpty},
		bundled: {
			pushBundle(t, repo, signEC, bundled, "https://slsa.dev/provenance/v1"),
			pushBundle(t, repo, signEC, bundled, signPredicateType),
		},
		// An attestation by the key is not a signature.
		unsigned: {pushBundle(t, repo, signEC, unsigned, "https://slsa.dev/provenance/v1")},
		// A bundle moved onto another image.
		moved: {pushBundle(t, repo, signOther, signed, signPredicateType)},
	}
	list := func(_ context.Context, _ store.Store, d v1.Hash) ([]v1.Descriptor, error) { return bundleRefs[d], nil }

	src, err := registry.New().Repository(ctx, repo, registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		digest v1.Hash
		keys   Keys
		signed bool
		want   string
	}{
		{"signed", signed, Keys{signEC.key}, true, "signed by " + signEC.key.Path + " over " + signed.String() + " (tag sha256-"},
		{"signed, one of two keys", signed, Keys{signOther.key, signEC.key}, true, "signed by " + signEC.key.Path},
		{"unsigned", unsigned, Keys{signEC.key}, false, "the image has no signature"},
		{"another key", byOther, Keys{signEC.key}, false, "it has 1 signature, made by another key"},
		{"moved", moved, Keys{signEC.key}, false, "is over another digest, " + signed.String()},
		{"moved bundle", moved, Keys{signOther.key}, false, "(referrer sha256:"},
		{"docker-reference differs", elsewhere, Keys{signEC.key}, true, "the signature names it harbor.example/team/app:1"},
		{"third of three signatures", several, Keys{signRSA.key}, true, "signed by " + signRSA.key.Path},
		{"none of three", several, Keys{signEC.key, signED.key}, false, "it has 3 signatures, made by another key"},
		{"keyless", keyless, Keys{signEC.key}, false, "it has 1 signature, made by another key (1 keyless, with a Fulcio certificate, which docker migrate does not verify yet)"},
		{"ed25519", edSigned, Keys{signED.key}, true, "signed by " + signED.key.Path},
		{"ed25519ph", edphSigned, Keys{signEDph.key}, true, "signed by " + signEDph.key.Path},
		{"bundle", bundled, Keys{signEC.key}, true, "(referrer sha256:"},
		{"bundle listed by its config's type", misreported, Keys{signEC.key}, true, "(referrer sha256:"},
		{"bundle, other key", bundled, Keys{signOther.key}, false, "it has 1 signature, made by another key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Image(ctx, Request{Store: src, Digest: tc.digest, Repository: repo.Name(), Keys: tc.keys, Referrers: list})
			if err != nil {
				t.Fatal(err)
			}
			if v.Signed != tc.signed || !strings.Contains(v.String(), tc.want) {
				t.Errorf("verdict %q (signed %v); want signed %v and %q", v, v.Signed, tc.signed, tc.want)
			}
			if !tc.signed && !strings.Contains(v.String(), "not signed by ") {
				t.Errorf("verdict %q does not name the keys tried", v)
			}
		})
	}
}

func TestSameRepository(t *testing.T) {
	for _, tc := range []struct {
		ref, repo string
		want      bool
	}{
		{"nginx:1.27", "index.docker.io/library/nginx", true},
		{"docker.io/library/nginx@sha256:abc", "index.docker.io/library/nginx", true},
		{"localhost:5000/app", "localhost:5000/app", true},
		{"localhost:5000/app:1", "localhost:5000/app", true},
		{"localhost:5000/other:1", "localhost:5000/app", false},
	} {
		if got := sameRepository(tc.ref, tc.repo); got != tc.want {
			t.Errorf("sameRepository(%q, %q) = %v", tc.ref, tc.repo, got)
		}
	}
}
