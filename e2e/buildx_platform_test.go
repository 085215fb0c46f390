package e2e

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestBuildxKeepsPlatformFields: BuildKit normalises platforms (linux/arm64/v8
// becomes linux/arm64); the index the buildx strategy writes carries the
// source's platform fields for every child, variant and os.version included.
func TestBuildxKeepsPlatformFields(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	plats := []v1.Platform{
		{OS: "linux", Architecture: "amd64", OSVersion: "5.15"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}
	srcRef := src.Ref("e2e/fields:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: plats, LayerSize: tinyLayer, Seed: 31}, false)
	dstRef := dst.Ref("mirror/fields:v1")
	cli := newBuildxCLI(t)
	res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--provenance=false", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	r, _ := parseBuildxReport(t, res)

	want := childPlatforms(t, src, srcRef)
	got := childPlatforms(t, dst, dstRef)
	if len(got) != len(want) {
		t.Fatalf("destination has %d platform images, source %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("child %d: platform %+v, source %+v", i, got[i], want[i])
		}
	}
	var labels []string
	for _, p := range r.Platforms {
		labels = append(labels, p.Platform)
	}
	for _, w := range []string{"linux/amd64", "linux/arm/v7", "linux/arm64/v8"} {
		found := false
		for _, l := range labels {
			found = found || l == w
		}
		if !found {
			t.Errorf("JSON platforms %v lack %s", labels, w)
		}
	}
}

// childPlatforms lists the platforms of an index's images, in index order.
func childPlatforms(t testing.TB, r *Registry, ref string) []v1.Platform {
	t.Helper()
	ctx := checkContext(t)
	idx, err := remote.Index(mustRef(t, ref), r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Platform
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS != "unknown" {
			out = append(out, *d.Platform)
		}
	}
	return out
}
