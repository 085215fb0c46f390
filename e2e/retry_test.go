package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// assertSessionsClosed fails the test if the registry behind proxy was left
// with an upload session that was neither committed nor cancelled.
func assertSessionsClosed(t *testing.T, proxy *quirk.Proxy) quirk.Stats {
	t.Helper()
	s := proxy.Stats()
	if len(s.Open) != 0 {
		t.Errorf("%d upload sessions left open (opened %d, committed %d, cancelled %d): %v",
			len(s.Open), s.UploadsOpened, s.UploadsCommitted, s.UploadsCancelled, s.Open)
	}
	return s
}

func sumPuts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestRetrySafely: what is safe to retry is retried until the copy succeeds,
// and nothing is done twice that need not be: a destination that loses 30%
// of its answers to PUTs and PATCHes (a HEAD tells whether a manifest PUT
// landed, a GET on the session how much of a PATCH did), a source that cuts
// 30% of its manifest bodies short.
func TestRetrySafely(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/retry:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	manifests := 1 + len(readIndex(t, src, srcRef).Platforms)*2 // the index, 8 images, 8 attestations

	for _, seed := range []uint64{1, 2, 3} {
		t.Run("lost answers seed "+string(rune('0'+seed)), func(t *testing.T) {
			t.Parallel()
			proxy := startQuirkProxy(t, dst, quirk.Options{LoseAnswers: 0.3, Seed: seed})
			dstRef := proxy.Ref("retry/lost-" + string(rune('0'+seed)) + ":v1")
			NewCLI(t).RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)
			direct := strings.Replace(dstRef, proxy.Host, dst.Host, 1)
			assertDigest(t, dst, direct, digest)
			assertComplete(t, dst, direct)
			s := assertSessionsClosed(t, proxy)
			if s.LostAnswers == 0 {
				t.Errorf("no answer was lost")
			}
			if n := sumPuts(s.ManifestPuts); n != manifests {
				t.Errorf("%d manifest PUTs for %d manifests: a PUT that landed was sent again", n, manifests)
			}
		})
	}

	t.Run("truncated manifests", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, src, quirk.Options{TruncateManifests: 0.3, Seed: 7})
		dstRef := dst.Ref("retry/truncated:v1")
		NewCLI(t).RunDocker(t, "migrate", proxy.Ref("e2e/retry:v1"), dstRef).AssertSuccess(t)
		assertDigest(t, dst, dstRef, digest)
		assertComplete(t, dst, dstRef)
		if s := proxy.Stats(); s.Truncated == 0 {
			t.Errorf("no manifest was cut short")
		}
	})
}

// TestUploadSessionsCancelled: an upload that does not end in a commit is
// cancelled with a DELETE on every way out, counted by a proxy in front of
// the destination: an interrupt, a corrupt source blob, a destination that
// stops taking data.
func TestUploadSessionsCancelled(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/sessions:v1")
	pushFixture(t, src, srcRef, hangImage, true)

	t.Run("interrupt", func(t *testing.T) {
		t.Parallel()
		stalling := startQuirkProxy(t, src, quirk.Options{StallBlobAt: stallAt})
		proxy := startQuirkProxy(t, dst, quirk.Options{})
		// The default stall timeout: the run is certainly mid-upload.
		run := NewCLI(t).StartDocker(t, "migrate", stalling.Ref("e2e/sessions:v1"), proxy.Ref("sessions/interrupt:v1"))
		if !waitFor(30*time.Second, func() bool { return stalling.Stats().BlobStalls > 0 && proxy.Stats().UploadsOpened > 0 }) {
			t.Fatalf("no upload in flight within 30s:\n%s", run.Stderr())
		}
		if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		run.Wait(t, 20*time.Second).AssertExit(t, 130)
		if s := assertSessionsClosed(t, proxy); s.UploadsCancelled == 0 {
			t.Errorf("no session was cancelled")
		}
		assertAbsent(t, dst, dst.Ref("sessions/interrupt:v1"))
	})

	t.Run("corrupt source blob", func(t *testing.T) {
		t.Parallel()
		// An index, so that the plan reads no config: the copy meets the
		// corrupt blob mid-upload.
		pushFixture(t, src, src.Ref("e2e/sessions-index:v1"), fixture.Options{Platforms: fixture.EightPlatforms()[:1], LayerSize: 256 << 10, Seed: 32}, false)
		corrupting := startProxy(t, src, corruptBlobs)
		proxy := startQuirkProxy(t, dst, quirk.Options{})
		res := NewCLI(t).RunDocker(t, "migrate", corrupting.Ref("e2e/sessions-index:v1"), proxy.Ref("sessions/corrupt:v1"))
		if res.ExitCode == 0 {
			t.Fatalf("a corrupt blob was copied:\n%s", res)
		}
		for _, want := range []string{"digest mismatch", "the source registry holds a corrupt blob", "report it to its operator, or copy from another mirror"} {
			if !strings.Contains(lastLine(res.Stderr), want) {
				t.Errorf("the sentence lacks %q:\n%s", want, res)
			}
		}
		if res.Stdout != "" {
			t.Errorf("a failure wrote on stdout:\n%s", res)
		}
		if s := assertSessionsClosed(t, proxy); s.UploadsCancelled == 0 {
			t.Errorf("no session was cancelled")
		}
		assertAbsent(t, dst, dst.Ref("sessions/corrupt:v1"))
	})

	t.Run("destination stops taking data", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, dst, quirk.Options{StallUploadAt: stallAt})
		res, _ := runBounded(t, stallCLI(t), 3*hangStall+5*time.Second, "migrate", srcRef, proxy.Ref("sessions/stalled:v1"))
		if res.ExitCode == 0 {
			t.Fatalf("a copy to a stalled destination succeeded:\n%s", res)
		}
		if want := "registry " + proxy.Host + " stopped taking blob"; !strings.Contains(lastLine(res.Stderr), want) {
			t.Errorf("the sentence lacks %q:\n%s", want, res)
		}
		if s := assertSessionsClosed(t, proxy); s.UploadsCancelled == 0 {
			t.Errorf("no session was cancelled")
		}
		assertAbsent(t, dst, dst.Ref("sessions/stalled:v1"))
	})
}

