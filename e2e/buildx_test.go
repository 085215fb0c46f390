package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestBuildx rebuilds fixtures through a real buildx and BuildKit with
// `docker migrate --strategy buildx` and checks what the destination holds.
func TestBuildx(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/multi:v1")
	srcDigest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	srcIndex := readIndex(t, src, srcRef)
	cli := newBuildxCLI(t)

	t.Run("all platforms", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("mirror/all:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--format", "json", srcRef, dstRef).AssertSuccess(t)
		r, extra := parseBuildxReport(t, res)
		if r.Strategy != "buildx" || !r.DigestChanged || r.SourceDigest != srcDigest.String() {
			t.Errorf("strategy %q, digestChanged %v, sourceDigest %s", r.Strategy, r.DigestChanged, r.SourceDigest)
		}
		if extra.ContentVerified == nil || !*extra.ContentVerified || extra.DigestNote == "" {
			t.Errorf("contentVerified %v, digestNote %q", extra.ContentVerified, extra.DigestNote)
		}
		got := readIndex(t, dst, dstRef)
		if got.Digest.String() != r.DestinationDigest || got.Digest == srcDigest {
			t.Errorf("destination index %s, report %s, source %s", got.Digest, r.DestinationDigest, srcDigest)
		}
		if !samePlatforms(srcIndex.Platforms, got.Platforms) {
			t.Errorf("destination platforms %v, source %v", got.Platforms, srcIndex.Platforms)
		}
		if len(got.Attestations) != 0 || got.Manifests != len(srcIndex.Platforms) {
			t.Errorf("destination has %d manifests, %d attestations; want %d images and no attestations", got.Manifests, len(got.Attestations), len(srcIndex.Platforms))
		}
		assertComplete(t, dst, dstRef)
		assertSameDiffIDs(t, src, srcRef, dst, dstRef, srcIndex.Platforms)

		// The report pairs each source image with the one pushed for it.
		if len(r.Platforms) != len(srcIndex.Platforms) {
			t.Fatalf("%d platforms in the report, want %d", len(r.Platforms), len(srcIndex.Platforms))
		}
		for _, p := range r.Platforms {
			if want := srcIndex.Images[p.Platform]; p.SourceDigest != want.String() {
				t.Errorf("%s: sourceDigest %s, want %s", p.Platform, p.SourceDigest, want)
			}
			found := false
			for _, d := range got.Images {
				found = found || d.String() == p.DestinationDigest
			}
			if !found {
				t.Errorf("%s: destinationDigest %s is not in the destination index", p.Platform, p.DestinationDigest)
			}
		}

		t.Run("again", func(t *testing.T) {
			// Without attestations the rebuild is reproducible.
			res := cli.RunDocker(t, "migrate", "--strategy", "buildx", srcRef, dstRef).AssertSuccess(t)
			assertResultLine(t, res, dstRef, got.Digest)
		})
	})

	t.Run("platform subset", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("mirror/two:v1")
		want := []string{"linux/amd64", "linux/arm64/v8"}
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--platform", "linux/amd64,linux/arm64", srcRef, dstRef).AssertSuccess(t)
		digest := resultDigest(t, res, dstRef)
		assertDigest(t, dst, dstRef, digest)
		got := readIndex(t, dst, dstRef)
		if !samePlatforms(want, got.Platforms) || got.Manifests != 2 {
			t.Errorf("destination platforms %v (%d manifests), want %v", got.Platforms, got.Manifests, want)
		}
		assertComplete(t, dst, dstRef)
		assertSameDiffIDs(t, src, srcRef, dst, dstRef, want)
		if !strings.Contains(res.Stderr, "differs") {
			t.Errorf("stderr does not say that the digest differs:\n%s", res)
		}
	})

	t.Run("named builder", func(t *testing.T) {
		t.Parallel()
		// The current builder answers nowhere; --builder must pick the other.
		cli := NewCLI(t).WithBuildx(t)
		cli.CreateBuilder(t, "dead", "unix://"+filepath.Join(t.TempDir(), "none.sock"), true)
		cli.CreateBuilder(t, "other", sharedBuildkitd(t), false)
		dstRef := dst.Ref("mirror/named:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--progress", "quiet", srcRef, dstRef)
		assertOneLineError(t, res)
		if !strings.Contains(res.Stderr, "builder dead does not answer") {
			t.Errorf("stderr does not blame the current builder:\n%s", res)
		}
		assertAbsent(t, dst, dstRef)

		res = cli.RunDocker(t, "migrate", "--strategy", "buildx", "--builder", "other", srcRef, dstRef).AssertSuccess(t)
		assertDigest(t, dst, dstRef, resultDigest(t, res, dstRef))
		assertSameDiffIDs(t, src, srcRef, dst, dstRef, srcIndex.Platforms)
		if refs, _ := os.ReadDir(filepath.Join(cli.ConfigDir, "buildx", "refs", "other")); len(refs) == 0 {
			t.Errorf("buildx recorded no build on builder other")
		}
	})

	t.Run("buildkit address", func(t *testing.T) {
		t.Parallel()
		// buildx, and no builder at all: the address is enough.
		cli := NewCLI(t).WithBuildx(t)
		dstRef := dst.Ref("mirror/addr:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--buildkit-addr", sharedBuildkitd(t), srcRef, dstRef).AssertSuccess(t)
		assertDigest(t, dst, dstRef, resultDigest(t, res, dstRef))
		assertComplete(t, dst, dstRef)
		assertSameDiffIDs(t, src, srcRef, dst, dstRef, srcIndex.Platforms)
		// The temporary builder lived in a configuration of its own.
		if instances, _ := os.ReadDir(filepath.Join(cli.ConfigDir, "buildx", "instances")); len(instances) != 0 {
			t.Errorf("the user's buildx configuration has builders now: %v", instances)
		}
		if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "docker-migrate-buildx-*")); len(left) != 0 {
			t.Logf("temporary directories present (possibly another run's): %v", left)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("mirror/dry:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--dry-run", "--platform", "linux/amd64,linux/arm/v7", srcRef, dstRef).AssertSuccess(t)
		for _, want := range []string{
			"FROM " + src.Ref("e2e/multi@"+srcDigest.String()),
			"linux/amd64, linux/arm/v7",
			"kit (driver remote",
			"--provenance=false --sbom=false",
		} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("the dry run does not show %q:\n%s", want, res)
			}
		}
		assertAbsent(t, dst, dstRef)
	})

	t.Run("provenance on request", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("mirror/provenance:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--provenance", "--format", "json", srcRef, dstRef).AssertSuccess(t)
		r, _ := parseBuildxReport(t, res)
		got := readIndex(t, dst, dstRef)
		if len(got.Attestations) != len(srcIndex.Platforms) || !samePlatforms(srcIndex.Platforms, got.Platforms) {
			t.Errorf("destination has platforms %v and %d attestations; want %v and one attestation each", got.Platforms, len(got.Attestations), srcIndex.Platforms)
		}
		if len(r.Platforms) != len(srcIndex.Platforms) {
			t.Errorf("the report lists %d platforms, want %d (attestations are not platforms)", len(r.Platforms), len(srcIndex.Platforms))
		}
		assertComplete(t, dst, dstRef)
	})

	t.Run("progress modes", func(t *testing.T) {
		t.Parallel()
		res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--progress", "plain", "--platform", "linux/s390x", srcRef, dst.Ref("mirror/plain:v1")).AssertSuccess(t)
		if !strings.Contains(res.Stderr, "linux/s390x: FROM ") {
			t.Errorf("--progress plain does not show BuildKit's steps:\n%s", res)
		}
		// One platform of an index is still an index.
		if got := readIndex(t, dst, dst.Ref("mirror/plain:v1")); got.Manifests != 1 || !samePlatforms([]string{"linux/s390x"}, got.Platforms) {
			t.Errorf("destination has %d manifests, platforms %v; want linux/s390x alone", got.Manifests, got.Platforms)
		}
		res = cli.RunDocker(t, "migrate", "--strategy", "buildx", "--progress", "quiet", "--platform", "linux/s390x", srcRef, dst.Ref("mirror/quiet:v1")).AssertSuccess(t)
		if res.Stderr != "" {
			t.Errorf("--progress quiet wrote on stderr:\n%s", res)
		}
	})
}

