package e2e

import (
	"fmt"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// TestBitFlipsHeal: a source whose answers have a bit flipped in one blob
// download of ten (a bad wire, a broken proxy; never twice in a row for one
// blob) is read again where a blob does not match its digest, and a batch of
// ten images arrives whole: single images (whose config the plan reads) and
// indexes, small blobs and large ones. A source that flips every answer is
// still a corrupt source (TestFailures, TestUploadSessions).
func TestBitFlipsHeal(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	var args []string
	for i := range 10 {
		ref := fmt.Sprintf("e2e/flip%02d:v1", i)
		opts := fixture.Options{LayerSize: 300 << 10, Seed: int64(180 + i)}
		if i%2 == 1 {
			opts.Platforms = fixture.EightPlatforms()[:2]
		}
		pushFixture(t, src, src.Ref(ref), opts, i%2 == 0)
		args = append(args, ref)
	}
	proxy := startQuirkProxy(t, src, quirk.Options{FlipBlobs: 0.1, FlakyMaxInARow: 1, Seed: 17})
	for i, ref := range args {
		args[i] = proxy.Ref(ref)
	}
	res := NewCLI(t).RunDocker(t, append(append([]string{"-D", "migrate", "--progress", "plain"}, args...), dst.Host+"/flip")...).AssertSuccess(t)
	if n := assertPullableOutput(t, res, dst); n != 10 {
		t.Errorf("%d images pulled, want 10:\n%s", n, res)
	}
	if s := proxy.Stats(); s.Flipped == 0 {
		t.Errorf("no bit was flipped: %s", s)
	} else {
		t.Logf("%d blob downloads had a bit flipped", s.Flipped)
	}
}
