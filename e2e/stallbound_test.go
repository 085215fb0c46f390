package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// TestStallEveryResume: a source that sends a little of a blob and then
// stalls, every time it is asked (a broken proxy), ends the run within the
// bound docs/guarantees.md gives for a source that stalls for good (about two stall
// timeouts, at most three), though every resume makes progress. The stall
// timeout is hangStall (DOCKER_MIGRATE_STALL_TIMEOUT), as in TestNeverHang:
// the bound is counted in stall timeouts, so a short one keeps the test short
// and says the same. Each answer moves a blob by 16 KiB of 256 KiB: without a
// bound on resumes that do not finish a blob, the run goes on for 8 stalls.
func TestStallEveryResume(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/stall-every:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms(), LayerSize: 256 << 10, Seed: 174}, false)
	proxy := startQuirkProxy(t, src, quirk.Options{StallBlobEvery: 16 << 10})
	dstRef := dst.Ref("stall-every/img:v1")
	before := pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: 175}, true)

	bound := 3*hangStall + 4*time.Second
	res, _ := runBounded(t, stallCLI(t), bound, "migrate", "--progress", "plain", proxy.Ref("e2e/stall-every:v1"), dstRef)
	if res.ExitCode != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.ExitCode, res)
	}
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"registry " + proxy.Host + " stopped sending blob", fmt.Sprintf("sent nothing for %s", hangStall), "every time"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line lacks %q:\n%s", want, res)
		}
	}
	if res.Stdout != "" {
		t.Errorf("a failure wrote on stdout:\n%s", res)
	}
	assertDigest(t, dst, dstRef, before)
}