// TestBuildxSources rebuilds the other kinds of source: media types are kept,
// and a single manifest stays a single manifest.
func TestBuildxSources(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	cli := newBuildxCLI(t)
	for _, tc := range []struct {
		fc   fixtureCase
		want types.MediaType
	}{
		{fixtureCases[1], types.DockerManifestList},
		{fixtureCases[2], types.OCIManifestSchema1},
	} {
		t.Run(tc.fc.name, func(t *testing.T) {
			t.Parallel()
			srcRef := src.Ref("e2e/" + tc.fc.repo() + ":v1")
			pushFixture(t, src, srcRef, tc.fc.opts, tc.fc.single)
			dstRef := dst.Ref("mirror/" + tc.fc.repo() + ":v1")
			res := cli.RunDocker(t, "migrate", "--strategy", "buildx", "--format", "json", srcRef, dstRef).AssertSuccess(t)
			r, extra := parseBuildxReport(t, res)
			if r.MediaType != string(tc.want) {
				t.Errorf("mediaType %s, want %s", r.MediaType, tc.want)
			}
			if extra.ContentVerified == nil || !*extra.ContentVerified {
				t.Errorf("contentVerified %v", extra.ContentVerified)
			}
			d, err := v1.NewHash(r.DestinationDigest)
			if err != nil {
				t.Fatal(err)
			}
			assertDigest(t, dst, dstRef, d)
			assertComplete(t, dst, dstRef)
		})
	}
}

