package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// writePublicKey writes pub as cosign writes cosign.pub.
func writePublicKey(t *testing.T, dir, name string, pub crypto.PublicKey) string {
	t.Helper()
	data, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path, wantErr string
	}{
		{name: "ecdsa p-256", path: writePublicKey(t, dir, "ec.pub", &ec.PublicKey)},
		{name: "ed25519", path: writePublicKey(t, dir, "ed.pub", edPub)},
		{name: "rsa", path: writePublicKey(t, dir, "rsa.pub", &rsaKey.PublicKey)},
		{name: "rsa pkcs1", path: writeFile(t, dir, "rsa1.pub", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}))},
		{name: "weak rsa", path: writePublicKey(t, dir, "weak.pub", &weakRSA.PublicKey), wantErr: "holds a key cosign does not sign with"},
		{name: "ec private key", path: writeFile(t, dir, "ec.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), wantErr: "is a private key (EC PRIVATE KEY)"},
		{name: "cosign private key", path: writeFile(t, dir, "cosign.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: pkcs8})), wantErr: "is a private key"},
		{name: "certificate", path: writeFile(t, dir, "cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})), wantErr: "is a certificate"},
		{name: "garbage", path: writeFile(t, dir, "garbage", []byte("not a key\n")), wantErr: "is not a PEM public key"},
		{name: "damaged", path: writeFile(t, dir, "damaged.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("xx")})), wantErr: "does not parse"},
		{name: "missing", path: filepath.Join(dir, "nope.pub"), wantErr: "cannot be read (no such file or directory)"},
		{name: "directory", path: dir, wantErr: "not a public key file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadKey(tc.path)
			if tc.wantErr == "" {
				if err != nil || k == nil {
					t.Fatalf("LoadKey: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadKey accepted %s", tc.path)
			}
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Errorf("kind %v, want invalid argument", errdefs.KindOf(err))
			}
			msg := errdefs.Message(err)
			if !strings.Contains(msg, tc.wantErr) || !strings.Contains(msg, tc.path) || strings.Count(msg, "\n") > 0 {
				t.Errorf("message %q: want one line naming %s and saying %q", msg, tc.path, tc.wantErr)
			}
		})
	}
}

func TestLoadKeysDeduplicates(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := writePublicKey(t, t.TempDir(), "cosign.pub", &ec.PublicKey)
	ks, err := LoadKeys([]string{p, p})
	if err != nil || len(ks) != 1 || ks.Names() != p {
		t.Fatalf("LoadKeys = %v, %v", ks.Names(), err)
	}
}
