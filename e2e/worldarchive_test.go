package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// The tests here read archives and layouts other tools wrote the way they
// write them in the world (Docker 29's `docker save` with the containerd
// image store, `ctr images export`, crane, skopeo), and the damaged ones a
// user meets. Every run that exits 0 is followed by the pull check (pulledDigest).

// pulledDigest is the digest ref points to at r, once the pull check
// (assertPullable) has pulled everything under it: every manifest by digest
// and every blob whole, each against its descriptor's digest and size.
func pulledDigest(t testing.TB, r *Registry, ref string) v1.Hash {
	t.Helper()
	d, ok := headDigest(t, r, ref)
	if !ok {
		t.Fatalf("%s is not at the destination", ref)
	}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	assertPullable(t, r, parsed, d, true)
	return d
}

// assertNoRetryAdvice fails when a failure about a local file tells the user
// to try again: nothing changes a file between two runs.
func assertNoRetryAdvice(t testing.TB, res Result) {
	t.Helper()
	for _, bad := range []string{"run again later", "run the same command again", "check the repository name"} {
		if strings.Contains(res.Stderr, bad) {
			t.Errorf("stderr advises %q for a file:\n%s", bad, res.Stderr)
		}
	}
}

// assertStderr checks that stderr has the sentence naming what is wrong.
func assertStderr(t testing.TB, res Result, wants ...string) {
	t.Helper()
	t.Logf("%s: exit %d\n%s", res.Command(), res.ExitCode, res.Stderr)
	for _, w := range wants {
		if !strings.Contains(res.Stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
		}
	}
}

// unpackTar extracts a tar into a new directory; packTar writes a directory
// back as a tar, as the tools wrote it (relative names, no leading ./).
func unpackTar(t testing.TB, file string) string {
	t.Helper()
	dir := t.TempDir()
	runTool(t, nil, "tar", "-xf", file, "-C", dir)
	return dir
}

func packTar(t testing.TB, dir, file string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-cf", file, "-C", dir}
	for _, e := range entries {
		args = append(args, e.Name())
	}
	runTool(t, nil, "tar", args...)
	return file
}

func readJSONFile(t testing.TB, file string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	return b
}

