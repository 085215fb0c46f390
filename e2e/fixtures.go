//go:build !windows

package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushFixture pushes an index (or, when single, an image) built from opts to
// ref in r and returns its digest.
func pushFixture(t testing.TB, r *Registry, ref string, opts fixture.Options, single bool) v1.Hash {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	var digest v1.Hash
	if single {
		digest, err = fixture.PushImage(ctx, parsed, opts, r.remoteOptions(ctx)...)
	} else {
		digest, err = fixture.PushIndex(ctx, parsed, opts, r.remoteOptions(ctx)...)
	}
	if err != nil {
		t.Fatalf("push fixture to %s: %v", ref, err)
	}
	return digest
}

// tinyLayer keeps the fixtures small: the tests are about structure, not size.
const tinyLayer = 2048

type fixtureCase struct {
	name   string
	opts   fixture.Options
	single bool
}

// fixtureCases are the kinds of image a registry holds in practice.
var fixtureCases = []fixtureCase{
	{
		name: "oci index with attestations",
		opts: fixture.Options{Platforms: fixture.EightPlatforms(), Attestations: true, LayerSize: tinyLayer, Seed: 1},
	},
	{
		name: "docker manifest list",
		opts: fixture.Options{Platforms: fixture.EightPlatforms()[:3], Docker: true, LayerSize: tinyLayer, Seed: 2},
	},
	{
		name:   "single manifest",
		opts:   fixture.Options{LayerSize: tinyLayer, Seed: 3},
		single: true,
	},
}

func (fc fixtureCase) repo() string {
	return strings.ReplaceAll(fc.name, " ", "-")
}

// ociIndex is the 8-platform fixture most tests copy.
var ociIndex = fixtureCases[0]

// hangImage is a single image whose layers (256 KiB) are larger than where
// the stalling proxies stop.
var hangImage = fixture.Options{LayerSize: 256 << 10, Seed: 31}

func mustRef(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// putManifestHTTP PUTs body as manifest repo:ref in r, as it is, and
// returns the status.
func putManifestHTTP(t testing.TB, r *Registry, repo, ref string, mt types.MediaType, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, ref), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// deleteAt sends DELETE to a path of r's API (the test registries allow it).
func deleteAt(t testing.TB, r *Registry, path string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+r.Host+"/v2/"+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE %s: %s", path, resp.Status)
	}
}

// batchImage is one image of a batch fixture: its repository:tag and digest.
type batchImage struct {
	ref    string
	digest v1.Hash
}

// seedBatch pushes n two-platform images to r whose first layer is shared
// (as images built FROM one base are), each with layers of its own.
func seedBatch(t testing.TB, r *Registry, prefix string, n int, layerSize int64) []batchImage {
	t.Helper()
	var out []batchImage
	for i := range n {
		ref := fmt.Sprintf("%s%02d:v1", prefix, i)
		opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: layerSize, Seed: int64(100 + i), Base: "batch-base"}
		out = append(out, batchImage{ref: ref, digest: pushFixture(t, r, r.Ref(ref), opts, false)})
	}
	return out
}

// writeList writes the lines to a file in the test's directory.
func writeList(t testing.TB, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// k3sImage is one image of a k3s-like airgap fixture: its name as k3s has it
// (docker.io/rancher/…), where it is pushed, and its upstream digest.
type k3sImage struct {
	name   string // rancher/klipper-lb:v0.3.4
	ref    string // in the source registry
	digest v1.Hash
	index  v1.IndexManifest
}

// k3sArches are the architectures k3s ships airgap archives for.
var k3sArches = []string{"amd64", "arm64", "arm"}

// seedK3sImages pushes three-platform images as k3s's are: a Docker manifest
// list, an OCI index, and an OCI index with buildx attestations.
func seedK3sImages(t testing.TB, r *Registry, tag string) []k3sImage {
	t.Helper()
	three := fixture.EightPlatforms()[:3]
	specs := []struct {
		name string
		opts fixture.Options
	}{
		{"rancher/klipper-lb", fixture.Options{Platforms: three, Docker: true, LayerSize: 4096, Seed: 901, Base: "k3s"}},
		{"rancher/mirrored-pause", fixture.Options{Platforms: three, LayerSize: 4096, Seed: 902, Base: "k3s"}},
		{"rancher/local-path-provisioner", fixture.Options{Platforms: three, Attestations: true, LayerSize: 4096, Seed: 903}},
	}
	var out []k3sImage
	for _, s := range specs {
		ref := r.Ref("k3s/" + s.name + ":" + tag)
		d := pushFixture(t, r, ref, s.opts, false)
		idx, err := fixture.NewIndex(s.opts)
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		out = append(out, k3sImage{name: s.name + ":" + tag, ref: ref, digest: d, index: *im})
	}
	return out
}

// ctrExport makes the archives current k3s releases ship:
// `ctr images export --platform linux/ARCH`, one per architecture, of images
// named docker.io/rancher/…; returned by architecture.
func ctrExport(t testing.TB, c *containerd, images []k3sImage, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, arch := range k3sArches {
		var names []string
		for _, im := range images {
			c.ctr(t, "export", "images", "pull", "--plain-http", "--platform", "linux/"+arch, im.ref)
			full := "docker.io/" + im.name
			c.ctr(t, "export", "images", "tag", "--force", im.ref, full)
			names = append(names, full)
		}
		file := filepath.Join(dir, "k3s-airgap-images-"+arch+".tar")
		c.ctr(t, "export", append([]string{"images", "export", "--platform", "linux/" + arch, file}, names...)...)
		out[arch] = file
	}
	return out
}

// dockerSave makes the archives RKE2 and older k3s releases ship: `docker
// pull --platform` of each image, then one `docker save` per architecture, by
// the real dockerd. Nothing else may use these names on the shared engine.
func dockerSave(t testing.TB, cli *CLI, images []k3sImage, dir string) map[string]string {
	t.Helper()
	// The names are the engine's, which every test shares: one save at a time.
	dockerSaveMu.Lock()
	defer dockerSaveMu.Unlock()
	out := map[string]string{}
	for _, arch := range k3sArches {
		var names []string
		for _, im := range images {
			cli.RunDocker(t, "pull", "-q", "--platform", "linux/"+arch, im.ref).AssertSuccess(t)
			cli.RunDocker(t, "tag", im.ref, im.name).AssertSuccess(t)
			names = append(names, im.name)
		}
		file := filepath.Join(dir, "rke2-images-"+arch+".tar")
		cli.RunDocker(t, append([]string{"save", "-o", file}, names...)...).AssertSuccess(t)
		out[arch] = file
		// The next architecture's pull must not find this one's layers tagged.
		for _, im := range images {
			cli.RunDocker(t, "rmi", im.name, im.ref).AssertSuccess(t)
		}
	}
	return out
}

var dockerSaveMu sync.Mutex

// compressed writes FILE.zst as k3s does (zstd -16 --long=25) and FILE.gz
// (gzip), and returns both names.
func compressed(t testing.TB, file string) (zst, gz string) {
	t.Helper()
	needTool(t, "zstd", "zstd")
	zst, gz = file+".zst", file+".gz"
	runTool(t, nil, "zstd", "-q", "-T0", "-16", "--long=25", "-f", file, "-o", zst)
	f, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("gzip", "-c", file)
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gzip %s: %v\n%s", file, err, stderr.String())
	}
	return zst, gz
}

