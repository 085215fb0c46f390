package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// TestProgressTerminal runs `docker migrate` in a real terminal (a tmux pane
// of 60 and of 120 columns), reads the screen while the view refreshes and
// when it is done, and checks what a person sees: one view, never a stale
// copy of it above, no line longer than the terminal, and a last frame that
// says how the run ended: done, interrupted (Ctrl-C) or failed.
func TestProgressTerminal(t *testing.T) {
	t.Parallel()
	tmuxPath, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux is needed for this test: scripts/install-tools.sh tmux")
	}
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/progress:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:4], LayerSize: 64 << 10, Seed: 41}, false)
	pushFixture(t, src, src.Ref("e2e/other:v1"), fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: 64 << 10, Seed: 42}, false)
	// A slow link, so that the view refreshes many times before the end.
	slow := startQuirkProxy(t, src, quirk.Options{Delay: 250 * time.Millisecond})
	slowest := startQuirkProxy(t, src, quirk.Options{Delay: 2 * time.Second})
	refusing := startQuirkProxy(t, dst, quirk.Options{NoIndex: true})

	for _, tc := range []struct {
		name      string
		width     int
		args      []string
		interrupt bool
		exit      int
		want      []string
		// someArrive: a batch in which some images arrive prints them on stdout.
		someArrive bool
		// debug runs docker -D: its lines go above the view, which stays one.
		debug bool
	}{
		{name: "success at 60 columns", width: 60, args: []string{slow.Ref("e2e/progress:v1"), dst.Ref("w60/progress:v1")}, want: []string{"FINISHED", "Done with the index strategy"}},
		{name: "success at 120 columns", width: 120, args: []string{slow.Ref("e2e/progress:v1"), dst.Ref("w120/progress:v1")}, want: []string{"FINISHED", "=> total", "Done with the index strategy"}},
		{name: "batch at 60 columns", width: 60, args: []string{slow.Ref("e2e/progress:v1"), slow.Ref("e2e/other:v1"), dst.Ref("batch60")}, want: []string{"FINISHED", "[2/2] ", "2 image(s) in"}},
		{name: "batch with a failure at 60 columns", width: 60, args: []string{slow.Ref("e2e/progress:v1"), src.Ref("e2e/absent:v1"), dst.Ref("batchfail60")}, exit: 1, want: []string{"[2/2] ", "failed", "did not arrive"}, someArrive: true},
		{name: "interrupt at 60 columns", width: 60, args: []string{slowest.Ref("e2e/progress:v1"), dst.Ref("ctrlc/progress:v1")}, interrupt: true, exit: 130, want: []string{"CANCELED", "interrupted: "}},
		{name: "-D at 120 columns", width: 120, args: []string{slow.Ref("e2e/progress:v1"), dst.Ref("debug120/progress:v1")}, debug: true, want: []string{"FINISHED", "level=debug"}},
		{name: "failure at 60 columns", width: 60, args: []string{"--strategy", "index", slow.Ref("e2e/progress:v1"), refusing.Ref("refused/progress:v1")}, exit: 1, want: []string{"CANCELED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := NewCLI(t)
			args := append([]string{"migrate", "--progress", "tty"}, tc.args...)
			if tc.debug {
				args = append([]string{"-D"}, args...)
			}
			pane := startPane(t, tmuxPath, cli, tc.width, 40, args)
			frames, exit := pane.watch(t, tc.interrupt, 90*time.Second)
			if exit != tc.exit {
				t.Errorf("exit %d, want %d\n%s", exit, tc.exit, pane.history(t))
			}
			if frames == 0 {
				t.Errorf("no frame of the view was on the screen while the copy ran\n%s", pane.history(t))
			}
			final := pane.history(t)
			t.Logf("after %d frames, the terminal shows:\n%s", frames, final)
			checkScreen(t, final, tc.width, "the end")
			if n := strings.Count(final, "[+] Copying"); n != 1 {
				t.Errorf("the terminal holds %d copies of the view, want 1 (stale frames):\n%s", n, final)
			}
			for _, want := range tc.want {
				if !strings.Contains(final, want) {
					t.Errorf("the screen lacks %q:\n%s", want, final)
				}
			}
			// A batch in which one image failed did finish: every image ended.
			if tc.exit != 0 && !tc.someArrive && strings.Contains(final, "FINISHED") {
				t.Errorf("the last frame of a run that did not finish says FINISHED:\n%s", final)
			}
			out := pane.stdout(t)
			switch {
			case (tc.exit == 0 || tc.someArrive) && !strings.Contains(out, "@sha256:"):
				t.Errorf("stdout %q, want DST@DIGEST", out)
			case tc.exit != 0 && !tc.someArrive && out != "":
				t.Errorf("a run that failed printed %q on stdout", out)
			}
		})
	}
}

// startPane runs docker with args in a new tmux pane of width×height with
// the CLI's environment, stdout to a file; the pane stays when docker ends.
func startPane(t *testing.T, tmuxPath string, cli *CLI, width, height int, args []string) *pane {
	t.Helper()
	return startPaneOut(t, tmuxPath, cli, width, height, args, false)
}
