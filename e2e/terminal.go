//go:build !windows

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
)

// pane is a tmux server of the test's own with one pane running docker.
type pane struct {
	tmux, socket, dir string
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

func mustOutput(t *testing.T, p *pane, args ...string) string {
	t.Helper()
	s, err := p.output(args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
