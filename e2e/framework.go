//go:build !windows

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Set once by TestMain.
var (
	// pluginBinary is the docker-migrate binary built for this run.
	pluginBinary string
	// pluginBuildErr, when set, fails every test that needs the plugin, while
	// the harness tests still run.
	pluginBuildErr error
	// registryBinary is the distribution registry (v3) executable.
	registryBinary string
	// dockerBinary is the real docker CLI.
	dockerBinary string
	// repoRoot is the module root, the parent of e2e/.
	repoRoot string
)

// atExit holds the stops of servers shared by the whole run (dockerd,
// buildkitd), which outlive any one test.
var (
	atExitMu sync.Mutex
	atExit   []func()
)

// onExit registers f to run when the package's tests are done, last first.
func onExit(f func()) {
	atExitMu.Lock()
	atExit = append(atExit, f)
	atExitMu.Unlock()
}

// defaultTimeout bounds every docker invocation; a copy of the tiny fixtures
// takes well under a second.
const defaultTimeout = 60 * time.Second

// CLI runs the real docker CLI with its own config directory, in which the
// freshly built plugin is installed, and a HOME and engine that are not the
// machine's.
type CLI struct {
	// ConfigDir is DOCKER_CONFIG; cli-plugins/docker-migrate is in it.
	ConfigDir string
	// HomeDir is HOME, so that nothing reads or writes the real ~/.docker.
	HomeDir string
	env     []string
}

// Result is what one docker invocation did.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int
}

// NewCLI makes a CLI whose config directory holds the plugin. The test fails
// at once if the plugin did not build.
func NewCLI(t testing.TB) *CLI {
	t.Helper()
	if pluginBuildErr != nil {
		t.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	c := newBareCLI(t)
	installPlugin(t, c.ConfigDir)
	return c
}

// newBareCLI is a CLI without the plugin, for the harness's own tests.
func newBareCLI(t testing.TB) *CLI {
	t.Helper()
	c := &CLI{ConfigDir: t.TempDir(), HomeDir: t.TempDir()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DOCKER_"), k == "HOME", strings.HasSuffix(strings.ToUpper(k), "_PROXY"):
			continue
		}
		c.env = append(c.env, kv)
	}
	c.env = append(c.env,
		"DOCKER_CONFIG="+c.ConfigDir,
		"HOME="+c.HomeDir,
		// No engine is needed for the index strategy; make sure none is reached.
		"DOCKER_HOST=unix:///nonexistent/docker.sock",
		"DOCKER_CLI_HINTS=false",
	)
	return c
}