// writeBlob stores b in a layout directory under its digest.
func writeBlob(t testing.TB, layout string, b []byte) v1.Descriptor {
	t.Helper()
	d, size, _ := v1.SHA256(bytes.NewReader(b))
	if err := os.WriteFile(filepath.Join(layout, "blobs", "sha256", d.Hex), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{Digest: d, Size: size}
}

// worldIndex is the image the Docker 29 and ctr tests start from: three
// platforms of an OCI index with buildx-style attestations, as Docker Hub
// serves official images today.
func worldIndex(seed int64) fixture.Options {
	return fixture.Options{Platforms: fixture.EightPlatforms()[:3], Attestations: true, LayerSize: 4096, Seed: seed}
}

// docker29Saves are the archives Docker 29 (containerd image store) writes of
// one image pulled from a registry.
type docker29Saves struct {
	// hostOnly: `docker pull` (the host's platform) then `docker save`: the
	// whole upstream index, one platform's blobs inside.
	hostOnly string
	// twoPlatforms: after a `docker pull --platform linux/arm64` as well.
	twoPlatforms string
	// amd64: `docker save --platform linux/amd64`.
	amd64 string
	// byID: `docker save IMAGE-ID`.
	byID string
}

func saveWithDocker29(t testing.TB, ref, dir string) docker29Saves {
	t.Helper()
	engine := NewCLI(t).WithEngine(startEngine29(t))
	engine29Mu.Lock()
	defer engine29Mu.Unlock()
	s := docker29Saves{
		hostOnly:     filepath.Join(dir, "host-only.tar"),
		twoPlatforms: filepath.Join(dir, "two-platforms.tar"),
		amd64:        filepath.Join(dir, "amd64.tar"),
		byID:         filepath.Join(dir, "by-id.tar"),
	}
	engine.RunDocker(t, "pull", "-q", "--platform", "linux/amd64", ref).AssertSuccess(t)
	engine.RunDocker(t, "save", "-o", s.hostOnly, ref).AssertSuccess(t)
	engine.RunDocker(t, "save", "--platform", "linux/amd64", "-o", s.amd64, ref).AssertSuccess(t)
	id := strings.TrimSpace(engine.RunDocker(t, "image", "inspect", "--format", "{{.Id}}", ref).AssertSuccess(t).Stdout)
	engine.RunDocker(t, "save", "-o", s.byID, id).AssertSuccess(t)
	engine.RunDocker(t, "pull", "-q", "--platform", "linux/arm64", ref).AssertSuccess(t)
	engine.RunDocker(t, "save", "-o", s.twoPlatforms, ref).AssertSuccess(t)
	engine.RunDocker(t, "rmi", ref).AssertSuccess(t)
	for _, f := range []string{s.hostOnly, s.byID, s.amd64} {
		t.Logf("%s: index.json %s\nmanifest.json %s", filepath.Base(f),
			runTool(t, nil, "tar", "-xOf", f, "index.json"), runTool(t, nil, "tar", "-xOf", f, "manifest.json"))
	}
	return s
}

// docker29Save pulls ref into Docker 29 and saves it to file, as a user of
// Docker Desktop or a current install does.
func docker29Save(t testing.TB, ref, file string) string {
	t.Helper()
	engine := NewCLI(t).WithEngine(startEngine29(t))
	engine29Mu.Lock()
	defer engine29Mu.Unlock()
	engine.RunDocker(t, "pull", "-q", ref).AssertSuccess(t)
	engine.RunDocker(t, "save", "-o", file, ref).AssertSuccess(t)
	engine.RunDocker(t, "rmi", ref).AssertSuccess(t)
	return file
}

// platformsOf lists the platforms of the index at ref, sorted.
func platformsOf(t testing.TB, r *Registry, ref string) []string {
	t.Helper()
	got := slices.Clone(readIndex(t, r, ref).Platforms)
	slices.Sort(got)
	return got
}

// TestWorldDocker29Save copies what Docker 29 with the containerd image store
// saves: the whole upstream index with only the pulled platforms' blobs
// inside is read as docker load reads it, the platforms present, with a note
// naming them and the new digest; one archive and two copies of it give the
// same image; --platform works on it; a save of one platform is that
// platform's manifest; and one image may go to a full reference.
func TestWorldDocker29Save(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	ref := src.Ref("world/app:v1")
	upstream := pushFixture(t, src, ref, worldIndex(1701), false)
	dir := t.TempDir()
	saves := saveWithDocker29(t, ref, dir)
	cli := NewCLI(t)

	var one v1.Hash
	t.Run("one platform of three", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--progress", "plain", "docker-archive:"+saves.hostOnly, dst.Host+"/one").AssertSuccess(t)
		to := dst.Ref("one/world/app:v1")
		one = pulledDigest(t, dst, to)
		if one == upstream {
			t.Errorf("%s has the upstream digest, though only one platform was in the archive", to)
		}
		if got := platformsOf(t, dst, to); !slices.Equal(got, []string{"linux/amd64"}) {
			t.Errorf("%s has platforms %v, want linux/amd64", to, got)
		}
		assertStderr(t, res, "linux/amd64", "new digest", one.String())
		assertNoRetryAdvice(t, res)

		// The same archive again finds the image there, and --check agrees.
		again := cli.RunDocker(t, "migrate", "docker-archive:"+saves.hostOnly, dst.Host+"/one").AssertSuccess(t)
		assertResultLine(t, again, to, one)
		assertStderr(t, again, "up to date")
		cli.RunDocker(t, "migrate", "--check", "docker-archive:"+saves.hostOnly, dst.Host+"/one").AssertSuccess(t)
	})
	t.Run("two copies of one archive", func(t *testing.T) {
		copied := filepath.Join(t.TempDir(), "copy.tar")
		b, _ := os.ReadFile(saves.hostOnly)
		os.WriteFile(copied, b, 0o644)
		cli.RunDocker(t, "migrate", "docker-archive:"+saves.hostOnly, "oci-archive:"+copied, dst.Host+"/two").AssertSuccess(t)
		if got := pulledDigest(t, dst, dst.Ref("two/world/app:v1")); got != one {
			t.Errorf("two copies of the archive gave %s, the archive alone %s", got, one)
		}
	})
	t.Run("--platform", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--platform", "linux/amd64", "docker-archive:"+saves.hostOnly, dst.Host+"/plat").AssertSuccess(t)
		pulledDigest(t, dst, dst.Ref("plat/world/app:v1"))
		assertStderr(t, res, "--platform picks from those")
		res = cli.RunDocker(t, "migrate", "--platform", "linux/arm64", "docker-archive:"+saves.hostOnly, dst.Host+"/arm")
		if res.ExitCode == 0 {
			t.Fatalf("a platform the archive lacks was copied:\n%s", res)
		}
		assertStderr(t, res, "linux/arm64", "linux/amd64")
		assertNoRetryAdvice(t, res)
		assertAbsent(t, dst, dst.Ref("arm/world/app:v1"))
	})
	t.Run("two platforms of three", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--progress", "plain", "oci-archive:"+saves.twoPlatforms, dst.Host+"/twoplat").AssertSuccess(t)
		to := dst.Ref("twoplat/world/app:v1")
		pulledDigest(t, dst, to)
		if got := platformsOf(t, dst, to); !slices.Equal(got, []string{"linux/amd64", "linux/arm64/v8"}) {
			t.Errorf("%s has platforms %v, want linux/amd64 and linux/arm64/v8", to, got)
		}
		assertStderr(t, res, "linux/amd64, linux/arm64/v8", "new digest")
	})
	t.Run("save --platform", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "docker-archive:"+saves.amd64, dst.Host+"/amd").AssertSuccess(t)
		got := pulledDigest(t, dst, dst.Ref("amd/world/app:v1"))
		idx, _ := fixture.NewIndex(worldIndex(1701))
		im, _ := idx.IndexManifest()
		if got != im.Manifests[0].Digest {
			t.Errorf("the amd64 save arrived as %s, want the platform's manifest %s\n%s", got, im.Manifests[0].Digest, res.Stderr)
		}
		// Docker saves the platform's attestation beside it in index.json:
		// an attachment, not an image to push under a made-up name.
		for _, repo := range catalogOf(t, dst) {
			if strings.HasPrefix(repo, "amd/") && repo != "amd/world/app" {
				t.Errorf("the save --platform archive also pushed %s:\n%s", repo, res.Stderr)
			}
		}
		assertStderr(t, res, "left out")
	})
	t.Run("by image ID", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "docker-archive:"+saves.byID, dst.Host+"/byid/app:v1")
		if res.ExitCode != 0 {
			t.Fatalf("a save by image ID:\n%s", res)
		}
		pulledDigest(t, dst, dst.Ref("byid/app:v1"))
	})
	t.Run("full reference", func(t *testing.T) {
		to := dst.Ref("mirror/golang:1.25-alpine")
		res := cli.RunDocker(t, "migrate", "docker-archive:"+saves.amd64, to).AssertSuccess(t)
		d := pulledDigest(t, dst, to)
		assertResultLine(t, res, to, d)
	})
}

