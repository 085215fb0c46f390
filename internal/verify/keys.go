// Package verify checks that an image carries a cosign signature made by one
// of the user's public keys over exactly the digest that is being copied
// (--verify-key). It reads the signatures where cosign puts them: the
// sha256-HEX.sig tag beside the image, and OCI 1.1 referrers (cosign's
// signature artifacts and its newer Sigstore bundles). It only reads.
//
// Keys, signatures and DSSE envelopes are read and checked by sigstore's own
// Go packages (github.com/sigstore/sigstore: cryptoutils, signature, dsse,
// payload), bundles by its protobuf-specs, in-toto statements by
// in-toto-golang; this package only finds the pieces and decides the verdict.
package verify

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Key is one public key a signature may be made with.
type Key struct {
	// Path is the file the key was read from, as the user named it.
	Path string
	// verifiers check a signature made with the key: one, or for Ed25519
	// two (see LoadKey).
	verifiers []signature.Verifier
}

// verifies reports whether sig is the key's signature over data.
func (k *Key) verifies(sig, data []byte) bool {
	for _, v := range k.verifiers {
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)) == nil {
			return true
		}
	}
	return false
}

// Keys are the keys an image may be signed with: one of them is enough.
type Keys []*Key

// Names lists the key files, for messages: "cosign.pub, team.pub".
func (ks Keys) Names() string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.Path
	}
	return strings.Join(names, ", ")
}

// Paths are the key files, for --format json.
func (ks Keys) Paths() []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Path
	}
	return out
}

// maxKeySize bounds what is read of a key file: a PEM public key is well
// under 2 KiB, even RSA 4096.
const maxKeySize = 64 << 10

// LoadKeys reads each file as a cosign public key. An error is bad input
// (errdefs.InvalidArgument), one sentence naming the file.
func LoadKeys(paths []string) (Keys, error) {
	var ks Keys
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		k, err := LoadKey(p)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// LoadKey reads path as a PEM public key as `cosign generate-key-pair` (ECDSA
// P-256) or `cosign public-key` (also Ed25519 and RSA) writes it.
func LoadKey(path string) (*Key, error) {
	bad := func(format string, args ...any) error {
		return errdefs.New(errdefs.InvalidArgument, "key file %s "+format, append([]any{path}, args...)...)
	}
	st, err := os.Stat(path)
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, bad("cannot be read (%v); give the path of a cosign public key such as cosign.pub", err)
	}
	if st.IsDir() || st.Size() > maxKeySize {
		return nil, bad("is not a public key file (a directory, or larger than %d KiB); give the path of a cosign public key such as cosign.pub", maxKeySize>>10)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, bad("cannot be read (%v); check its permissions", errors.Unwrap(err))
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, bad("%s", notPublicKey(data))
	}
	if err := cryptoutils.ValidatePubKey(pub); err != nil {
		return nil, bad("holds a key cosign does not sign with (%v); give an ECDSA, Ed25519 or RSA (2048 bits or more) public key", err)
	}
	// cosign signs with SHA-256 (its default --signature-digest-algorithm),
	// and with an Ed25519 key, since v2.5, in the prehashed form (Ed25519ph),
	// where older versions signed the message itself: both are accepted.
	loads := [][]signature.LoadOption{{options.WithHash(crypto.SHA256)}}
	if _, ok := pub.(ed25519.PublicKey); ok {
		loads = [][]signature.LoadOption{{options.WithED25519ph()}, {}}
	}
	k := &Key{Path: path}
	for _, opts := range loads {
		v, err := signature.LoadVerifierWithOpts(pub, opts...)
		if err != nil {
			return nil, bad("holds a key cosign does not sign with (%v); give an ECDSA, Ed25519 or RSA public key", err)
		}
		k.verifiers = append(k.verifiers, v)
	}
	return k, nil
}

// notPublicKey says what a file that is not a PEM public key is instead, from
// its PEM block's type, so that the sentence names the likely mix-up.
func notPublicKey(data []byte) string {
	block, _ := pem.Decode(data)
	if block == nil {
		return "is not a PEM public key (it has no -----BEGIN PUBLIC KEY----- block); give cosign.pub as cosign generate-key-pair writes it"
	}
	switch t := block.Type; {
	case strings.Contains(t, "PRIVATE KEY"):
		return fmt.Sprintf("is a private key (%s); give the public key, cosign.pub beside it (or `cosign public-key --key FILE`), never the private one", t)
	case t == "PUBLIC KEY" || t == "RSA PUBLIC KEY":
		return fmt.Sprintf("has a %s block that does not parse as a key; the file is damaged: export it again (`cosign public-key --key FILE`)", t)
	case t == "CERTIFICATE":
		return "is a certificate; certificate (keyless, Fulcio) signatures are not verified yet: give a cosign public key (e.g. `cosign public-key --key cosign.key > cosign.pub`)"
	}
	return fmt.Sprintf("holds a PEM block of type %q, not a public key; give cosign.pub as cosign generate-key-pair writes it", block.Type)
}
