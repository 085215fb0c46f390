package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// `go test -short ./...` is the unit tests only: these need real servers.
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "e2e: skipped in -short mode")
		return 0
	}
	tmp, err := os.MkdirTemp("", "docker-migrate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	if repoRoot, err = filepath.Abs(".."); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if dockerBinary, err = findDocker(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if registryBinary, err = findRegistry(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	pluginBinary = filepath.Join(tmp, "cli-plugins", "docker-migrate")
	if pluginBuildErr = buildPlugin(pluginBinary); pluginBuildErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: the plugin did not build; tests that run it will fail:", pluginBuildErr)
	}
	defer runAtExit()
	return m.Run()
}

func runAtExit() {
	atExitMu.Lock()
	defer atExitMu.Unlock()
	for i := len(atExit) - 1; i >= 0; i-- {
		atExit[i]()
	}
	atExit = nil
}

// buildPlugin builds ./cmd/docker-migrate once for the whole run.
func buildPlugin(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/docker-migrate")
	cmd.Dir = repoRoot
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/docker-migrate: %w\n%s", err, output)
	}
	return nil
}

func findDocker() (string, error) {
	if p, err := exec.LookPath("docker"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/local/bin/docker"); err == nil {
		return "/usr/local/bin/docker", nil
	}
	return "", fmt.Errorf("no docker CLI on PATH or in /usr/local/bin")
}

// findRegistry looks on PATH, then in the tools cache, and installs into the
// cache as a last resort (a one-off `go install` of a minute or two).
func findRegistry() (string, error) {
	if p, err := exec.LookPath("registry"); err == nil && isDistributionV3(p) {
		return p, nil
	}
	script := filepath.Join(repoRoot, "scripts", "install-tools.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "path").Output()
	if err != nil {
		return "", fmt.Errorf("%s path: %w", script, err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "registry")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	fmt.Fprintln(os.Stderr, "e2e: installing the distribution registry (once)")
	install := exec.CommandContext(ctx, script, "registry")
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	if err := install.Run(); err != nil {
		return "", fmt.Errorf("%s registry: %w", script, err)
	}
	return p, nil
}

// isDistributionV3 tells the distribution registry from other programs named
// registry (Debian's docker-registry is 2.8 and is called differently).
func isDistributionV3(path string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	return err == nil && strings.Contains(string(out), "distribution/distribution/v3")
}