func tagOf(ref string) string { return ref[strings.LastIndexByte(ref, ':')+1:] }

// regctlFor returns a regctl environment that speaks plain HTTP to the given
// registries, with a config of its own (never the machine's).
func regctlFor(t testing.TB, hosts ...string) []string {
	t.Helper()
	needTool(t, "regctl", "regclient")
	env := []string{"HOME=" + t.TempDir()}
	for _, h := range hosts {
		runTool(t, env, "regctl", "registry", "set", h, "--tls", "disabled")
	}
	return env
}

// putArtifact attaches an artifact of artifactType to subject with regctl
// (through the referrers API where the registry has it, else the fallback
// tag, as regctl decides) and returns its digest.
func putArtifact(t testing.TB, env []string, subject, artifactType, content string) v1.Hash {
	t.Helper()
	file := filepath.Join(t.TempDir(), "artifact")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// An annotation names the artifact: registries report artifactType
	// differently (go-containerregistry's gives the config's media type).
	id := "org.example.id=" + sha256Digest([]byte(content))[7:19]
	runTool(t, env, "regctl", "artifact", "put", "--subject", subject, "--artifact-type", artifactType,
		"--annotation", id, "--file-media-type", "application/octet-stream", "--file", file)
	out := runTool(t, env, "regctl", "artifact", "list", subject, "--filter-annotation", id, "--format", "{{range .Descriptors}}{{.Digest}}\n{{end}}")
	lines := strings.Fields(out)
	if len(lines) != 1 {
		t.Fatalf("regctl lists %d artifacts %s on %s, want 1", len(lines), id, subject)
	}
	return hashOf(t, lines[0])
}

// cosignDir is a directory cosign runs in: its keys, and a HOME and
// DOCKER_CONFIG of its own (never the machine's).
type cosignDir string

func newCosignDir(t testing.TB) cosignDir {
	t.Helper()
	needTool(t, "cosign", "cosign")
	return cosignDir(t.TempDir())
}

// run runs cosign in d; the keys have no password (COSIGN_PASSWORD=), and
// nothing reaches beyond loopback (no transparency log upload).
func (d cosignDir) run(t testing.TB, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "cosign", args...)
	cmd.Dir = string(d)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "HOME="+string(d), "DOCKER_CONFIG="+filepath.Join(string(d), "docker"), "TUF_ROOT="+filepath.Join(string(d), "tuf"))
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cosign %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// keyPair makes NAME.key and NAME.pub with `cosign generate-key-pair` and
// returns the public key's path.
func (d cosignDir) keyPair(t testing.TB, prefix string) string {
	t.Helper()
	d.run(t, nil, "generate-key-pair", "--output-key-prefix", prefix)
	return filepath.Join(string(d), prefix+".pub")
}

// sign signs ref (NAME@DIGEST) with the private key beside pub, as a
// publisher does, with cosign's tag (sha256-HEX.sig) unless extra says
// otherwise.
func (d cosignDir) sign(t testing.TB, pub, ref string, extra ...string) {
	t.Helper()
	args := []string{"sign", "--yes", "--key", strings.TrimSuffix(pub, ".pub") + ".key", "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry"}
	d.run(t, nil, append(append(args, extra...), ref)...)
}

// verify is what a careful user scripts today before copying.
func (d cosignDir) verify(t testing.TB, pub, ref string) {
	t.Helper()
	d.run(t, nil, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", ref)
}

// importKey writes priv as PKCS#8 PEM and imports it with `cosign
// import-key-pair` (cosign's way to sign with an Ed25519 or RSA key); it
// returns the public key's path.
func (d cosignDir) importKey(t testing.TB, prefix string, priv crypto.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(string(d), prefix+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	d.run(t, nil, "import-key-pair", "--key", file, "--output-key-prefix", prefix)
	return filepath.Join(string(d), prefix+".pub")
}
