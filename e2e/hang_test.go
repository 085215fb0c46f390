package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// TestNeverHang: a registry that accepts connections and never answers (as
// source, as destination), and a source that stops in the middle of a blob
// for good, each end the run within a bounded time, non-zero, with one
// sentence that names the host and what it did, and the tag untouched.
func TestNeverHang(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/hang:v1")
	pushFixture(t, src, srcRef, hangImage, true)
	hole := quirk.StartBlackHole(t)
	stalling := startQuirkProxy(t, src, quirk.Options{StallBlobAt: stallAt})

	tests := []struct {
		name, src, dst string
		// bound is how long the run may take; the default stall timeout
		// (30s) stands for hangStall in the bounds docs/guarantees.md states.
		bound time.Duration
		want  []string
	}{
		{
			name: "black hole as source",
			src:  hole.Host + "/e2e/hang:v1",
			// The ping: one stall timeout.
			bound: 2*hangStall + 3*time.Second,
			want:  []string{"registry " + hole.Host + " accepted the connection but sent nothing for 2s"},
		},
		{
			name:  "black hole as destination",
			src:   srcRef,
			dst:   hole.Host + "/hang/dst:v1",
			bound: 2*hangStall + 3*time.Second,
			want:  []string{"registry " + hole.Host + " accepted the connection but sent nothing for 2s"},
		},
		{
			name: "source stalls mid-blob for good",
			src:  stalling.Ref("e2e/hang:v1"),
			// The stall, and the resumed download that brings nothing.
			bound: 3*hangStall + 4*time.Second,
			want:  []string{"registry " + stalling.Host + " stopped sending blob", "sent nothing for 2s"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := stallCLI(t)
			dstRef := tc.dst
			var before v1.Hash
			if dstRef == "" {
				dstRef = dst.Ref("hang/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
				before = pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: int64(300 + i)}, true)
			}
			res, _ := runBounded(t, cli, tc.bound, "migrate", tc.src, dstRef)
			if res.ExitCode == 0 {
				t.Fatalf("a run against a hung registry succeeded:\n%s", res)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res)
				}
			}
			// The sentence is the last line; resumes may be said before it.
			if lines := strings.Split(strings.TrimSpace(res.Stderr), "\n"); !strings.Contains(lines[len(lines)-1], tc.want[0]) {
				t.Errorf("the last line is not the sentence:\n%s", res)
			}
			if res.Stdout != "" {
				t.Errorf("a failure wrote on stdout:\n%s", res)
			}
			if tc.dst == "" {
				assertDigest(t, dst, dstRef, before)
			}
		})
	}
}

// TestStallOnce: a source that stalls once in the middle of a blob, and a
// destination that stops taking an upload once, are resumed where they
// stopped (a Range GET, the upload session's Range), and the copy succeeds.
func TestStallOnce(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/stall-once:v1")
	digest := pushFixture(t, src, srcRef, hangImage, true)
	blobs := assertComplete(t, src, srcRef)

	t.Run("source", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, src, quirk.Options{StallBlobAt: stallAt, StallBlobCount: 1})
		dstRef := dst.Ref("stall-once/source:v1")
		res, _ := runBounded(t, stallCLI(t), 2*hangStall+10*time.Second, "migrate", "--progress", "plain", proxy.Ref("e2e/stall-once:v1"), dstRef)
		res.AssertSuccess(t)
		assertDigest(t, dst, dstRef, digest)
		assertComplete(t, dst, dstRef)
		assertPullableOutput(t, res, dst)
		if !strings.Contains(res.Stderr, "resuming blob") {
			t.Errorf("the stall was not shown:\n%s", res)
		}
		s := proxy.Stats()
		if s.BlobStalls != 1 {
			t.Errorf("%d stalls, want 1", s.BlobStalls)
		}
	})

	t.Run("destination", func(t *testing.T) {
		t.Parallel()
		proxy := startQuirkProxy(t, dst, quirk.Options{StallUploadAt: stallAt, StallUploadCount: 1})
		dstRef := proxy.Ref("stall-once/destination:v1")
		res, _ := runBounded(t, stallCLI(t), 3*hangStall+10*time.Second, "-D", "migrate", srcRef, dstRef)
		res.AssertSuccess(t)
		assertDigest(t, dst, strings.Replace(dstRef, proxy.Host, dst.Host, 1), digest)
		assertComplete(t, dst, strings.Replace(dstRef, proxy.Host, dst.Host, 1))
		s := proxy.Stats()
		if s.UploadStalls != 1 {
			t.Errorf("%d upload stalls, want 1", s.UploadStalls)
		}
		// Resumed, not started over: the bytes sent are the blobs' once.
		if total := totalSize(blobs); s.UploadedBytes >= total+stallAt {
			t.Errorf("uploaded %d bytes for %d bytes of blobs: the stalled upload started over", s.UploadedBytes, total)
		}
		if !strings.Contains(res.Stderr, "resuming") {
			t.Errorf("-D does not show the resume:\n%s", res)
		}
		if len(s.Open) != 0 || s.UploadsOpened != s.UploadsCommitted+s.UploadsCancelled {
			t.Errorf("upload sessions left open: %v (opened %d, committed %d, cancelled %d)", s.Open, s.UploadsOpened, s.UploadsCommitted, s.UploadsCancelled)
		}
	})
}
