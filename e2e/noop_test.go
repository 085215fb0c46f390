package e2e

import (
	"encoding/json"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestNoopNotFooledBySparseIndex: the destination tag has the source's
// digest, but a child manifest is gone (a lax registry kept a sparse index).
// The run is no no-op: it copies the child back, and the image is whole.
func TestNoopNotFooledBySparseIndex(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("noop/app:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Seed: 81}, false)
	dstRef := dst.Ref("noop/app:v1")
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)

	arm := readIndex(t, src, srcRef).Images["linux/arm/v7"]
	deleteAt(t, dst, "noop/app/manifests/"+arm.String())
	res := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	var r struct {
		UpToDate  bool                 `json:"upToDate"`
		Manifests struct{ Copied int } `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.UpToDate || r.Manifests.Copied == 0 {
		t.Errorf("a sparse index was called up to date: %s", res.Stdout)
	}
	assertDigest(t, dst, dstRef, digest)
	assertComplete(t, dst, dstRef)

	// Now whole, the next run is a no-op.
	again := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	if err := json.Unmarshal([]byte(again.Stdout), &r); err != nil || !r.UpToDate {
		t.Errorf("the whole image is not up to date: %s", again.Stdout)
	}
}
