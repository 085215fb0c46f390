package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// The manifest strategy's tests share one dockerd and run one after another
// (no t.Parallel): each checks that the engine is left as it was found.

func TestManifestStrategy(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:1.25-alpine")
	srcDigest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	wantDiffIDs := diffIDs(t, src, srcRef)

	cli := NewCLI(t).WithEngine(host)
	before := engineImages(t, cli)

	t.Run("all platforms through DOCKER_HOST", func(t *testing.T) {
		dstRef := dst.Ref("mirror/app:1.25-alpine")
		res := cli.RunDocker(t, "migrate", "--strategy", "manifest", srcRef, dstRef).AssertSuccess(t)
		got := resultDigest(t, res, dstRef)
		if got == srcDigest {
			t.Errorf("digest unchanged; the engine writes new manifests")
		}
		if !strings.Contains(res.Stderr, "differs from the source") || !strings.Contains(res.Stderr, "Content verified") {
			t.Errorf("stderr does not say the digest changed and the content was verified:\n%s", res)
		}
		assertDigest(t, dst, dstRef, got)
		assertComplete(t, dst, dstRef)
		idx := readIndex(t, dst, dstRef)
		if want := platformStrings(ociIndex.opts.Platforms); !slices.Equal(idx.Platforms, sorted(want)) || len(idx.Attestations) != 0 {
			t.Errorf("platforms %v (attestations %d), want %v", idx.Platforms, len(idx.Attestations), want)
		}
		if gotDiff := diffIDs(t, dst, dstRef); !equalDiffIDs(gotDiff, wantDiffIDs) {
			t.Errorf("diff_ids differ:\n got %v\nwant %v", gotDiff, wantDiffIDs)
		}
		// The per-platform tags are there, as the shell recipe leaves them.
		for _, suffix := range []string{"amd64", "arm64v8", "armv7", "armv6"} {
			if _, ok := headDigest(t, dst, dst.Ref("mirror/app:1.25-alpine-"+suffix)); !ok {
				t.Errorf("per-platform tag 1.25-alpine-%s is missing", suffix)
			}
		}
		if after := engineImages(t, cli); !slices.Equal(after, before) {
			t.Errorf("the engine holds images it did not have before: %v (before %v)", after, before)
		}

		// The engine can pull each platform of the result.
		for _, p := range []struct{ platform, arch, variant string }{
			{"linux/arm64", "arm64", "v8"},
			{"linux/arm/v7", "arm", "v7"},
		} {
			cli.RunDocker(t, "pull", "--platform", p.platform, dstRef).AssertSuccess(t)
			res := cli.RunDocker(t, "image", "inspect", "--format", "{{json .}}", dstRef).AssertSuccess(t)
			var img struct{ Architecture, Variant string }
			if err := json.Unmarshal([]byte(res.Stdout), &img); err != nil {
				t.Fatal(err)
			}
			if img.Architecture != p.arch || img.Variant != p.variant {
				t.Errorf("pulled %s: architecture %q variant %q", p.platform, img.Architecture, img.Variant)
			}
			cli.RunDocker(t, "rmi", dstRef).AssertSuccess(t)
		}

		// A second run succeeds too.
		again := cli.RunDocker(t, "migrate", "--strategy", "manifest", "--progress", "quiet", srcRef, dstRef).AssertSuccess(t)
		resultDigest(t, again, dstRef)
		if after := engineImages(t, cli); !slices.Equal(after, before) {
			t.Errorf("leftover images after the second run: %v", after)
		}
	})

	t.Run("a docker context and a platform subset", func(t *testing.T) {
		ctxCLI := NewCLI(t)
		ctxCLI.RunDocker(t, "context", "create", "e2e-engine", "--docker", "host="+host).AssertSuccess(t)
		ctxCLI.SetEnv("DOCKER_HOST", "") // the context, not the environment, picks the engine
		dstRef := dst.Ref("mirror/ctx:v1")
		res := ctxCLI.RunDocker(t, "--context", "e2e-engine", "migrate", "--strategy", "manifest", "--format", "json",
			"--platform", "linux/amd64,linux/arm/v7", srcRef, dstRef).AssertSuccess(t)
		var out struct {
			Strategy        string
			DigestChanged   bool
			ContentVerified *bool
			MediaType       string
			Platforms       []struct{ Platform, SourceDigest, DestinationDigest string }
		}
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, res)
		}
		if out.Strategy != "manifest" || !out.DigestChanged || out.ContentVerified == nil || !*out.ContentVerified ||
			out.MediaType != string(types.DockerManifestList) || len(out.Platforms) != 2 {
			t.Errorf("json: %+v", out)
		}
		for _, p := range out.Platforms {
			if p.SourceDigest == "" || p.DestinationDigest == "" || p.SourceDigest == p.DestinationDigest {
				t.Errorf("platform %s: source %s destination %s", p.Platform, p.SourceDigest, p.DestinationDigest)
			}
		}
		idx := readIndex(t, dst, dstRef)
		if !slices.Equal(idx.Platforms, []string{"linux/amd64", "linux/arm/v7"}) {
			t.Errorf("platforms %v", idx.Platforms)
		}
	})

	t.Run("an image the engine already had stays", func(t *testing.T) {
		amd64 := readIndex(t, src, srcRef).Images["linux/amd64"]
		pinned := src.Ref("e2e/app") + "@" + amd64.String()
		cli.RunDocker(t, "pull", "--platform", "linux/amd64", pinned).AssertSuccess(t)
		had := engineImages(t, cli)
		cli.RunDocker(t, "migrate", "--strategy", "manifest", "--platform", "linux/amd64", srcRef, dst.Ref("mirror/kept:v1")).AssertSuccess(t)
		if after := engineImages(t, cli); !slices.Equal(after, had) {
			t.Errorf("images before %v, after %v", had, after)
		}
		cli.RunDocker(t, "rmi", pinned).AssertSuccess(t)
	})

	t.Run("dry run", func(t *testing.T) {
		dstRef := dst.Ref("mirror/dry:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "manifest", "--dry-run", srcRef, dstRef).AssertSuccess(t)
		for _, want := range []string{"docker pull --platform linux/arm64/v8 ", "docker push " + dstRef + "-arm64v8", "Nothing was written"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("dry run lacks %q:\n%s", want, res)
			}
		}
		assertAbsent(t, dst, dstRef)
		assertAbsent(t, dst, dstRef+"-amd64")
	})
}