// TestWorldCtrExportAttestations copies a `ctr images export --platform` of
// one platform of an image whose index lists attestation manifests the
// export does not hold: the absent attestations are left out with a note,
// with and without --platform.
func TestWorldCtrExportAttestations(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	ref := src.Ref("world/ctr:v1")
	pushFixture(t, src, ref, worldIndex(1702), false)
	c := startContainerd(t)
	c.ctr(t, "w", "images", "pull", "--plain-http", "--platform", "linux/amd64", ref)
	file := filepath.Join(t.TempDir(), "amd64.tar")
	c.ctr(t, "w", "images", "export", "--platform", "linux/amd64", file, ref)
	var index v1.IndexManifest
	if err := json.Unmarshal([]byte(runTool(t, nil, "tar", "-xOf", file, "index.json")), &index); err != nil {
		t.Fatal(err)
	}
	cli := NewCLI(t)
	for _, args := range [][]string{nil, {"--platform", "linux/amd64"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			prefix := dst.Host + "/ctr" + strings.ReplaceAll(strings.Join(args, ""), "/", "-")
			res := cli.RunDocker(t, append(append([]string{"migrate", "--progress", "plain"}, args...), "oci-archive:"+file, prefix)...).AssertSuccess(t)
			to := prefix + "/world/ctr:v1"
			pulledDigest(t, dst, to)
			if got := platformsOf(t, dst, to); !slices.Equal(got, []string{"linux/amd64"}) {
				t.Errorf("%s has platforms %v, want linux/amd64", to, got)
			}
			if len(args) == 0 {
				assertStderr(t, res, "linux/amd64", "new digest")
			}
			assertNoRetryAdvice(t, res)
		})
	}
}