// installPlugin puts the plugin into dir/cli-plugins, as a hard link when it
// can (the binary is tens of MB and every test gets its own config dir).
func installPlugin(t testing.TB, dir string) {
	t.Helper()
	dst := filepath.Join(dir, "cli-plugins", "docker-migrate")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(pluginBinary, dst); err == nil {
		return
	}
	data, err := os.ReadFile(pluginBinary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Env returns the environment docker runs with.
func (c *CLI) Env() []string { return append([]string(nil), c.env...) }

// RunDocker runs docker with args and waits for it, at most defaultTimeout;
// t is the test that runs it (a CLI may be shared by subtests).
func (c *CLI) RunDocker(t testing.TB, args ...string) Result {
	t.Helper()
	return c.RunDockerStdin(t, "", args...)
}

// RunDockerStdin runs docker with stdin as its standard input.
func (c *CLI) RunDockerStdin(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	return c.run(t, dockerBinary, args, stdin)
}

// RunPlugin runs the plugin binary itself, without the docker CLI.
func (c *CLI) RunPlugin(t testing.TB, args ...string) Result {
	t.Helper()
	return c.run(t, filepath.Join(c.ConfigDir, "cli-plugins", "docker-migrate"), args, "")
}

func (c *CLI) run(t testing.TB, path string, args []string, stdin string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Env = c.Env()
	cmd.Dir = c.HomeDir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// docker starts the plugin as a child: kill the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := Result{Args: append([]string{filepath.Base(path)}, args...), Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %s\nstdout:\n%s\nstderr:\n%s", res.Command(), defaultTimeout, res.Stdout, res.Stderr)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v", res.Command(), err)
	}
	t.Logf("%s", res.brief())
	return res
}

// brief is the result with long outputs cut, for the test log.
func (r Result) brief() string {
	cut := func(s string) string {
		s = strings.TrimRight(s, "\n")
		lines := strings.Split(s, "\n")
		if len(lines) > 12 {
			lines = append(lines[:12], fmt.Sprintf("[... %d more lines]", len(lines)-12))
		}
		return "    " + strings.Join(lines, "\n    ")
	}
	out := fmt.Sprintf("%s: exit %d", r.Command(), r.ExitCode)
	if r.Stdout != "" {
		out += "\n  stdout:\n" + cut(r.Stdout)
	}
	if r.Stderr != "" {
		out += "\n  stderr:\n" + cut(r.Stderr)
	}
	return out
}

// Command is the command line, for messages.
func (r Result) Command() string { return strings.Join(r.Args, " ") }

// String describes the result in full, for failure messages.
func (r Result) String() string {
	return r.Command() + "\nexit code: " + strconv.Itoa(r.ExitCode) + "\nstdout:\n" + r.Stdout + "\nstderr:\n" + r.Stderr
}

// AssertSuccess fails the test unless the command exited 0.
func (r Result) AssertSuccess(t testing.TB) Result {
	t.Helper()
	if r.ExitCode != 0 {
		t.Fatalf("expected success:\n%s", r)
	}
	return r
}

// AssertExit fails the test unless the command exited with code.
func (r Result) AssertExit(t testing.TB, code int) Result {
	t.Helper()
	if r.ExitCode != code {
		t.Fatalf("expected exit code %d:\n%s", code, r)
	}
	return r
}

// Started is a docker process running in the background.
type Started struct {
	Cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	err    error
}

// StartDocker starts docker with args and returns at once. The process is
// killed at the end of the test if it is still running.
func (c *CLI) StartDocker(t testing.TB, args ...string) *Started {
	t.Helper()
	cmd := exec.Command(dockerBinary, args...)
	s := &Started{Cmd: cmd, done: make(chan struct{})}
	cmd.Env = c.Env()
	cmd.Dir = c.HomeDir
	cmd.Stdout, cmd.Stderr = &s.stdout, &s.stderr
	// Its own process group, so that a signal to the group reaches docker and
	// the plugin the way a terminal's Ctrl-C does, and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
	return s
}

// Wait waits at most timeout for the process to exit and returns its result;
// it fails the test if the process is still running then.
func (s *Started) Wait(t testing.TB, timeout time.Duration) Result {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		_ = syscall.Kill(-s.Cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		t.Fatalf("docker %s still running %s after it was asked to stop\nstdout:\n%s\nstderr:\n%s",
			strings.Join(s.Cmd.Args[1:], " "), timeout, s.stdout.String(), s.stderr.String())
	}
	res := Result{Args: append([]string{"docker"}, s.Cmd.Args[1:]...), Stdout: s.stdout.String(), Stderr: s.stderr.String(), ExitCode: s.Cmd.ProcessState.ExitCode()}
	t.Logf("%s", res.brief())
	return res
}

// Done is closed when the process has exited.
func (s *Started) Done() <-chan struct{} { return s.done }

// Stderr is what the process wrote to stderr so far.
func (s *Started) Stderr() string { return s.stderr.String() }

// lockedBuffer is written by the exec package's copying goroutine while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*lockedBuffer)(nil)

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Login logs in to r with the real `docker login`. docker CLI 28 logs in
// client-side when the engine is unreachable (it falls back on a connection
// error), so no engine is needed.
func (c *CLI) Login(t testing.TB, r *Registry) Result {
	t.Helper()
	res := c.RunDockerStdin(t, r.Password+"\n", "login", "--username", r.User, "--password-stdin", r.Host)
	res.AssertSuccess(t)
	return res
}

// readConfig returns config.json of the CLI's config directory.
func (c *CLI) readConfig(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.ConfigDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runTool runs an external program and returns its stdout; the test fails with
// its output when it fails.
func runTool(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := toolResult(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func toolResult(t testing.TB, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// needTool finds a program, installing it with scripts/install-tools.sh when
// it is missing (the CI machine runs as root).
func needTool(t testing.TB, name, installName string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	script := filepath.Join(repoRoot, "scripts", "install-tools.sh")
	if out, err := exec.Command(script, installName).CombinedOutput(); err != nil {
		t.Fatalf("%s is not installed and %s %s failed: %v\n%s", name, script, installName, err, out)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is still missing after %s %s", name, script, installName)
	}
	return p
}

// stallCLI is a CLI whose plugin gives a request up after hangStall of
// silence.
func stallCLI(t testing.TB) *CLI {
	cli := NewCLI(t)
	cli.env = append(cli.env, "DOCKER_MIGRATE_STALL_TIMEOUT="+hangStall.String())
	return cli
}

// runBounded runs docker in the background and fails the test if it is still
// running after bound; it returns the result and how long it took.
func runBounded(t *testing.T, cli *CLI, bound time.Duration, args ...string) (Result, time.Duration) {
	t.Helper()
	start := time.Now()
	run := cli.StartDocker(t, args...)
	res := run.Wait(t, bound)
	took := time.Since(start)
	t.Logf("took %s (bound %s)", took.Round(10*time.Millisecond), bound)
	return res, took
}
