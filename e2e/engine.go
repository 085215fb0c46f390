//go:build !windows

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The engine is a private dockerd (scripts/dockerd.sh) started once for the
// whole run, on first use, and stopped when the run ends.
var (
	engineOnce sync.Once
	engineHost string
	engineErr  error
)

func startEngine(t testing.TB) string {
	t.Helper()
	engineOnce.Do(func() {
		// A short path: a unix socket path must fit in 108 bytes.
		dir, err := os.MkdirTemp("", "dm-dockerd-")
		if err != nil {
			engineErr = err
			return
		}
		script := filepath.Join(repoRoot, "scripts", "dockerd.sh")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, script, "start", dir).Output()
		if err != nil {
			engineErr = err
			if ee, ok := err.(*exec.ExitError); ok {
				engineErr = &exec.ExitError{ProcessState: ee.ProcessState, Stderr: ee.Stderr}
				t.Logf("dockerd.sh: %s", ee.Stderr)
			}
			os.RemoveAll(dir)
			return
		}
		engineHost = strings.TrimSpace(string(out))
		onExit(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = exec.CommandContext(ctx, script, "stop", dir).Run()
			os.RemoveAll(dir)
		})
	})
	if engineErr != nil {
		t.Fatalf("cannot start dockerd: %v", engineErr)
	}
	return engineHost
}

// WithEngine points the CLI at the test engine through DOCKER_HOST.
func (c *CLI) WithEngine(host string) *CLI {
	c.SetEnv("DOCKER_HOST", host)
	return c
}

// SetEnv sets (or, with an empty value, clears) a variable of the CLI's
// environment; the last value of a key is the one a process gets.
func (c *CLI) SetEnv(key, value string) {
	c.env = append(c.env, key+"="+value)
}

// engineImages lists every image the engine holds, by ID.
func engineImages(t testing.TB, c *CLI) []string {
	t.Helper()
	res := c.RunDocker(t, "images", "-a", "-q", "--no-trunc").AssertSuccess(t)
	return strings.Fields(res.Stdout)
}

// startPrivateEngine starts a dockerd of the test's own with extra daemon
// flags (scripts/dockerd.sh, DOCKERD_ARGS) and stops it when the test ends.
func startPrivateEngine(t testing.TB, args string, env ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dm-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repoRoot, "scripts", "dockerd.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "start", dir)
	cmd.Env = append(append(os.Environ(), "DOCKERD_ARGS="+args), env...)
	out, err := cmd.Output()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, script, "stop", dir).Run()
		os.RemoveAll(dir)
	})
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Logf("dockerd.sh: %s", ee.Stderr)
		}
		t.Fatalf("cannot start dockerd with %s: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