// TestBuildxCredentials pushes to a registry that needs a login: buildx takes
// the credentials from the same docker config as the plugin.
func TestBuildxCredentials(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	secured := startRegistry(t, registryOptions{htpasswd: true})
	srcRef := src.Ref("e2e/multi:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 31}, false)
	cli := newBuildxCLI(t)
	dstRef := secured.Ref("mirror/multi:v1")

	res := cli.RunDocker(t, "migrate", "--strategy", "buildx", srcRef, dstRef)
	assertOneLineError(t, res)
	if want := "docker login " + secured.Host; !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res)
	}
	assertAbsent(t, secured, dstRef)

	cli.Login(t, secured)
	res = cli.RunDocker(t, "migrate", "--strategy", "buildx", srcRef, dstRef).AssertSuccess(t)
	if strings.Contains(res.Stdout+res.Stderr, secured.Password) {
		t.Errorf("the password appears in the output")
	}
	assertDigest(t, secured, dstRef, resultDigest(t, res, dstRef))
	assertComplete(t, secured, dstRef)
}

// TestBuildxFailures checks each way the buildx strategy can fail: one
// sentence that says what to do, a non-zero exit, and the destination tag as
// it was (each case's DST is pre-seeded with another image).
func TestBuildxFailures(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	// Registries BuildKit will only speak HTTPS to, like any registry that is
	// not on loopback and has no entry in buildkitd.toml.
	httpsSrc := startRegistry(t, registryOptions{})
	httpsDst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/multi:v1")
	fixtureOpts := fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Seed: 41}
	pushFixture(t, src, srcRef, fixtureOpts, false)
	// Other content than src's: the strict builder must not find the source's
	// image in its cache (from the case that reads src), or it never asks the
	// registry it does not trust.
	httpsOpts := fixtureOpts
	httpsOpts.Seed = 42
	pushFixture(t, httpsSrc, httpsSrc.Ref("e2e/multi:v1"), httpsOpts, false)
	strict := startBuildkitd(t, "https://"+httpsSrc.Host, "https://"+httpsDst.Host)

	noBuildx := NewCLI(t)
	noBuilder := NewCLI(t).WithBuildx(t)
	dead := NewCLI(t).WithBuildx(t)
	dead.CreateBuilder(t, "dead", "unix://"+filepath.Join(t.TempDir(), "none.sock"), true)
	strictCLI := NewCLI(t).WithBuildx(t)
	strictCLI.CreateBuilder(t, "strict", strict, true)

	tests := []struct {
		name string
		cli  *CLI
		args []string
		// dst is the destination registry: dst unless set.
		dst  *Registry
		want []string
	}{
		{
			name: "no buildx",
			cli:  noBuildx,
			args: []string{srcRef},
			want: []string{"the buildx strategy needs a BuildKit builder: the docker buildx plugin is not installed"},
		},
		{
			name: "no builder",
			cli:  noBuilder,
			args: []string{srcRef},
			want: []string{"the buildx strategy needs a BuildKit builder: the current builder, default, is the Docker engine's", "docker buildx create"},
		},
		{
			name: "unknown builder",
			cli:  noBuilder,
			args: []string{"--builder", "nosuch", srcRef},
			want: []string{"the buildx strategy needs a BuildKit builder: there is no buildx builder named nosuch", "docker buildx ls"},
		},
		{
			name: "builder does not answer",
			cli:  dead,
			args: []string{srcRef},
			want: []string{"the buildx strategy needs a BuildKit builder: builder dead does not answer at unix://"},
		},
		{
			name: "nothing at the buildkit address",
			cli:  noBuilder,
			args: []string{"--buildkit-addr", "unix://" + filepath.Join(t.TempDir(), "none.sock"), srcRef},
			want: []string{"the buildx strategy needs a BuildKit builder: nothing answers at unix://"},
		},
		{
			name: "builder and address",
			cli:  noBuilder,
			args: []string{"--builder", "kit", "--buildkit-addr", "unix:///run/buildkit/buildkitd.sock", srcRef},
			want: []string{"--builder and --buildkit-addr"},
		},
		{
			name: "source registry not trusted",
			cli:  strictCLI,
			args: []string{httpsSrc.Ref("e2e/multi:v1")},
			want: []string{"builder strict cannot reach registry " + httpsSrc.Host, `[registry."` + httpsSrc.Host + `"] http = true`, "buildkitd.toml"},
		},
		{
			name: "destination registry not trusted",
			cli:  strictCLI,
			args: []string{srcRef},
			dst:  httpsDst,
			want: []string{"builder strict cannot reach registry " + httpsDst.Host, `[registry."` + httpsDst.Host + `"] http = true`, "buildkitd.toml"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.dst
			if r == nil {
				r = dst
			}
			dstRef := r.Ref("fail/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
			before := pushFixture(t, r, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: int64(300 + i)}, true)
			args := append([]string{"migrate", "--strategy", "buildx", "--progress", "quiet"}, tc.args...)
			res := tc.cli.RunDocker(t, append(args, dstRef)...)
			if res.ExitCode == 0 {
				t.Fatalf("expected a failure:\n%s", res)
			}
			assertOneLineError(t, res)
			for _, want := range tc.want {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res)
				}
			}
			assertDigest(t, r, dstRef, before)
		})
	}

	t.Run("progress plain ends with the sentence", func(t *testing.T) {
		t.Parallel()
		dstRef := httpsDst.Ref("fail/plain:v1")
		res := strictCLI.RunDocker(t, "migrate", "--strategy", "buildx", "--progress", "plain", srcRef, dstRef)
		lines := strings.Split(strings.TrimRight(res.Stderr, "\n"), "\n")
		if res.ExitCode == 0 || !strings.Contains(lines[len(lines)-1], "buildkitd.toml") {
			t.Errorf("the last line of stderr is not the one sentence:\n%s", res)
		}
		if strings.Contains(res.Stderr, "ERROR: ") {
			t.Errorf("buildx's own error lines reached stderr:\n%s", res)
		}
		assertAbsent(t, httpsDst, dstRef)
	})
}

