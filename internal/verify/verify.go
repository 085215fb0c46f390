package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/in-toto/in-toto-golang/in_toto"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"
)

// What cosign writes, as its own code names it.
const (
	// signatureAnnotation holds a simple-signing layer's base64 signature.
	signatureAnnotation = "dev.cosignproject.cosign/signature"
	// certificateAnnotation marks a keyless (Fulcio) signature.
	certificateAnnotation = "dev.sigstore.cosign/certificate"
	// SignatureArtifactType is a cosign signature stored as an OCI 1.1
	// referrer (cosign sign --registry-referrers-mode=oci-1-1).
	SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// bundleArtifactPrefix starts the artifactType of a Sigstore bundle
	// (cosign's newer format, application/vnd.dev.sigstore.bundle.v0.3+json).
	bundleArtifactPrefix = "application/vnd.dev.sigstore.bundle"
	// bundlePredicateAnnotation names a bundle's in-toto predicate type on
	// its manifest, so attestations can be told from signatures unread.
	bundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"
	// signPredicateType is the predicate of a cosign image signature in a
	// bundle: an in-toto statement whose subject is the signed digest.
	signPredicateType = "https://sigstore.dev/cosign/sign/v1"
	inTotoPayloadType = "application/vnd.in-toto+json"
	// emptyConfigType is an OCI artifact's config, which some registries
	// list as its artifactType.
	emptyConfigType = "application/vnd.oci.empty.v1+json"
)

// Bounds on what a registry can make this read.
const (
	maxSignatures = 100     // signature layers and bundles examined per image
	maxBlobSize   = 4 << 20 // a payload or a bundle is a few KiB
)

// Lister lists the manifests that refer to d in s (the OCI 1.1 referrers API
// and its sha256-HEX fallback tag): what --referrers copies.
type Lister func(ctx context.Context, s store.Store, d v1.Hash) ([]v1.Descriptor, error)

// Request is one image to verify.
type Request struct {
	Store  store.Store
	Digest v1.Hash
	// Repository is the image's repository (docker.io/library/nginx): a
	// signature's docker-reference is shown when it names another.
	Repository string
	Keys       Keys
	// Referrers, when set, finds cosign's referrer signatures and bundles.
	Referrers Lister
}

// Verdict is what was found for one image; --format json prints it.
type Verdict struct {
	Signed bool `json:"signed"`
	// Digest is the digest the signature must be over.
	Digest string `json:"digest"`
	// Key is the key file that verified it.
	Key string `json:"key,omitempty"`
	// Where is the signature that did: "tag sha256-HEX.sig" or "referrer sha256:…".
	Where string `json:"where,omitempty"`
	// DockerReference is the signed payload's docker-reference when it names
	// another repository than the image's.
	DockerReference string `json:"dockerReference,omitempty"`
	// Found says, when not signed, what was there instead.
	Found string `json:"found,omitempty"`
	// Keys are the key files tried.
	Keys []string `json:"keys"`
	// Note says, when the copy's digest is not the signed one, that the
	// signature does not hold at the destination.
	Note string `json:"note,omitempty"`
}

// String is the verdict in words, after "signed"/"not signed".
func (v *Verdict) String() string {
	if v.Signed {
		s := fmt.Sprintf("signed by %s over %s (%s)", v.Key, v.Digest, v.Where)
		if v.DockerReference != "" {
			s += fmt.Sprintf("; the signature names it %s", v.DockerReference)
		}
		return s
	}
	return fmt.Sprintf("not signed by %s over %s: %s", keyWord(v.Keys), v.Digest, v.Found)
}

func keyWord(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	return "any of " + strings.Join(keys, ", ")
}

// candidate is one signature found, checked against every key.
type candidate struct {
	where string
	// verified is the key that verified the signature, nil when none did.
	verified *Key
	// digests are what the verified payload says it signs.
	digests   []string
	reference string
	keyless   bool
}

