package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestPullCheck: the pull check passes a whole image and names what is wrong
// with one that a registry took but cannot serve: a layer whose descriptor
// says one byte more than the blob has (the registry accepts the manifest;
// a pull fails), a tag that points elsewhere, and a manifest that is absent.
func TestPullCheck(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, registryOptions{})
	ctx := checkContext(t)
	ref := r.Ref("pullcheck/whole:v1")
	digest := pushFixture(t, r, ref, fixture.Options{Platforms: fixture.EightPlatforms()[:2], Attestations: true, LayerSize: tinyLayer, Seed: 176}, false)
	whole := mustRef(t, ref)
	if p := pullProblems(ctx, r, whole, digest, true); len(p) != 0 {
		t.Errorf("a whole image: %v", p)
	}
	if images, err := writtenImages(ref + "@" + digest.String() + "\n"); err != nil || len(images) != 1 || !images[0].tagged {
		t.Errorf("parse a result line: %v %+v", err, images)
	}
	if _, err := writtenImages(ref + "@" + digest.String() + "@" + digest.String() + "\n"); err == nil {
		t.Error("a line naming the digest twice was taken")
	}

	c := newBlobClient(t, r.Host, "pullcheck")
	layer := []byte("a layer of twenty-six bytes")
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	ld, cd := c.upload("pullcheck/short", layer), c.upload("pullcheck/short", config)
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`, cd, len(config), ld, len(layer)+1)
	c.must(http.StatusCreated, http.MethodPut, "/v2/pullcheck/short/manifests/v1", "application/vnd.oci.image.manifest.v1+json", []byte(manifest))
	short := sha256Hash([]byte(manifest))
	p := pullProblems(ctx, r, mustRef(t, r.Ref("pullcheck/short:v1")), short, true)
	if len(p) != 1 || !strings.Contains(p[0], fmt.Sprintf("has %d bytes, its descriptor says %d", len(layer), len(layer)+1)) {
		t.Errorf("a layer one byte short: %v", p)
	}
	p = pullProblems(ctx, r, whole, short, true)
	if len(p) == 0 || !strings.Contains(p[0], "points to "+digest.String()) {
		t.Errorf("a tag pointing elsewhere: %v", p)
	}
	if p := pullProblems(ctx, r, mustRef(t, r.Ref("pullcheck/whole")), short, false); len(p) != 1 || !strings.Contains(p[0], "404") {
		t.Errorf("an absent manifest: %v", p)
	}
}
