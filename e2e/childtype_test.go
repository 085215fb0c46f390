package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestChildOwnMediaType copies an index whose descriptor of a child says
// another media type than the child's own mediaType field (real layouts
// do this): the child is pushed with its own, as skopeo does, and nothing
// blames OCI media types or suggests flags the run did not use.
func TestChildOwnMediaType(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 174}
	pushFixture(t, src, src.Ref("mt/app:orig"), opts, false)
	var idx v1.IndexManifest
	if err := json.Unmarshal(fetchRaw(t, src, src.Ref("mt/app:orig")), &idx); err != nil {
		t.Fatal(err)
	}
	idx.Manifests[0].MediaType = types.DockerManifestSchema2 // the child says OCI
	body, _ := json.Marshal(idx)
	if status := putManifestHTTP(t, src, "mt/app", "v1", types.OCIImageIndex, body); status != http.StatusCreated {
		t.Fatalf("PUT the index: %d", status)
	}
	want := sha256Digest(body)

	cli := NewCLI(t)
	check := func(res Result, ref string) {
		t.Helper()
		if got := assertPullsWhole(t, dst, ref); got.String() != want {
			t.Errorf("%s: %s, want the source's %s", ref, got, want)
		}
		for _, s := range []string{"OCI media types", "--media-types", "--strategy"} {
			if strings.Contains(res.Stderr, s) {
				t.Errorf("stderr mentions %q:\n%s", s, res.Stderr)
			}
		}
	}
	res := cli.RunDocker(t, "migrate", src.Ref("mt/app:v1"), dst.Ref("mirror/app:v1")).AssertSuccess(t)
	check(res, dst.Ref("mirror/app:v1"))

	layout := filepath.Join(t.TempDir(), "layout")
	cli.RunDocker(t, "migrate", src.Ref("mt/app:v1"), "oci:"+layout).AssertSuccess(t)
	res = cli.RunDocker(t, "migrate", "oci:"+layout, dst.Host+"/fromlayout").AssertSuccess(t)
	check(res, strings.TrimSpace(res.Stdout))
}