// Image verifies one image: a signature by one of the keys over exactly
// req.Digest. An error is a failure to read (the registry, a broken
// signature manifest); an unsigned image is a Verdict with Signed false.
func Image(ctx context.Context, req Request) (*Verdict, error) {
	v := &Verdict{Digest: req.Digest.String(), Keys: req.Keys.Paths()}

	// cosign's tag (sha256-HEX.sig, a manifest of simple-signing layers) and
	// the referrers are asked for at once: each is a round trip.
	tag := req.Digest.Algorithm + "-" + req.Digest.Hex + ".sig"
	var (
		sigBody []byte
		refs    []v1.Descriptor
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		body, _, err := req.Store.GetManifest(gctx, tag)
		switch {
		case errdefs.Is(err, errdefs.NotFound):
		case err != nil:
			return fmt.Errorf("read the signature tag %s: %w", tag, err)
		default:
			sigBody = body
		}
		return nil
	})
	if req.Referrers != nil {
		g.Go(func() error {
			var err error
			if refs, err = req.Referrers(gctx, req.Store, req.Digest); err != nil {
				return fmt.Errorf("list the referrers of %s: %w", req.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	var found []candidate
	if sigBody != nil {
		cs, err := simpleSigning(ctx, req, sigBody, "tag "+tag)
		if err != nil {
			return nil, err
		}
		found = append(found, cs...)
	}
	for _, r := range refs {
		if len(found) >= maxSignatures {
			break
		}
		cs, err := referrer(ctx, req, r)
		if err != nil {
			return nil, err
		}
		found = append(found, cs...)
	}

	for _, c := range found {
		if c.verified == nil {
			continue
		}
		for _, d := range c.digests {
			if d == v.Digest {
				v.Signed, v.Key, v.Where = true, c.verified.Path, c.where
				if c.reference != "" && !sameRepository(c.reference, req.Repository) {
					v.DockerReference = c.reference
				}
				return v, nil
			}
		}
	}
	v.Found = describe(found)
	return v, nil
}

// describe says what was found when nothing verified: no signature, a
// signature by another key, or one by the key over another digest.
func describe(found []candidate) string {
	if len(found) == 0 {
		return "the image has no signature (no sha256-HEX.sig tag, no signature among its referrers); check that its publisher signs it, and where"
	}
	for _, c := range found {
		if c.verified != nil {
			other := "no digest"
			if len(c.digests) > 0 {
				other = c.digests[0]
			}
			return fmt.Sprintf("its signature by %s (%s) is over another digest, %s: it was made for another image, so this is not what the publisher signed", c.verified.Path, c.where, other)
		}
	}
	keyless := 0
	for _, c := range found {
		if c.keyless {
			keyless++
		}
	}
	s := fmt.Sprintf("%s, made by another key", wording.Count(len(found), "signature"))
	if keyless > 0 {
		s += fmt.Sprintf(" (%d keyless, with a Fulcio certificate, which docker migrate does not verify yet)", keyless)
	}
	return "it has " + s + "; check that --verify-key names the publisher's key"
}

// sameRepository compares a payload's docker-reference (which may carry a
// tag or digest) with the image's repository.
func sameRepository(ref, repo string) bool {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	norm := func(s string) string {
		s = strings.TrimPrefix(s, "index.docker.io/")
		s = strings.TrimPrefix(s, "docker.io/")
		return strings.TrimPrefix(s, "library/")
	}
	return norm(ref) == norm(repo)
}

// referrer reads one referrer: a cosign signature artifact or a Sigstore
// bundle; anything else (an SBOM, an attestation) is not a signature.
func referrer(ctx context.Context, req Request, r v1.Descriptor) ([]candidate, error) {
	at := string(r.ArtifactType)
	var body []byte
	if at == "" || at == emptyConfigType {
		// Some registries list the config's media type (the empty one, for
		// an artifact) or nothing: the manifest itself says.
		b, _, err := req.Store.GetManifest(ctx, r.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("read the referrer %s of %s: %w", r.Digest, req.Digest, err)
		}
		var m v1.Manifest
		if json.Unmarshal(b, &m) == nil {
			at, body = string(m.ArtifactType), b
			if at == "" {
				at = string(m.Config.MediaType)
			}
			if m.Annotations != nil && r.Annotations == nil {
				r.Annotations = m.Annotations
			}
		}
	}
	switch {
	case at == SignatureArtifactType:
	case strings.HasPrefix(at, bundleArtifactPrefix):
		if pt, ok := r.Annotations[bundlePredicateAnnotation]; ok && pt != signPredicateType {
			return nil, nil // an attestation
		}
	default:
		return nil, nil
	}
	if body == nil {
		b, _, err := req.Store.GetManifest(ctx, r.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("read the referrer %s of %s: %w", r.Digest, req.Digest, err)
		}
		body = b
	}
	where := "referrer " + r.Digest.String()
	if at == SignatureArtifactType {
		return simpleSigning(ctx, req, body, where)
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.Rejected, "the signature %s of %s is not a manifest: %v", r.Digest, req.Digest, err)
	}
	var out []candidate
	for _, l := range m.Layers {
		if !strings.HasPrefix(string(l.MediaType), bundleArtifactPrefix) {
			continue
		}
		data, err := readBlob(ctx, req.Store, l)
		if err != nil {
			return nil, err
		}
		out = append(out, bundle(req, data, where))
	}
	return out, nil
}

// simpleSigning reads cosign's classic signature manifest: each layer is a
// simple-signing payload, its signature in an annotation.
func simpleSigning(ctx context.Context, req Request, body []byte, where string) ([]candidate, error) {
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.Rejected, "the signature manifest %s is not a manifest: %v", where, err)
	}
	var out []candidate
	for _, l := range m.Layers {
		if len(out) >= maxSignatures {
			break
		}
		sigText, ok := l.Annotations[signatureAnnotation]
		if !ok {
			continue
		}
		c := candidate{where: where, keyless: l.Annotations[certificateAnnotation] != ""}
		sig, err := base64.StdEncoding.DecodeString(sigText)
		if err != nil {
			out = append(out, c) // a signature no key verifies
			continue
		}
		data, err := readBlob(ctx, req.Store, l)
		if err != nil {
			return nil, err
		}
		for _, k := range req.Keys {
			if k.verifies(sig, data) {
				c.verified = k
				break
			}
		}
		if c.verified != nil {
			// Read only once verified: the claims of an unverified payload
			// mean nothing.
			var p payload.SimpleContainerImage
			if err := json.Unmarshal(data, &p); err == nil {
				c.digests = []string{p.Critical.Image.DockerManifestDigest}
				c.reference = p.Critical.Identity.DockerReference
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// bundle checks a Sigstore bundle whose DSSE envelope holds an in-toto
// statement of predicate signPredicateType: its subjects are the signed
// digests.
func bundle(req Request, data []byte, where string) candidate {
	c := candidate{where: where}
	var b protobundle.Bundle
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &b); err != nil {
		return c
	}
	vm := b.GetVerificationMaterial()
	c.keyless = vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil
	env := b.GetDsseEnvelope()
	if env == nil {
		return c
	}
	// The envelope as DSSE's JSON form, which sigstore's DSSE verifier reads.
	e := ssldsse.Envelope{PayloadType: env.GetPayloadType(), Payload: base64.StdEncoding.EncodeToString(env.GetPayload())}
	for _, s := range env.GetSignatures() {
		e.Signatures = append(e.Signatures, ssldsse.Signature{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	envJSON, err := json.Marshal(e)
	if err != nil {
		return c
	}
	for _, k := range req.Keys {
		decoded, ok := verifyEnvelope(k, envJSON)
		if !ok {
			continue
		}
		var st in_toto.Statement
		if err := json.Unmarshal(decoded, &st); err != nil || st.PredicateType != signPredicateType {
			continue
		}
		c.verified = k
		for _, s := range st.Subject {
			if hex, ok := s.Digest["sha256"]; ok {
				c.digests = append(c.digests, "sha256:"+hex)
			}
		}
		break
	}
	return c
}

// verifyEnvelope checks a DSSE envelope's signature with k and returns the
// payload it signs.
func verifyEnvelope(k *Key, envJSON []byte) ([]byte, bool) {
	for _, v := range k.verifiers {
		var decoded []byte
		w := sigdsse.WrapVerifier(v, sigdsse.WithExpectedPayloadType(inTotoPayloadType), sigdsse.WithDecodedPayload(&decoded))
		if w.VerifySignature(bytes.NewReader(envJSON), nil) == nil {
			return decoded, true
		}
	}
	return nil, false
}

// readBlob reads a small blob and checks it against its digest.
func readBlob(ctx context.Context, s store.Store, d v1.Descriptor) ([]byte, error) {
	if d.Size > maxBlobSize {
		return nil, errdefs.New(errdefs.Rejected, "the signature blob %s is %d bytes, more than a signature holds: refusing to read it", d.Digest, d.Size)
	}
	rc, err := s.GetBlob(ctx, d.Digest)
	if err != nil {
		return nil, fmt.Errorf("read the signature blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBlobSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the signature blob %s: %w", d.Digest, err)
	}
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil || got != d.Digest {
		return nil, errdefs.New(errdefs.DigestMismatch, "the signature blob %s does not match its digest (it reads as %s)", d.Digest, got)
	}
	return data, nil
}

// referrerTag is a tag cosign or the OCI 1.1 fallback writes beside an image:
// sha256-HEX.sig/.att/.sbom, or sha256-HEX alone.
var referrerTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$`)

// IsReferrerTag reports a tag that holds signatures or attestations of
// another image, not an image of its own.
func IsReferrerTag(tag string) bool { return referrerTag.MatchString(tag) }