// TestBuildxInterrupt stops a rebuild while BuildKit is certainly fetching
// the source's layers (through a proxy that stalls blob downloads): exit code
// 130, and the destination tag as it was.
func TestBuildxInterrupt(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	// Its own content, so that BuildKit has none of it cached from another test.
	pushFixture(t, src, src.Ref("e2e/big:v1"), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 64 << 10, Seed: 51}, false)
	proxy := startProxy(t, src, stallBlobs)
	cli := newBuildxCLI(t)
	dstRef := dst.Ref("interrupt/big:v1")
	before := pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: 52}, true)

	run := cli.StartDocker(t, "migrate", "--strategy", "buildx", "--progress", "plain", proxy.Ref("e2e/big:v1"), dstRef)
	select {
	case <-proxy.BlobRequested:
	case <-run.Done():
		t.Fatalf("docker exited before BuildKit downloaded a blob:\n%s", run.Wait(t, time.Second))
	case <-time.After(60 * time.Second):
		t.Fatalf("no blob download within 60s; stderr so far:\n%s", run.Stderr())
	}
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	res := run.Wait(t, 30*time.Second)
	res.AssertExit(t, 130)
	if res.Stdout != "" {
		t.Errorf("an interrupted rebuild wrote on stdout:\n%s", res)
	}
	assertDigest(t, dst, dstRef, before)
}

// TestBuildxDockerDriver uses the engine's own builder, whose docker driver
// cannot push by digest: the strategy says so before anything is built.
func TestBuildxDockerDriver(t *testing.T) {
	t.Parallel()
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/multi:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 61}, false)
	dstRef := dst.Ref("fail/docker-driver:v1")
	before := pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: 62}, true)
	cli := NewCLI(t).WithBuildx(t).WithEngine(host)

	res := cli.RunDocker(t, "migrate", "--strategy", "buildx", srcRef, dstRef)
	if res.ExitCode == 0 {
		t.Fatalf("expected a failure:\n%s", res)
	}
	assertOneLineError(t, res)
	for _, want := range []string{"builder default", "docker driver", "docker buildx create --driver docker-container"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	}
	assertDigest(t, dst, dstRef, before)
}