// TestWorldDiffIDs gives the plugin archives whose compressed layer does not
// uncompress to the diff_id the image's config names, as docker load and
// docker pull refuse them: a docker-save archive crane wrote (gzip layers
// named in manifest.json), and a Docker 29 save (an OCI layout). Each fails,
// naming the layer and the archive, and nothing is tagged.
func TestWorldDiffIDs(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	ref := src.Ref("world/layers:v1")
	pushFixture(t, src, ref, fixture.Options{LayerSize: 4096, LayersPerImage: 3, Seed: 1703}, true)
	other := src.Ref("world/other:v1")
	pushFixture(t, src, other, fixture.Options{LayerSize: 4096, LayersPerImage: 3, Seed: 1704}, true)
	cli := NewCLI(t)

	t.Run("crane tarball", func(t *testing.T) {
		needTool(t, "crane", "crane")
		dir := t.TempDir()
		good := filepath.Join(dir, "crane.tar")
		runTool(t, nil, "crane", "pull", "--insecure", "--format", "tarball", ref, good)
		donor := filepath.Join(dir, "donor.tar")
		runTool(t, nil, "crane", "pull", "--insecure", "--format", "tarball", other, donor)
		// The archive stays whole for its own manifest.json, but its second
		// layer file holds another image's layer.
		unpacked := unpackTar(t, good)
		var mf []struct{ Layers []string }
		readJSONFile(t, filepath.Join(unpacked, "manifest.json"), &mf)
		theirs := unpackTar(t, donor)
		var df []struct{ Layers []string }
		readJSONFile(t, filepath.Join(theirs, "manifest.json"), &df)
		swapped := mf[0].Layers[1]
		b, err := os.ReadFile(filepath.Join(theirs, df[0].Layers[1]))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(unpacked, swapped), b, 0o644)
		bad := packTar(t, unpacked, filepath.Join(dir, "bad.tar"))

		cli.RunDocker(t, "migrate", "docker-archive:"+good, dst.Host+"/good").AssertSuccess(t)
		pulledDigest(t, dst, dst.Ref("good/world/layers:v1"))
		res := cli.RunDocker(t, "migrate", "docker-archive:"+bad, dst.Host+"/crane")
		if res.ExitCode == 0 {
			t.Fatalf("a layer that does not match its diff_id was copied:\n%s", res)
		}
		assertStderr(t, res, "bad.tar", swapped)
		assertNoRetryAdvice(t, res)
		assertAbsent(t, dst, dst.Ref("crane/world/layers:v1"))
	})

	t.Run("docker 29 save", func(t *testing.T) {
		dir := t.TempDir()
		file := docker29Save(t, ref, filepath.Join(dir, "save.tar"))

		// The config names another diff_id for the second layer; the
		// manifest and index.json name the new config, so that every
		// digest in the layout is right and only the diff_id is wrong.
		layout := unpackTar(t, file)
		var index v1.IndexManifest
		readJSONFile(t, filepath.Join(layout, "index.json"), &index)
		body := readJSONFile(t, filepath.Join(layout, "blobs", "sha256", index.Manifests[0].Digest.Hex), nil)
		var m map[string]any
		json.Unmarshal(body, &m)
		cfgDesc := m["config"].(map[string]any)
		cfgHash, _ := v1.NewHash(cfgDesc["digest"].(string))
		var cfg map[string]any
		readJSONFile(t, filepath.Join(layout, "blobs", "sha256", cfgHash.Hex), &cfg)
		diffIDs := cfg["rootfs"].(map[string]any)["diff_ids"].([]any)
		diffIDs[1] = "sha256:" + strings.Repeat("ab", 32)
		cfgBytes, _ := json.Marshal(cfg)
		nc := writeBlob(t, layout, cfgBytes)
		cfgDesc["digest"], cfgDesc["size"] = nc.Digest.String(), nc.Size
		mBytes, _ := json.Marshal(m)
		nm := writeBlob(t, layout, mBytes)
		index.Manifests[0].Digest, index.Manifests[0].Size = nm.Digest, nm.Size
		ib, _ := json.Marshal(index)
		os.WriteFile(filepath.Join(layout, "index.json"), ib, 0o644)
		layer := m["layers"].([]any)[1].(map[string]any)["digest"].(string)
		bad := packTar(t, layout, filepath.Join(dir, "bad29.tar"))

		// The layers are at DST already (the crane case put them in
		// good/world/layers), so they are mounted, never read from the
		// archive: the check must not depend on reading them.
		res := cli.RunDocker(t, "migrate", "docker-archive:"+bad, dst.Host+"/d29")
		if res.ExitCode == 0 {
			t.Fatalf("a layer that does not match its diff_id was copied:\n%s", res)
		}
		assertStderr(t, res, "bad29.tar", layer)
		assertNoRetryAdvice(t, res)
		assertAbsent(t, dst, dst.Ref("d29/world/layers:v1"))
	})
}

