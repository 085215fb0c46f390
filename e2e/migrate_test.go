package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestCopy copies each kind of fixture between two registries and checks the
// result through the registry API.
func TestCopy(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	for _, fc := range fixtureCases {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			cli := NewCLI(t)
			srcRef := src.Ref("e2e/" + fc.repo() + ":v1")
			digest := pushFixture(t, src, srcRef, fc.opts, fc.single)
			srcBlobs := assertComplete(t, src, srcRef)
			dstRef := dst.Ref("mirror/" + fc.repo() + ":v1")

			res := cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)
			assertResultLine(t, res, dstRef, digest)
			assertDigest(t, dst, dstRef, digest)
			assertPullableOutput(t, res, dst)
			dstBlobs := assertComplete(t, dst, dstRef)
			if len(dstBlobs) != len(srcBlobs) {
				t.Errorf("destination has %d blobs, source %d", len(dstBlobs), len(srcBlobs))
			}
			if !fc.single {
				s, d := readIndex(t, src, srcRef), readIndex(t, dst, dstRef)
				if !slices.Equal(s.Platforms, d.Platforms) {
					t.Errorf("destination platforms %v, source %v", d.Platforms, s.Platforms)
				}
			}

			t.Run("again", func(t *testing.T) {
				res := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
				assertPullableOutput(t, res, dst)
				r := parseReport(t, res)
				if r.DestinationDigest != digest.String() {
					t.Errorf("destinationDigest %s, want %s", r.DestinationDigest, digest)
				}
				if r.Manifests.Copied != 0 || r.Blobs.Copied != 0 || r.Blobs.Mounted != 0 || r.Bytes.Copied != 0 {
					t.Errorf("a second copy wrote something: manifests %+v, blobs %+v, bytes %+v", r.Manifests, r.Blobs, r.Bytes)
				}
				t.Logf("second run: manifests %+v, blobs %+v, bytes %+v", r.Manifests, r.Blobs, r.Bytes)
				if r.Manifests.Skipped == 0 {
					t.Errorf("manifests.skipped is 0 on a second run")
				}
				assertDigest(t, dst, dstRef, digest)
			})

			t.Run("source pinned by digest", func(t *testing.T) {
				dstRef := dst.Ref("pinned/" + fc.repo() + ":v2")
				res := cli.RunDocker(t, "migrate", src.Ref("e2e/"+fc.repo()+"@"+digest.String()), dstRef).AssertSuccess(t)
				assertResultLine(t, res, dstRef, digest)
				assertDigest(t, dst, dstRef, digest)
			})

			t.Run("destination without a tag takes the source's", func(t *testing.T) {
				dstRepo := dst.Ref("notag/" + fc.repo())
				res := cli.RunDocker(t, "migrate", srcRef, dstRepo).AssertSuccess(t)
				assertResultLine(t, res, dstRepo+":v1", digest)
				assertDigest(t, dst, dstRepo+":v1", digest)
				assertAbsent(t, dst, dstRepo+":latest")
			})
		})
	}
}

// TestPlatformFilter copies two of eight platforms: the index is rewritten
// with those two images and their attestations, and nothing else.
func TestPlatformFilter(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	srcRef := src.Ref("e2e/multi:v1")
	srcDigest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	srcIndex := readIndex(t, src, srcRef)
	dstRef := dst.Ref("mirror/two:v1")

	res := cli.RunDocker(t, "migrate", "--platform", "linux/amd64,linux/arm64", srcRef, dstRef).AssertSuccess(t)
	dstDigest := resultDigest(t, res, dstRef)
	assertPullableOutput(t, res, dst)
	if dstDigest == srcDigest {
		t.Errorf("a filtered index kept the source digest %s", srcDigest)
	}
	if !strings.Contains(res.Stderr, "differs") {
		t.Errorf("stderr does not say that the digest differs:\n%s", res)
	}
	assertDigest(t, dst, dstRef, dstDigest)
	assertComplete(t, dst, dstRef)

	got := readIndex(t, dst, dstRef)
	wantPlatforms := []string{"linux/amd64", "linux/arm64/v8"}
	if !slices.Equal(got.Platforms, wantPlatforms) {
		t.Errorf("destination platforms %v, want %v", got.Platforms, wantPlatforms)
	}
	if len(got.Attestations) != 2 || got.Manifests != 4 {
		t.Errorf("destination has %d manifests, %d of them attestations; want 2 images and 2 attestations", got.Manifests, len(got.Attestations))
	}
	for _, p := range wantPlatforms {
		img := srcIndex.Images[p]
		if got.Images[p] != img {
			t.Errorf("%s: destination image %s, source %s", p, got.Images[p], img)
		}
		if att, ok := got.Attestations[img]; !ok || att != srcIndex.Attestations[img] {
			t.Errorf("%s: attestation %s (present %v), source %s", p, att, ok, srcIndex.Attestations[img])
		}
	}

	t.Run("json", func(t *testing.T) {
		dstRef := dst.Ref("mirror/two-json:v1")
		res := cli.RunDocker(t, "migrate", "--format", "json", "--platform", "linux/amd64,linux/arm64", srcRef, dstRef).AssertSuccess(t)
		r := parseReport(t, res)
		if !r.DigestChanged {
			t.Error("digestChanged is false")
		}
		if r.SourceDigest != srcDigest.String() || r.DestinationDigest != dstDigest.String() {
			t.Errorf("digests %s -> %s, want %s -> %s", r.SourceDigest, r.DestinationDigest, srcDigest, dstDigest)
		}
		if len(r.Platforms) != 2 {
			t.Errorf("%d platforms in the report, want 2: %+v", len(r.Platforms), r.Platforms)
		}
		assertDigest(t, dst, dstRef, dstDigest)
	})
}

