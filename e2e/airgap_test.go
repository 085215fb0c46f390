package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/platforms"
)

// TestAirgapK3sCtrExport imports k3s's airgap archives as current releases make
// them (`ctr images export --platform linux/ARCH`, one sparse archive per
// architecture, compressed as shipped) in one command: the archives together
// complete the upstream indexes, so the mirror gets the upstream digests;
// the image whose attestations no archive holds gets an index of its
// platforms, a new digest, and a note says so.
func TestAirgapK3sCtrExport(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedK3sImages(t, src, "v1")
	c := startContainerd(t)
	files := ctrExport(t, c, images, t.TempDir())
	zst, _ := compressed(t, files["amd64"])
	_, gz := compressed(t, files["arm64"])

	cli := NewCLI(t)
	tmp := withTempDir(t, cli)
	stop := peakTempInUse(tmp)
	res := cli.RunDocker(t, "-D", "migrate", "--progress", "plain",
		"docker-archive:"+zst, "docker-archive:"+gz, "oci-archive:"+files["arm"], dst.Host+"/k3s").AssertSuccess(t)
	// Each compressed archive is read as a stream, holding at most its own
	// size of $TMPDIR.
	peak, most := stop(), fileSize(t, zst)+fileSize(t, gz)
	for _, l := range strings.Split(res.Stderr, "\n") {
		if strings.Contains(l, "passes over its stream") {
			t.Log(l)
		}
	}
	if peak > most {
		t.Errorf("the merge held %d bytes of $TMPDIR, more than its compressed archives' %d", peak, most)
	}
	for _, im := range images {
		ref := dst.Ref("k3s/" + im.name)
		assertComplete(t, dst, ref)
		got, ok := headDigest(t, dst, ref)
		if !ok {
			t.Fatalf("%s was not pushed:\n%s", ref, res)
		}
		idx := readIndex(t, dst, ref)
		if n := len(idx.Platforms); n != 3 {
			t.Errorf("%s has %d platforms, want 3: %v", ref, n, idx.Platforms)
		}
		hasAttestations := slices.ContainsFunc(im.index.Manifests, func(d v1.Descriptor) bool { return d.Platform != nil && platforms.IsUnknown(d.Platform) })
		switch {
		case !hasAttestations && got != im.digest:
			t.Errorf("%s is %s, want the upstream digest %s: the archives complete the index", ref, got, im.digest)
		case hasAttestations && got == im.digest:
			t.Errorf("%s has the upstream digest, but no archive holds its attestations", ref)
		case hasAttestations && !strings.Contains(res.Stderr, "new digest"):
			t.Errorf("no note that %s gets a new digest:\n%s", im.name, res.Stderr)
		}
	}
}

// TestAirgapRKE2DockerSave imports archives made the RKE2 way (`docker save`
// of per-platform pulls, one archive per architecture): each name becomes one
// multi-arch list whose platforms are the images' configs'.
func TestAirgapRKE2DockerSave(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedK3sImages(t, src, "v1")
	cli := NewCLI(t).WithEngine(startEngine(t))
	files := dockerSave(t, cli, images, t.TempDir())
	zst, _ := compressed(t, files["arm"])

	res := cli.RunDocker(t, "migrate", "--progress", "plain",
		"docker-archive:"+files["amd64"], "docker-archive:"+files["arm64"], "docker-archive:"+zst, dst.Host+"/rke2").AssertSuccess(t)
	for _, im := range images {
		ref := dst.Ref("rke2/" + im.name)
		assertComplete(t, dst, ref)
		idx := readIndex(t, dst, ref)
		want := []string{"linux/amd64", "linux/arm/v7", "linux/arm64/v8"}
		got := slices.Clone(idx.Platforms)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: platforms %v, want %v\n%s", ref, got, want, res.Stderr)
		}
	}
	// A second run finds everything there.
	again := cli.RunDocker(t, "migrate", "docker-archive:"+files["amd64"], "docker-archive:"+files["arm64"], "docker-archive:"+zst, dst.Host+"/rke2").AssertSuccess(t)
	if !strings.Contains(again.Stderr, "up to date") {
		t.Errorf("the second run did not find the images up to date:\n%s", again.Stderr)
	}
}

// TestAirgapConflict: two archives that give one name the same platform with
// different content are refused, naming both files, and nothing is pushed; a
// name only one archive holds gets its platforms, and a note says so.
func TestAirgapConflict(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedK3sImages(t, src, "v1")
	dir := t.TempDir()
	cli := NewCLI(t)
	export := func(file, platform string, lines ...string) string {
		list := writeList(t, filepath.Base(file)+".txt", lines...)
		cli.RunDocker(t, "migrate", "--platform", platform, "-f", list, "docker-archive:"+file).AssertSuccess(t)
		return file
	}
	a := export(filepath.Join(dir, "a.tar"), "linux/amd64", images[0].ref+" docker.io/rancher/same:v1")
	b := export(filepath.Join(dir, "b.tar"), "linux/amd64", images[1].ref+" docker.io/rancher/same:v1")
	res := cli.RunDocker(t, "migrate", "docker-archive:"+a, "docker-archive:"+b, dst.Host+"/k3s").AssertExit(t, 125)
	for _, want := range []string{"a.tar", "b.tar", "linux/amd64"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
		}
	}
	if repos := catalogOf(t, dst); len(repos) != 0 {
		t.Errorf("a refused import pushed %v", repos)
	}

	c := export(filepath.Join(dir, "c.tar"), "linux/arm64", images[0].ref+" docker.io/rancher/same:v1", images[2].ref+" docker.io/rancher/only-arm64:v1")
	ok := cli.RunDocker(t, "migrate", "--progress", "plain", "docker-archive:"+a, "docker-archive:"+c, dst.Host+"/k3s").AssertSuccess(t)
	if idx := readIndex(t, dst, dst.Ref("k3s/rancher/same:v1")); len(idx.Platforms) != 2 {
		t.Errorf("same:v1 has platforms %v, want amd64 and arm64", idx.Platforms)
	}
	if idx := readIndex(t, dst, dst.Ref("k3s/rancher/only-arm64:v1")); len(idx.Platforms) != 1 {
		t.Errorf("only-arm64:v1 has platforms %v, want arm64 alone", idx.Platforms)
	}
	if !strings.Contains(ok.Stderr, "only 1 of 2 archives") {
		t.Errorf("no note that only-arm64 is in one archive:\n%s", ok.Stderr)
	}
}