// TestWorldBadLayouts: an index.json that is an image manifest, one that
// lists no image, and a layout that lacks its manifest are each one sentence
// naming the file, never a success; an index.json that lists nothing present
// beside a manifest.json naming the image is read as docker load reads it.
func TestWorldBadLayouts(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	ref := src.Ref("world/layout:v1")
	pushFixture(t, src, ref, fixture.Options{LayerSize: 2048, Seed: 1705}, true)
	needTool(t, "skopeo", "skopeo")
	dir := t.TempDir()
	// skopeoLayout writes the image as skopeo does, and returns the layout
	// and its manifest's digest.
	skopeoLayout := func(name string) (string, v1.Hash) {
		p := filepath.Join(dir, name)
		runTool(t, nil, "skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+p+":v1")
		var index v1.IndexManifest
		readJSONFile(t, filepath.Join(p, "index.json"), &index)
		if len(index.Manifests) != 1 {
			t.Fatalf("skopeo wrote %d entries", len(index.Manifests))
		}
		return p, index.Manifests[0].Digest
	}
	cli := NewCLI(t)

	t.Run("index.json is a manifest", func(t *testing.T) {
		p, digest := skopeoLayout("manifest-as-index")
		b, _ := os.ReadFile(filepath.Join(p, "blobs", "sha256", digest.Hex))
		os.WriteFile(filepath.Join(p, "index.json"), b, 0o644)
		for _, quiet := range []bool{false, true} {
			args := []string{"migrate", "oci:" + p, dst.Host + "/bad"}
			if quiet {
				args = []string{"migrate", "--progress", "quiet", "oci:" + p, dst.Host + "/bad"}
			}
			res := cli.RunDocker(t, args...).AssertExit(t, 125)
			assertStderr(t, res, filepath.Join(p, "index.json"), "not an image index")
		}
	})

	t.Run("manifests null, no manifest.json", func(t *testing.T) {
		p, _ := skopeoLayout("null")
		os.WriteFile(filepath.Join(p, "index.json"), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}`), 0o644)
		for _, quiet := range []bool{false, true} {
			args := []string{"migrate", "oci:" + p, dst.Host + "/null"}
			if quiet {
				args = []string{"migrate", "--progress", "quiet", "oci:" + p, dst.Host + "/null"}
			}
			res := cli.RunDocker(t, args...).AssertExit(t, 125)
			assertStderr(t, res, p, "holds no image")
		}
	})

	t.Run("manifest missing", func(t *testing.T) {
		p, digest := skopeoLayout("no-manifest")
		missing := filepath.Join("blobs", "sha256", digest.Hex)
		os.Remove(filepath.Join(p, missing))
		res := cli.RunDocker(t, "migrate", "oci:"+p, dst.Host+"/missing")
		if res.ExitCode == 0 {
			t.Fatalf("a layout without its manifest was copied:\n%s", res)
		}
		assertStderr(t, res, p, missing, "damaged or incomplete")
		assertNoRetryAdvice(t, res)
	})

	t.Run("layer truncated", func(t *testing.T) {
		p, digest := skopeoLayout("truncated")
		var m v1.Manifest
		readJSONFile(t, filepath.Join(p, "blobs", "sha256", digest.Hex), &m)
		layer := filepath.Join("blobs", "sha256", m.Layers[0].Digest.Hex)
		if err := os.Truncate(filepath.Join(p, layer), m.Layers[0].Size/2); err != nil {
			t.Fatal(err)
		}
		res := cli.RunDocker(t, "migrate", "oci:"+p, dst.Host+"/truncated")
		if res.ExitCode == 0 {
			t.Fatalf("a layout with a truncated layer was copied:\n%s", res)
		}
		assertStderr(t, res, p, layer, "damaged or incomplete")
		assertNoRetryAdvice(t, res)
		assertAbsent(t, dst, dst.Ref("truncated/truncated:v1"))
	})

	t.Run("docker 29 save, manifests null", func(t *testing.T) {
		file := docker29Save(t, ref, filepath.Join(dir, "d29.tar"))
		layout := unpackTar(t, file)
		os.WriteFile(filepath.Join(layout, "index.json"), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}`), 0o644)
		nulled := packTar(t, layout, filepath.Join(dir, "d29-null.tar"))
		cli.RunDocker(t, "migrate", "docker-archive:"+nulled, dst.Host+"/d29null").AssertSuccess(t)
		pulledDigest(t, dst, dst.Ref("d29null/world/layout:v1"))

		// index.json naming a manifest that is not inside, beside the
		// manifest.json docker load reads.
		layout = unpackTar(t, file)
		var index v1.IndexManifest
		readJSONFile(t, filepath.Join(layout, "index.json"), &index)
		os.Remove(filepath.Join(layout, "blobs", "sha256", index.Manifests[0].Digest.Hex))
		absent := packTar(t, layout, filepath.Join(dir, "d29-absent.tar"))
		cli.RunDocker(t, "migrate", "docker-archive:"+absent, dst.Host+"/d29absent").AssertSuccess(t)
		pulledDigest(t, dst, dst.Ref("d29absent/world/layout:v1"))
	})
}