// TestDryRun prints the plan and leaves the destination empty.
func TestDryRun(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	srcRef := src.Ref("e2e/multi:v1")
	pushFixture(t, src, srcRef, ociIndex.opts, false)
	dstRef := dst.Ref("mirror/dry:v1")

	res := cli.RunDocker(t, "migrate", "--dry-run", srcRef, dstRef).AssertSuccess(t)
	if !regexp.MustCompile(`(?i)blob`).MatchString(res.Stdout) {
		t.Errorf("the plan on stdout does not mention blobs:\n%s", res)
	}
	if !regexp.MustCompile(`(?i)\d\s*(bytes|[kMG]i?B)\b`).MatchString(res.Stdout) {
		t.Errorf("the plan on stdout does not give a size:\n%s", res)
	}

	res = cli.RunDocker(t, "migrate", "--dry-run", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	if r := parseReport(t, res); !r.DryRun {
		t.Error("dryRun is false in the JSON output of --dry-run")
	}

	assertAbsent(t, dst, dstRef)
	repos, err := dst.catalog(checkContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 0 {
		t.Errorf("a dry run left repositories in the destination: %v", repos)
	}
}

// TestJSONOutput checks every field of --format json against what the
// registries hold.
func TestJSONOutput(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	srcRef := src.Ref("e2e/multi:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	srcBlobs := assertComplete(t, src, srcRef)
	srcIndex := readIndex(t, src, srcRef)
	dstRef := dst.Ref("mirror/json:v1")

	res := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	r := parseReport(t, res)
	assertDigest(t, dst, dstRef, digest)

	if !strings.Contains(r.Source, "e2e/multi") || !strings.Contains(r.Destination, "mirror/json") {
		t.Errorf("source %q, destination %q", r.Source, r.Destination)
	}
	if r.SourceDigest != digest.String() || r.DestinationDigest != digest.String() || r.DigestChanged {
		t.Errorf("digests %s -> %s (changed %v), want %s both", r.SourceDigest, r.DestinationDigest, r.DigestChanged, digest)
	}
	if r.MediaType != string(types.OCIImageIndex) {
		t.Errorf("mediaType %q, want %s", r.MediaType, types.OCIImageIndex)
	}
	if r.Strategy != "index" {
		t.Errorf("strategy %q, want index", r.Strategy)
	}
	if r.DryRun {
		t.Error("dryRun is true")
	}
	if r.DurationSeconds <= 0 {
		t.Errorf("durationSeconds %v", r.DurationSeconds)
	}

	var plats []string
	for _, p := range r.Platforms {
		plats = append(plats, p.Platform)
		want := srcIndex.Images[p.Platform]
		if p.SourceDigest != want.String() || p.DestinationDigest != want.String() {
			t.Errorf("platform %s: %s -> %s, want %s", p.Platform, p.SourceDigest, p.DestinationDigest, want)
		}
	}
	slices.Sort(plats)
	if want := platformStrings(fixture.EightPlatforms()); !slices.Equal(plats, want) {
		t.Errorf("platforms %v, want %v", plats, want)
	}

	// 8 images and 8 attestations, plus the index itself if it is counted.
	if n := r.Manifests.Copied; n != 16 && n != 17 {
		t.Errorf("manifests.copied %d, want 16 or 17 (with the index)", n)
	}
	if r.Blobs.Copied != len(srcBlobs) || r.Blobs.Mounted != 0 || r.Blobs.Skipped != 0 {
		t.Errorf("blobs %+v, want %d copied (the distinct blobs)", r.Blobs, len(srcBlobs))
	}
	if r.Bytes.Copied != totalSize(srcBlobs) || r.Bytes.Mounted != 0 || r.Bytes.Skipped != 0 {
		t.Errorf("bytes %+v, want %d copied", r.Bytes, totalSize(srcBlobs))
	}
}

// TestSameRegistryMount copies to another repository of the same registry:
// blobs are mounted, not uploaded.
func TestSameRegistryMount(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	srcRef := reg.Ref("e2e/multi:v1")
	digest := pushFixture(t, reg, srcRef, ociIndex.opts, false)
	srcBlobs := assertComplete(t, reg, srcRef)
	dstRef := reg.Ref("other/multi:v1")

	r := parseReport(t, cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t))
	if r.Blobs.Mounted == 0 || r.Bytes.Copied != 0 {
		t.Errorf("blobs %+v, bytes %+v: want mounts and no bytes copied", r.Blobs, r.Bytes)
	}
	if r.Blobs.Mounted+r.Blobs.Skipped != len(srcBlobs) {
		t.Errorf("blobs %+v, want %d mounted or skipped", r.Blobs, len(srcBlobs))
	}
	assertDigest(t, reg, dstRef, digest)
	assertComplete(t, reg, dstRef)
}

// TestProgressModes checks what each --progress mode writes where.
func TestProgressModes(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	srcRef := src.Ref("e2e/multi:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)

	t.Run("plain", func(t *testing.T) {
		dstRef := dst.Ref("mirror/plain:v1")
		res := cli.RunDocker(t, "migrate", "--progress", "plain", srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		if strings.TrimSpace(res.Stderr) == "" {
			t.Errorf("--progress plain wrote nothing on stderr:\n%s", res)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		dstRef := dst.Ref("mirror/quiet:v1")
		res := cli.RunDocker(t, "migrate", "--progress", "quiet", srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		if res.Stderr != "" {
			t.Errorf("--progress quiet wrote on stderr:\n%s", res)
		}
	})
}