// TestSharedAttestationPushedOnce: an index that lists one attestation
// manifest for two platforms (the same bytes) gets it PUT once.
func TestSharedAttestationPushedOnce(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	proxy := startQuirkProxy(t, dst, quirk.Options{})
	ctx := checkContext(t)

	built, err := fixture.NewIndex(fixture.Options{Platforms: fixture.EightPlatforms()[:2], Attestations: true, LayerSize: tinyLayer, Seed: 51})
	if err != nil {
		t.Fatal(err)
	}
	im, err := built.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	var shared v1.Image
	for _, d := range im.Manifests {
		img, err := built.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if d.Annotations[fixture.AnnotationReferenceType] == fixture.ReferenceTypeAttestation {
			if shared == nil {
				shared = img
			}
			img = shared // every platform's attestation is the first one
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: d.Platform, Annotations: d.Annotations}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	srcRef := src.Ref("e2e/shared-attestation:v1")
	ref, err := name.ParseReference(srcRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, src.remoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}

	dstRef := proxy.Ref("shared/attestation:v1")
	res := NewCLI(t).RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	assertDigest(t, dst, dst.Ref("shared/attestation:v1"), digest)
	assertComplete(t, dst, dst.Ref("shared/attestation:v1"))
	// Two images, one attestation, the index.
	if n := sumPuts(proxy.Stats().ManifestPuts); n != 4 {
		t.Errorf("%d manifest PUTs, want 4 (the shared attestation once)", n)
	}
	if r := parseReport(t, res); r.Manifests.Copied != 4 || r.Manifests.Skipped != 1 {
		t.Errorf("manifests %+v, want 4 copied and the repeated entry skipped", r.Manifests)
	}
}

// TestUpToDateReport: a second run that finds the destination up to date
// reports every manifest and blob as checked and found there.
func TestUpToDateReport(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/up-to-date:v1")
	pushFixture(t, src, srcRef, ociIndex.opts, false)
	blobs := assertComplete(t, src, srcRef)
	manifests := 1 + len(readIndex(t, src, srcRef).Platforms)*2
	dstRef := dst.Ref("up-to-date/image:v1")
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)

	res := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	r := parseReport(t, res)
	var flag struct {
		UpToDate bool `json:"upToDate"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &flag); err != nil || !flag.UpToDate {
		t.Errorf("the second run is not up to date (%v):\n%s", err, res)
	}
	if r.Blobs.Skipped != len(blobs) || r.Bytes.Skipped != totalSize(blobs) || r.Blobs.Copied != 0 {
		t.Errorf("blobs %+v, bytes %+v; want all %d blobs (%d bytes) found there", r.Blobs, r.Bytes, len(blobs), totalSize(blobs))
	}
	if r.Manifests.Skipped != manifests || r.Manifests.Copied != 0 {
		t.Errorf("manifests %+v; want all %d found there", r.Manifests, manifests)
	}
}