func TestManifestStrategyFailures(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	secured := startRegistry(t, registryOptions{htpasswd: true})
	srcRef := src.Ref("e2e/app:v1")
	pushFixture(t, src, srcRef, fixtureCases[1].opts, false)

	t.Run("no engine", func(t *testing.T) {
		cli := NewCLI(t) // DOCKER_HOST is a socket that does not exist
		dstRef := src.Ref("mirror/noengine:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "manifest", srcRef, dstRef)
		assertOneLineError(t, res)
		if !strings.Contains(res.Stderr, "the manifest strategy needs a Docker engine: cannot connect to unix:///nonexistent/docker.sock") {
			t.Errorf("stderr:\n%s", res)
		}
		assertAbsent(t, src, dstRef)
	})

	t.Run("destination needs a login", func(t *testing.T) {
		cli := NewCLI(t).WithEngine(host)
		before := engineImages(t, cli)
		dstRef := secured.Ref("mirror/app:v1")
		res := cli.RunDocker(t, "migrate", "--strategy", "manifest", srcRef, dstRef)
		assertOneLineError(t, res)
		if want := "unauthorized: run 'docker login " + secured.Host + "'"; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		assertAbsent(t, secured, dstRef)
		if after := engineImages(t, cli); !slices.Equal(after, before) {
			t.Errorf("a failed run left images in the engine: %v", after)
		}

		cli.Login(t, secured).AssertSuccess(t)
		res = cli.RunDocker(t, "migrate", "--strategy", "manifest", srcRef, dstRef).AssertSuccess(t)
		if strings.Contains(res.Stdout+res.Stderr, secured.Password) {
			t.Errorf("the password appears in the output")
		}
		assertComplete(t, secured, dstRef)
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestManifestStrategyInterrupt stops a run while the engine pulls: exit 130,
// no tag, and the engine left as it was found.
func TestManifestStrategyInterrupt(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	pushFixture(t, src, src.Ref("e2e/big:v1"), fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: 256 << 10, Seed: 19}, false)
	proxy := startProxy(t, src, stallBlobs)
	cli := NewCLI(t).WithEngine(host)
	before := engineImages(t, cli)
	dstRef := dst.Ref("interrupt/engine:v1")

	run := cli.StartDocker(t, "migrate", "--strategy", "manifest", "--progress", "plain", proxy.Ref("e2e/big:v1"), dstRef)
	select {
	case <-proxy.BlobRequested:
	case <-run.Done():
		t.Fatalf("docker exited before the engine pulled a blob:\n%s", run.Wait(t, time.Second))
	case <-time.After(30 * time.Second):
		t.Fatalf("the engine pulled no blob within 30s; stderr so far:\n%s", run.Stderr())
	}
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	res := run.Wait(t, 30*time.Second)
	res.AssertExit(t, 130)
	if res.Stdout != "" {
		t.Errorf("an interrupted run wrote on stdout:\n%s", res)
	}
	assertAbsent(t, dst, dstRef)
	if after := engineImages(t, cli); !slices.Equal(after, before) {
		t.Errorf("the engine holds images it did not have before: %v (before %v)", after, before)
	}
}

// TestManifestStrategyRestoresTags: a per-platform tag the engine already had
// points where it did before the run, and nothing the run pulled is left.
func TestManifestStrategyRestoresTags(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:1.0")
	pushFixture(t, src, srcRef, ociIndex.opts, false)
	otherRef := src.Ref("e2e/other:v1")
	pushFixture(t, src, otherRef, fixture.Options{LayerSize: tinyLayer, Seed: 77}, true)

	cli := NewCLI(t).WithEngine(host)
	dstRef := dst.Ref("mirror/app:1.0")
	cli.RunDocker(t, "pull", otherRef).AssertSuccess(t)
	cli.RunDocker(t, "tag", otherRef, dstRef+"-amd64").AssertSuccess(t)
	idOf := func(ref string) string {
		return strings.TrimSpace(cli.RunDocker(t, "image", "inspect", "--format", "{{.ID}}", ref).AssertSuccess(t).Stdout)
	}
	wantID := idOf(dstRef + "-amd64")
	before := engineImages(t, cli)

	cli.RunDocker(t, "migrate", "--strategy", "manifest", "--platform", "linux/amd64", srcRef, dstRef).AssertSuccess(t)
	if got := idOf(dstRef + "-amd64"); got != wantID {
		t.Errorf("the local tag %s-amd64 points at %s after the run, want %s as before", dstRef, got, wantID)
	}
	if after := engineImages(t, cli); !slices.Equal(after, before) {
		t.Errorf("images before %v, after %v", before, after)
	}
	cli.RunDocker(t, "rmi", dstRef+"-amd64", otherRef).AssertSuccess(t)
}