// TestWorldOneImageArchive: an archive that holds one image may go to a full
// reference, as a registry image may; one that holds several is refused with
// a prefix that leads where the user meant.
func TestWorldOneImageArchive(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	golang := src.Ref("library/golang:1.25-alpine")
	pushFixture(t, src, golang, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 2048, Seed: 1706}, false)
	alpine := src.Ref("library/alpine:3.20")
	pushFixture(t, src, alpine, fixture.Options{LayerSize: 2048, Seed: 1707}, true)
	cli := NewCLI(t)
	dir := t.TempDir()
	// Named as they are on Docker Hub, as a `docker save` of them would be.
	one := filepath.Join(dir, "golang.tar")
	cli.RunDocker(t, "migrate", "-f", writeList(t, "one.txt", golang+" docker.io/library/golang:1.25-alpine"), "oci-archive:"+one).AssertSuccess(t)
	two := filepath.Join(dir, "two.tar")
	cli.RunDocker(t, "migrate", "-f", writeList(t, "two.txt", golang+" docker.io/library/golang:1.25-alpine", alpine+" docker.io/library/alpine:3.20"), "oci-archive:"+two).AssertSuccess(t)

	to := dst.Ref("mirror/golang:1.25-alpine")
	res := cli.RunDocker(t, "migrate", "oci-archive:"+one, to).AssertSuccess(t)
	d := pulledDigest(t, dst, to)
	assertResultLine(t, res, to, d)

	res = cli.RunDocker(t, "migrate", "oci-archive:"+two, dst.Ref("mirror/golang:1.25-alpine")).AssertExit(t, 125)
	assertStderr(t, res, "two.tar", "2 images", dst.Host+"/mirror ", dst.Host+"/mirror/library/golang:1.25-alpine")
	if strings.Contains(res.Stderr, "mirror/golang/") {
		t.Errorf("the suggestion leads under mirror/golang/:\n%s", res.Stderr)
	}
	if repos := catalogOf(t, dst); !slices.Equal(repos, []string{"mirror/golang"}) {
		t.Errorf("the registry holds %v", repos)
	}

	// The same with what dockerd 20.10's `docker save` writes of one image.
	engine := NewCLI(t).WithEngine(startEngine(t))
	classic := filepath.Join(dir, "classic.tar")
	dockerSaveMu.Lock()
	engine.RunDocker(t, "pull", "-q", golang).AssertSuccess(t)
	engine.RunDocker(t, "save", "-o", classic, golang).AssertSuccess(t)
	engine.RunDocker(t, "rmi", golang).AssertSuccess(t)
	dockerSaveMu.Unlock()
	to = dst.Ref("mirror/golang-classic:1.25-alpine")
	res = cli.RunDocker(t, "migrate", "docker-archive:"+classic, to).AssertSuccess(t)
	assertResultLine(t, res, to, pulledDigest(t, dst, to))
}

