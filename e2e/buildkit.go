//go:build !windows

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/platforms"
)

// BuildKit for the buildx strategy's tests: buildkitd v0.23.2 run by
// scripts/buildkitd.sh, and buildx v0.26.1 installed into each CLI's config
// directory, both from the tools cache (scripts/install-tools.sh).
//
// BuildKit speaks plain HTTP to registries on loopback unless its config says
// otherwise, so the daemon shared by the run needs no entry for the tests'
// registries, whose ports are only known when each test starts them. A test
// that needs a registry the daemon does not trust starts a daemon of its own.

var (
	buildkitToolsOnce sync.Once
	buildkitToolsDir  string
	buildkitToolsErr  error

	sharedBuildkitOnce sync.Once
	sharedBuildkitAddr string
	sharedBuildkitErr  error
)

// buildkitTools makes sure buildkitd and buildx are in the tools cache (a
// no-op once they are built) and returns its bin directory.
func buildkitTools(t testing.TB) string {
	t.Helper()
	buildkitToolsOnce.Do(func() {
		script := filepath.Join(repoRoot, "scripts", "install-tools.sh")
		// Building them takes minutes the first time only.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		install := exec.CommandContext(ctx, script, "buildkitd", "buildx")
		install.Stdout, install.Stderr = os.Stderr, os.Stderr
		if err := install.Run(); err != nil {
			buildkitToolsErr = fmt.Errorf("%s buildkitd buildx: %w", script, err)
			return
		}
		out, err := exec.CommandContext(ctx, script, "path").Output()
		if err != nil {
			buildkitToolsErr = fmt.Errorf("%s path: %w", script, err)
			return
		}
		buildkitToolsDir = strings.TrimSpace(string(out))
	})
	if buildkitToolsErr != nil {
		t.Fatalf("BuildKit tools: %v", buildkitToolsErr)
	}
	return buildkitToolsDir
}

// sharedBuildkitd returns the address of the buildkitd the whole run shares,
// started on first use and stopped when the run ends.
func sharedBuildkitd(t testing.TB) string {
	t.Helper()
	buildkitTools(t)
	sharedBuildkitOnce.Do(func() {
		var stop func()
		sharedBuildkitAddr, stop, sharedBuildkitErr = runBuildkitd()
		if sharedBuildkitErr == nil {
			onExit(stop)
		}
	})
	if sharedBuildkitErr != nil {
		t.Fatalf("cannot start buildkitd: %v", sharedBuildkitErr)
	}
	return sharedBuildkitAddr
}

// startBuildkitd starts a buildkitd for one test, with buildkitd.sh's
// registry arguments (HOST:PORT trusted over HTTP, https://HOST:PORT HTTPS
// only), and stops it when the test ends.
func startBuildkitd(t testing.TB, registries ...string) string {
	t.Helper()
	buildkitTools(t)
	addr, stop, err := runBuildkitd(registries...)
	if err != nil {
		t.Fatalf("cannot start buildkitd: %v", err)
	}
	t.Cleanup(stop)
	return addr
}

// runBuildkitd starts a daemon with all its state in a new temporary
// directory (a short path: a unix socket path must fit in 108 bytes).
func runBuildkitd(registries ...string) (addr string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "dm-bk-")
	if err != nil {
		return "", nil, err
	}
	script := filepath.Join(repoRoot, "scripts", "buildkitd.sh")
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, script, "stop", dir).Run()
		os.RemoveAll(dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, append([]string{"start", dir}, registries...)...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		stop()
		return "", nil, err
	}
	return strings.TrimSpace(string(out)), stop, nil
}

// WithBuildx installs buildx as the CLI's docker-buildx plugin.
func (c *CLI) WithBuildx(t testing.TB) *CLI {
	t.Helper()
	src := filepath.Join(buildkitTools(t), "buildx")
	dst := filepath.Join(c.ConfigDir, "cli-plugins", "docker-buildx")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src, dst); err != nil {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// CreateBuilder creates a buildx builder with the remote driver for the
// BuildKit at addr, and makes it the current one when use is set.
func (c *CLI) CreateBuilder(t testing.TB, name, addr string, use bool) {
	t.Helper()
	args := []string{"buildx", "create", "--name", name, "--driver", "remote", addr}
	if use {
		args = append(args, "--use")
	}
	c.RunDocker(t, args...).AssertSuccess(t)
}

// newBuildxCLI is a CLI with the plugin and buildx, whose current builder is
// "kit", on the shared buildkitd.
func newBuildxCLI(t testing.TB) *CLI {
	t.Helper()
	c := NewCLI(t).WithBuildx(t)
	c.CreateBuilder(t, "kit", sharedBuildkitd(t), true)
	return c
}

// samePlatforms reports whether got and want list the same platforms, with
// containerd's defaults (arm64 is arm64/v8): BuildKit writes linux/arm64 for a
// source's linux/arm64/v8.
func samePlatforms(want, got []string) bool {
	if len(want) != len(got) {
		return false
	}
	used := make([]bool, len(got))
	for _, w := range want {
		wp, err := platforms.Parse(w)
		if err != nil {
			return false
		}
		found := false
		for i, g := range got {
			gp, err := platforms.Parse(g)
			if err == nil && !used[i] && platforms.Match(wp, gp) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// assertSameDiffIDs checks that every platform of want has the same
// rootfs.diff_ids in dstRef as in srcRef, and that dstRef has no other images.
func assertSameDiffIDs(t *testing.T, src *Registry, srcRef string, dst *Registry, dstRef string, want []string) {
	t.Helper()
	s, d := diffIDs(t, src, srcRef), diffIDs(t, dst, dstRef)
	if len(d) != len(want) {
		t.Errorf("%s has %d platform images, want %d", dstRef, len(d), len(want))
	}
	find := func(m map[string][]v1.Hash, p string) ([]v1.Hash, bool) {
		wp, _ := platforms.Parse(p)
		for k, v := range m {
			if kp, err := platforms.Parse(k); err == nil && platforms.Match(wp, kp) {
				return v, true
			}
		}
		return nil, false
	}
	for _, p := range want {
		sv, ok1 := find(s, p)
		dv, ok2 := find(d, p)
		switch {
		case !ok1 || !ok2:
			t.Errorf("%s: in the source %v, in the destination %v", p, ok1, ok2)
		case len(dv) == 0 || fmt.Sprint(sv) != fmt.Sprint(dv):
			t.Errorf("%s: destination diff_ids %v, source %v", p, dv, sv)
		}
	}
}
