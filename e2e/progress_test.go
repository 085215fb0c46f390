package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	}{
		{name: "success at 60 columns", width: 60, args: []string{slow.Ref("e2e/progress:v1"), dst.Ref("w60/progress:v1")}, want: []string{"FINISHED", "Done with the index strategy"}},
		{name: "success at 120 columns", width: 120, args: []string{slow.Ref("e2e/progress:v1"), dst.Ref("w120/progress:v1")}, want: []string{"FINISHED", "=> total", "Done with the index strategy"}},
		{name: "batch at 60 columns", width: 60, args: []string{slow.Ref("e2e/progress:v1"), slow.Ref("e2e/other:v1"), dst.Ref("batch60")}, want: []string{"FINISHED", "[2/2] ", "2 image(s) in"}},
		{name: "batch with a failure at 60 columns", width: 60, args: []string{slow.Ref("e2e/progress:v1"), src.Ref("e2e/absent:v1"), dst.Ref("batchfail60")}, exit: 1, want: []string{"[2/2] ", "failed", "did not arrive"}, someArrive: true},
		{name: "interrupt at 60 columns", width: 60, args: []string{slowest.Ref("e2e/progress:v1"), dst.Ref("ctrlc/progress:v1")}, interrupt: true, exit: 130, want: []string{"CANCELED", "interrupted: "}},
		{name: "failure at 60 columns", width: 60, args: []string{"--strategy", "index", slow.Ref("e2e/progress:v1"), refusing.Ref("refused/progress:v1")}, exit: 1, want: []string{"CANCELED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := NewCLI(t)
			pane := startPane(t, tmuxPath, cli, tc.width, 40, append([]string{"migrate", "--progress", "tty"}, tc.args...))
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

// pane is a tmux server of the test's own with one pane running docker.
type pane struct {
	tmux, socket, dir string
}

// startPane runs docker with args in a new tmux pane of width×height with
// the CLI's environment, stdout to a file; the pane stays when docker ends.
func startPane(t *testing.T, tmuxPath string, cli *CLI, width, height int, args []string) *pane {
	t.Helper()
	return startPaneOut(t, tmuxPath, cli, width, height, args, false)
}

// startPaneOut is startPane, with stdout on the pane too when stdoutOnPane:
// the results share the terminal with the view, as they do for a user.
func startPaneOut(t *testing.T, tmuxPath string, cli *CLI, width, height int, args []string, stdoutOnPane bool) *pane {
	t.Helper()
	dir := t.TempDir()
	p := &pane{tmux: tmuxPath, socket: filepath.Join(dir, "tmux.sock"), dir: dir}
	var script strings.Builder
	script.WriteString("#!/bin/bash\n# The pane's shell outlives Ctrl-C, to say how docker ended.\ntrap : INT\n")
	script.WriteString("env -i")
	for _, kv := range append(cli.Env(), "TERM=tmux-256color") {
		script.WriteString(" " + shellQuote(kv))
	}
	script.WriteString(" " + shellQuote(dockerBinary))
	for _, a := range args {
		script.WriteString(" " + shellQuote(a))
	}
	if !stdoutOnPane {
		script.WriteString(" >" + shellQuote(filepath.Join(dir, "stdout")))
	}
	script.WriteString("\n")
	script.WriteString("echo \"[exit $?]\"\nexec sleep 600\n")
	path := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(path, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.run("kill-server") })
	if err := p.run("-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), path); err != nil {
		t.Fatalf("start tmux: %v", err)
	}
	// Scrollback enough for the whole run, to find stale frames that scrolled off.
	_ = p.run("set-option", "-t", "e2e", "history-limit", "5000")
	return p
}

func (p *pane) run(args ...string) error {
	_, err := p.output(args...)
	return err
}

func (p *pane) output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.tmux, append([]string{"-S", p.socket}, args...)...)
	cmd.Env = append(os.Environ(), "TMUX=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// screen is what the pane shows now (-J: a line the terminal wrapped is one
// line again, so that an over-long line shows as one).
func (p *pane) screen(t *testing.T) string {
	t.Helper()
	s, err := p.output("capture-pane", "-p", "-J", "-t", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// history is the screen with everything that scrolled off above it.
func (p *pane) history(t *testing.T) string {
	t.Helper()
	s, err := p.output("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(s, "\n ")
}

func (p *pane) stdout(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var exitLine = regexp.MustCompile(`(?m)^\[exit (\d+)\]`)

// watch reads the screen until docker has ended, checking every frame; with
// interrupt it presses Ctrl-C once the view shows transfers. It returns how
// many screens showed the view while docker ran, and docker's exit code.
func (p *pane) watch(t *testing.T, interrupt bool, timeout time.Duration) (frames, exit int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pressed := false
	for time.Now().Before(deadline) {
		s := p.screen(t)
		if m := exitLine.FindStringSubmatch(s); m != nil {
			fmt.Sscan(m[1], &exit)
			return frames, exit
		}
		if strings.Contains(s, "[+] Copying") {
			frames++
			width := 0
			fmt.Sscan(strings.TrimSpace(mustOutput(t, p, "display-message", "-p", "-t", "e2e", "#{pane_width}")), &width)
			checkScreen(t, s, width, fmt.Sprintf("frame %d", frames))
			if n := strings.Count(s, "[+] Copying"); n > 1 {
				t.Errorf("frame %d: %d copies of the view on the screen:\n%s", frames, n, s)
			}
		}
		if interrupt && !pressed && strings.Contains(s, "=> => ") {
			if err := p.run("send-keys", "-t", "e2e", "C-c"); err != nil {
				t.Fatal(err)
			}
			pressed = true
		}
		time.Sleep(40 * time.Millisecond)
	}
	t.Fatalf("docker still running after %s:\n%s", timeout, p.history(t))
	return frames, -1
}

func mustOutput(t *testing.T, p *pane, args ...string) string {
	t.Helper()
	s, err := p.output(args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkScreen fails for a line wider than the terminal, and for a frame
// that says a step is still working once the run has ended.
func checkScreen(t *testing.T, screen string, width int, when string) {
	t.Helper()
	for i, line := range strings.Split(screen, "\n") {
		if n := len([]rune(line)); n > width {
			t.Errorf("%s: line %d is %d columns on a %d-column terminal: %q", when, i+1, n, width, strings.TrimRight(line, " "))
		}
	}
	if when == "the end" && strings.Contains(screen, "working") {
		t.Errorf("%s: the last frame still says working:\n%s", when, screen)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
