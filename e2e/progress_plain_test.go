package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// blobLine is a plain line about one blob or manifest.
var blobLine = regexp.MustCompile(`: (blob|manifest) [0-9a-f]{12}`)

// TestProgressPlainCI checks that --progress plain reads well in a CI log: a
// 20 kB image of 8 platforms takes a line per platform, not one per blob
// (start lines only for transfers that last), and a batch of 10 images a few
// lines per image.
func TestProgressPlainCI(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	pushFixture(t, src, src.Ref("e2e/small:v1"), fixture.Options{Platforms: fixture.EightPlatforms(), LayerSize: 2 << 10, Seed: 81}, false)
	var batch []string
	for i := range 10 {
		ref := fmt.Sprintf("e2e/small%02d:v1", i)
		pushFixture(t, src, src.Ref(ref), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 2 << 10, Seed: int64(90 + i)}, false)
		batch = append(batch, src.Ref(ref))
	}
	cli := NewCLI(t)

	t.Run("one image of 8 platforms", func(t *testing.T) {
		res := cli.RunDocker(t, "migrate", "--progress", "plain", src.Ref("e2e/small:v1"), dst.Ref("plain/small:v1")).AssertSuccess(t)
		lines := stderrLines(res)
		t.Logf("%d lines:\n%s", len(lines), res.Stderr)
		// The plan, a plan line and a done line per platform and the index,
		// and the result: about 25, not a line per blob.
		if len(lines) > 26 {
			t.Errorf("%d lines of plain progress for a 20 kB image, want at most 26", len(lines))
		}
		for _, l := range lines {
			if blobLine.MatchString(l) {
				t.Errorf("a line for a blob that ended at once: %q", l)
			}
		}
		if n := strings.Count(res.Stderr, ": done, "); n != 9 {
			t.Errorf("%d group lines, want 9 (8 platforms and the index)", n)
		}
	})
	t.Run("up to date", func(t *testing.T) {
		cli.RunDocker(t, "migrate", "--progress", "quiet", src.Ref("e2e/small00:v1"), dst.Ref("plain/again:v1")).AssertSuccess(t)
		res := cli.RunDocker(t, "migrate", "--progress", "plain", src.Ref("e2e/small00:v1"), dst.Ref("plain/again:v1")).AssertSuccess(t)
		t.Logf("%s", res.Stderr)
		if n := strings.Count(res.Stderr, "is up to date"); n != 1 {
			t.Errorf("\"is up to date\" is said %d times, want once:\n%s", n, res.Stderr)
		}
	})
	t.Run("a batch of 10", func(t *testing.T) {
		res := cli.RunDocker(t, append(append([]string{"migrate", "--progress", "plain"}, batch...), dst.Ref("plainbatch"))...).AssertSuccess(t)
		lines := stderrLines(res)
		t.Logf("%d lines:\n%s", len(lines), res.Stderr)
		perImage := 0
		for _, l := range lines {
			if blobLine.MatchString(l) {
				t.Errorf("a line for a blob in a batch: %q", l)
			}
			if regexp.MustCompile(`^\[\d+/10\] `).MatchString(l) {
				perImage++
			}
		}
		if perImage != 10 {
			t.Errorf("%d [n/10] lines, want 10", perImage)
		}
		if len(lines) > 40 {
			t.Errorf("%d lines of plain progress for a batch of 10 small images, want at most 40", len(lines))
		}
	})
}
