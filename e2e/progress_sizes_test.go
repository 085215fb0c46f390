package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/shaper"
)

// viewHeader is the header of the tty view, with the transfers it counts.
var viewHeader = regexp.MustCompile(`\[\+\] Copying [0-9.]+s \((\d+)/(\d+)\)`)

// strayAfterTime is a step's line whose timer has leftovers of an earlier,
// longer frame after it ("4.7s6").
var strayAfterTime = regexp.MustCompile(` \d+\.\ds\S+\s*$`)

// TestProgressTerminalSizes runs the tty view in tmux panes of 80×24 and
// 120×40 during an 8-platform copy (taller than the pane) and a 10-image
// batch, and an up-to-date run, and checks what a person sees in every frame:
// the total line always there once the plan is made, the header counting
// progress, no leftovers after the times, lines that measure the terminal's
// width, one view in the scrollback, and a last frame that says FINISHED.
func TestProgressTerminalSizes(t *testing.T) {
	t.Parallel()
	tmuxPath, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux is needed for this test: scripts/install-tools.sh tmux")
	}
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	pushFixture(t, src, src.Ref("e2e/eight:v1"), fixture.Options{Platforms: fixture.EightPlatforms(), LayersPerImage: 2, LayerSize: 96 << 10, Seed: 51}, false)
	var batch []string
	// A slow link from the source, so that the copy lasts a few seconds
	// and the view is redrawn many times.
	link := shaper.Start(t, src.Host, shaper.Options{Delay: 20 * time.Millisecond, Rate: shaper.Mbit(0.3)})
	slow := &Registry{Host: link.Host}
	for i := range 10 {
		ref := fmt.Sprintf("e2e/batch%02d:v1", i)
		pushFixture(t, src, src.Ref(ref), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 48 << 10, Seed: int64(60 + i)}, false)
		batch = append(batch, slow.Ref(ref))
	}
	pushFixture(t, dst, dst.Ref("uptodate/img:v1"), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 16 << 10, Seed: 70}, false)
	pushFixture(t, src, src.Ref("e2e/uptodate:v1"), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 16 << 10, Seed: 70}, false)

	type size struct{ w, h int }
	for _, tc := range []struct {
		name string
		size size
		args []string
		// batch: the header counts images, and may end before all are in.
		batch    bool
		upToDate bool
		// stdoutOnPane: the results go to the terminal too, as for a user.
		stdoutOnPane bool
	}{
		{name: "eight platforms at 80x24", size: size{80, 24}, args: []string{slow.Ref("e2e/eight:v1"), dst.Ref("eight80/img:v1")}},
		{name: "eight platforms at 120x40", size: size{120, 40}, args: []string{slow.Ref("e2e/eight:v1"), dst.Ref("eight120/img:v1")}},
		{name: "batch of 10 at 120x40", size: size{120, 40}, args: append(append([]string{}, batch...), dst.Ref("batch120")), batch: true},
		{name: "batch of 10 at 80x24", size: size{80, 24}, args: append(append([]string{}, batch...), dst.Ref("batch80")), batch: true},
		{name: "batch of 10 at 120x40 with the results on the terminal", size: size{120, 40}, args: append(append([]string{}, batch...), dst.Ref("batchout120")), batch: true, stdoutOnPane: true},
		{name: "up to date at 80x24", size: size{80, 24}, args: []string{src.Ref("e2e/uptodate:v1"), dst.Ref("uptodate/img:v1")}, upToDate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := NewCLI(t)
			pane := startPaneOut(t, tmuxPath, cli, tc.size.w, tc.size.h, append([]string{"migrate", "--progress", "tty"}, tc.args...), tc.stdoutOnPane)
			var frames []string
			deadline := time.Now().Add(120 * time.Second)
			exit := -1
			for time.Now().Before(deadline) {
				s := pane.screen(t)
				if m := exitLine.FindStringSubmatch(s); m != nil {
					fmt.Sscan(m[1], &exit)
					break
				}
				if strings.Contains(s, "[+] Copying") {
					frames = append(frames, s)
				}
				time.Sleep(50 * time.Millisecond)
			}
			final := pane.history(t)
			t.Logf("after %d frames, the terminal holds:\n%s", len(frames), final)
			if exit != 0 {
				t.Fatalf("exit %d, want 0", exit)
			}
			if len(frames) > 0 {
				t.Logf("frame %d of %d:\n%s", len(frames)*2/3+1, len(frames), frames[len(frames)*2/3])
			}
			counted := false
			for i, s := range frames {
				checkFrame(t, s, tc.size.w, fmt.Sprintf("frame %d", i+1))
				m := viewHeader.FindStringSubmatch(s)
				if m == nil {
					continue
				}
				if m[1] != "0" && m[1] != m[2] {
					counted = true
				}
				planned := strings.Contains(s, "=> total") && !strings.Contains(s, "total: planning")
				if !tc.upToDate && !planned && i > len(frames)/3 {
					t.Errorf("frame %d of %d lacks the total line:\n%s", i+1, len(frames), s)
				}
			}
			if !tc.upToDate && len(frames) > 5 && !counted {
				t.Errorf("the header never counted progress between (0/N) and the end in %d frames", len(frames))
			}
			checkFrame(t, final, tc.size.w, "the end")
			if n := strings.Count(final, "[+] Copying"); n != 1 {
				t.Errorf("the terminal holds %d views, want 1 (stale headers in the scrollback)", n)
			}
			if tc.stdoutOnPane {
				if n := strings.Count(final, "@sha256:"); n != 10 {
					t.Errorf("the terminal shows %d results, want 10", n)
				}
			}
			if !strings.Contains(final, "FINISHED") {
				t.Errorf("the last frame does not say FINISHED")
			}
			if strings.Contains(final, "total: planning") {
				t.Errorf("the last frame still says total: planning")
			}
			if tc.upToDate {
				if n := strings.Count(final, "is up to date"); n != 1 {
					t.Errorf("\"is up to date\" is said %d times, want once", n)
				}
			}
		})
	}
}

// checkFrame is checkScreen, and no leftovers after a timer, and every step
// line as wide as the view draws them (the terminal's width less one): a line
// with "…" measured as three columns ends short.
func checkFrame(t *testing.T, screen string, width int, when string) {
	t.Helper()
	checkScreen(t, screen, width, when)
	for i, line := range strings.Split(screen, "\n") {
		// The view's own lines: the summary below it is prose, which may
		// wrap right after a time ("in 2.3s,").
		isView := strings.HasPrefix(line, " =>") || strings.HasPrefix(line, "[+]")
		if isView && strayAfterTime.MatchString(line) {
			t.Errorf("%s: line %d has leftovers after its time: %q", when, i+1, strings.TrimRight(line, " "))
		}
		trimmed := strings.TrimRight(line, " ")
		if strings.HasPrefix(trimmed, " => ") && regexp.MustCompile(` \d+\.\ds$`).MatchString(trimmed) {
			if n := len([]rune(trimmed)); n != width-1 {
				t.Errorf("%s: line %d is %d columns, want %d: %q", when, i+1, n, width-1, trimmed)
			}
		}
	}
}
