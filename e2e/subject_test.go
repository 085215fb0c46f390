package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// artifactsListed is what regctl artifact list finds referring to ref.
func artifactsListed(t testing.TB, env []string, ref string) []string {
	t.Helper()
	out := runTool(t, env, "regctl", "artifact", "list", ref, "--format", "{{range .Descriptors}}{{.Digest}}\n{{end}}")
	return strings.Fields(out)
}

// TestReferrersRuleForEveryManifest copies, without --referrers, an index
// whose children include an artifact with a subject (as attestation and
// artifact indexes hold them), and an artifact index that has a subject
// itself, to Debian's registry 2.8 (no referrers API) and to an OCI layout:
// each manifest with a subject is listed in its subject's fallback tag, so
// that regctl finds at the destination what it finds at the source.
func TestReferrersRuleForEveryManifest(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{kind: distribution28})
	env := regctlFor(t, src.Host, dst.Host)
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 175}
	pushFixture(t, src, src.Ref("subj/app:base"), opts, false)
	idx := readIndex(t, src, src.Ref("subj/app:base"))
	// Two platforms, named for what they stand for here: the SBOM's
	// subject and the bundle's.
	amd64, arm64 := idx.Images[idx.Platforms[0]], idx.Images[idx.Platforms[1]]
	sbom := putArtifact(t, env, src.Ref("subj/app@"+amd64.String()), "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`)
	runTool(t, env, "regctl", "index", "create", src.Ref("subj/app:v1"), "--digest", amd64.String(), "--digest", arm64.String(), "--digest", sbom.String())
	// An artifact index whose subject is the arm64 image.
	runTool(t, env, "regctl", "index", "create", src.Ref("subj/app:bundle"), "--artifact-type", "application/vnd.example.bundle",
		"--subject", arm64.String(), "--digest", sbom.String())
	bundle := strings.TrimSpace(runTool(t, env, "regctl", "image", "digest", src.Ref("subj/app:bundle")))
	if got := artifactsListed(t, env, src.Ref("subj/app@"+arm64.String())); !slices.Contains(got, bundle) {
		t.Fatalf("regctl does not list the bundle %s at the source: %v", bundle, got)
	}

	cli := NewCLI(t)
	t.Run("registry without the referrers API", func(t *testing.T) {
		for _, tag := range []string{"v1", "bundle"} {
			cli.RunDocker(t, "migrate", src.Ref("subj/app:"+tag), dst.Ref("mirror/app:"+tag)).AssertSuccess(t)
			assertPullsWhole(t, dst, dst.Ref("mirror/app:"+tag))
		}
		if got := artifactsListed(t, env, dst.Ref("mirror/app@"+amd64.String())); !slices.Contains(got, sbom.String()) {
			t.Errorf("regctl lists %v referring to the amd64 image at the destination, want the SBOM %s", got, sbom)
		}
		if got := artifactsListed(t, env, dst.Ref("mirror/app@"+arm64.String())); !slices.Contains(got, bundle) {
			t.Errorf("regctl lists %v referring to the arm64 image at the destination, want the bundle %s", got, bundle)
		}
	})
	t.Run("OCI layout", func(t *testing.T) {
		layout := filepath.Join(t.TempDir(), "layout")
		cli.RunDocker(t, "migrate", src.Ref("subj/app:v1"), src.Ref("subj/app:bundle"), "oci:"+layout).AssertSuccess(t)
		if got := artifactsListed(t, env, "ocidir://"+layout+"@"+amd64.String()); !slices.Contains(got, sbom.String()) {
			t.Errorf("regctl lists %v referring to the amd64 image in the layout, want the SBOM %s", got, sbom)
		}
		if got := artifactsListed(t, env, "ocidir://"+layout+"@"+arm64.String()); !slices.Contains(got, bundle) {
			t.Errorf("regctl lists %v referring to the arm64 image in the layout, want the bundle %s", got, bundle)
		}
		// The layout, fallback tags and all, goes back to a registry whole.
		back := cli.RunDocker(t, "migrate", "oci:"+layout, dst.Host+"/back").AssertSuccess(t)
		for _, ref := range stdoutRefs(back) {
			assertPullsWhole(t, dst, ref)
		}
	})
}

// TestBuildxAttestationsCopied copies what buildx pushes (an index with a
// provenance attestation manifest per platform) to Debian's registry 2.8
// and through an OCI layout: each arrives whole, with the source's digest.
func TestBuildxAttestationsCopied(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{kind: distribution28})
	cli := newBuildxCLI(t)
	srcRef := src.Ref("attested/app:v1")
	base := src.Ref("attested/base:v1")
	pushFixture(t, src, base, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 177}, false)
	var plats []string
	for _, p := range fixture.EightPlatforms()[:2] {
		plats = append(plats, p.OS+"/"+p.Architecture)
	}
	cli.RunDockerStdin(t, "FROM "+base+"\nLABEL org.example.built=by-buildx\n", "buildx", "build", "--platform", strings.Join(plats, ","),
		"--provenance=mode=max", "-t", srcRef, "--push", "-").AssertSuccess(t)
	idx := readIndex(t, src, srcRef)
	if len(idx.Attestations) != 2 {
		t.Fatalf("buildx pushed %d attestation manifests, want 2:\n%s", len(idx.Attestations), fetchRaw(t, src, srcRef))
	}
	cli.RunDocker(t, "migrate", srcRef, dst.Ref("mirror/app:v1")).AssertSuccess(t)
	if got := assertPullsWhole(t, dst, dst.Ref("mirror/app:v1")); got != idx.Digest {
		t.Errorf("%s at the destination, want the source's %s", got, idx.Digest)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	cli.RunDocker(t, "migrate", srcRef, "oci:"+layout).AssertSuccess(t)
	back := cli.RunDocker(t, "migrate", "oci:"+layout, dst.Host+"/back").AssertSuccess(t)
	for _, ref := range stdoutRefs(back) {
		if got := assertPullsWhole(t, dst, ref); got != idx.Digest {
			t.Errorf("%s: %s, want the source's %s", ref, got, idx.Digest)
		}
	}
}