// TestWorldDocker29ClassicSave copies what Docker 29 with the classic image
// store (an upgraded install) saves: uncompressed layers in an OCI layout,
// by image ID (an index.json entry with no name, a manifest.json with no
// RepoTags) and by name. Docker 25 and 26 wrote "manifests": null for a save
// by ID; Docker 29 writes the entry, so TestWorldBadLayouts makes that case
// from a Docker 29 save.
func TestWorldDocker29ClassicSave(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	ref := src.Ref("world/classic:v1")
	pushFixture(t, src, ref, fixture.Options{LayerSize: 2048, LayersPerImage: 2, Seed: 1708}, true)
	engine := NewCLI(t).WithEngine(startEngine29Classic(t))
	dir := t.TempDir()
	byID, byName := filepath.Join(dir, "by-id.tar"), filepath.Join(dir, "by-name.tar")
	engine29Mu.Lock()
	engine.RunDocker(t, "pull", "-q", ref).AssertSuccess(t)
	id := strings.TrimSpace(engine.RunDocker(t, "image", "inspect", "--format", "{{.Id}}", ref).AssertSuccess(t).Stdout)
	engine.RunDocker(t, "save", "-o", byID, id).AssertSuccess(t)
	engine.RunDocker(t, "save", "-o", byName, ref).AssertSuccess(t)
	engine.RunDocker(t, "rmi", ref).AssertSuccess(t)
	engine29Mu.Unlock()
	index := runTool(t, nil, "tar", "-xOf", byID, "index.json")
	t.Logf("by-id.tar: index.json %s\nmanifest.json %s", index, runTool(t, nil, "tar", "-xOf", byID, "manifest.json"))
	cli := NewCLI(t)

	to := dst.Ref("classic/app:v1")
	res := cli.RunDocker(t, "migrate", "docker-archive:"+byID, to).AssertSuccess(t)
	assertResultLine(t, res, to, pulledDigest(t, dst, to))

	cli.RunDocker(t, "migrate", "--progress", "quiet", "docker-archive:"+byName, dst.Host+"/named").AssertSuccess(t)
	pulledDigest(t, dst, dst.Ref("named/world/classic:v1"))
}
