package buildx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// Docker is how to run the docker CLI that launched the plugin.
type Docker struct {
	// Path is the docker binary.
	Path string
	// Args are global flags that go before the command (--context NAME).
	Args []string
	// Env is the environment; nil means the plugin's own.
	Env []string
}

// command is `docker ARGS…` with extra environment. When ctx ends the child
// gets an interrupt, which the docker CLI hands on to buildx so that the build
// is cancelled in BuildKit too, and is killed if it is still there later.
func (d Docker) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.Path, append(slices.Clone(d.Args), args...)...)
	base := d.Env
	if base == nil {
		base = os.Environ()
	}
	cmd.Env = append(slices.Clone(base), env...)
	inGroup(cmd, 10*time.Second)
	cmd.WaitDelay = 15 * time.Second
	return cmd
}

// output runs a short docker command and returns its stdout, or an error
// holding its stderr.
func (d Docker) output(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := d.command(ctx, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &commandError{args: args, stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

// commandError is a docker command that failed, with what it said.
type commandError struct {
	args   []string
	stderr string
	err    error
}

func (e *commandError) Error() string {
	msg := "docker " + strings.Join(e.args, " ") + ": " + e.err.Error()
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *commandError) Unwrap() error { return e.err }

// builder is the BuildKit the strategy builds with.
type builder struct {
	// Name is the buildx builder's name ("default" for the engine's).
	Name string
	// Driver is buildx's driver: docker, docker-container, kubernetes, remote.
	Driver string
	// Endpoint is where its (first) node's BuildKit is.
	Endpoint string
	// Status is the node's status as buildx sees it: running, inactive, …
	Status string
	// Error is what buildx could not do while inspecting it.
	Error string
	// Addr is set for --buildkit-addr: a bare BuildKit daemon, driven through
	// a temporary remote builder.
	Addr string
}

// String names the builder in messages.
func (b *builder) String() string {
	if b.Addr != "" {
		return "the BuildKit daemon at " + b.Addr
	}
	return "builder " + b.Name
}

// Describe says which builder it is, for --dry-run.
func (b *builder) Describe() string {
	if b.Addr != "" {
		return fmt.Sprintf("BuildKit at %s (--buildkit-addr), through a temporary buildx remote builder", b.Addr)
	}
	s := fmt.Sprintf("%s (driver %s", b.Name, b.Driver)
	if b.Endpoint != "" {
		s += ", endpoint " + b.Endpoint
	}
	if b.Status != "" {
		s += ", " + b.Status
	}
	return s + ")"
}

// configHint says where a builder's registry settings go.
func (b *builder) configHint() string {
	switch {
	case b.Addr != "":
		return "the buildkitd.toml of the daemon at " + b.Addr + " (then restart it)"
	case b.Driver == "remote":
		return "the buildkitd.toml of the daemon at " + b.Endpoint + " (then restart it)"
	}
	return "the builder's buildkitd.toml (recreate it with 'docker buildx create --buildkitd-config FILE')"
}

// parseInspect reads `docker buildx inspect`: the builder's name, driver and
// error, then its first node's endpoint and status.
func parseInspect(out string) *builder {
	b := &builder{}
	inNodes := false
	for line := range strings.SplitSeq(out, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if line == "Nodes:" {
			inNodes = true
			continue
		}
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "Name":
			if !inNodes && b.Name == "" {
				b.Name = value
			}
		case "Driver":
			if !inNodes {
				b.Driver = value
			}
		case "Endpoint":
			if b.Endpoint == "" {
				b.Endpoint = value
			}
		case "Status":
			if b.Status == "" {
				b.Status = value
			}
		case "Error":
			if b.Error == "" {
				b.Error = value
			}
		}
	}
	return b
}

// needsBuilder is the sentence every "no usable builder" failure starts with.
const needsBuilder = "the buildx strategy needs a BuildKit builder"

// inspect finds the builder to use (name, or buildx's current one) and checks
// that it can do the job: buildx is there, the builder exists and answers, and
// its driver can push by digest.
func (d Docker) inspect(ctx context.Context, name string) (*builder, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{"buildx", "inspect"}
	if name != "" {
		args = append(args, name)
	}
	out, err := d.output(ctx, nil, args...)
	if err != nil {
		return nil, inspectFailure(err, name)
	}
	b := parseInspect(out)
	if b.Name == "" {
		b.Name = name
	}
	switch {
	case b.Driver == "" && b.Error != "":
		// A builder of a docker context (the default one) is the engine's
		// BuildKit, and the engine is not there.
		which := "builder " + b.Name
		if name == "" {
			which = "the current builder, " + b.Name + ","
		}
		return nil, errdefs.Wrap(errors.New(b.Error), errdefs.Unavailable,
			"%s: %s is the Docker engine's and it cannot be used (%s); create one with 'docker buildx create --driver docker-container --use', or pass --builder NAME or --buildkit-addr ADDR",
			needsBuilder, which, firstLine(b.Error))
	case b.Driver == "docker":
		return nil, errdefs.New(errdefs.Unavailable,
			"the buildx strategy cannot use builder %s: its docker driver builds into the engine's image store and cannot push an image by digest (nor, on the classic image store, a multi-platform index); create a builder that can with 'docker buildx create --driver docker-container --use', or 'docker buildx create --driver remote ADDR' for a BuildKit you run, or pass --builder NAME",
			b.Name)
	case b.Driver == "remote" && b.Status != "running":
		// The other drivers start their BuildKit on demand; a remote one is
		// either there or not, and buildx would wait 20s to say so.
		detail := b.Error
		if detail == "" {
			detail = "status " + b.Status
		}
		return nil, errdefs.Wrap(errors.New(detail), errdefs.Unavailable,
			"%s: builder %s does not answer at %s (%s); start its BuildKit daemon, or pick another builder with --builder NAME",
			needsBuilder, b.Name, b.Endpoint, firstLine(detail))
	}
	return b, nil
}

// inspectFailure explains why `docker buildx inspect` failed.
func inspectFailure(err error, name string) error {
	var ce *commandError
	msg := err.Error()
	if errors.As(err, &ce) {
		msg = ce.stderr
	}
	switch {
	case noBuildx(msg):
		return errdefs.Wrap(err, errdefs.Unavailable,
			"%s: the docker buildx plugin is not installed; install it (Docker's docker-buildx-plugin package, or docker-buildx in ~/.docker/cli-plugins) and create a builder with 'docker buildx create --use'", needsBuilder)
	case strings.Contains(msg, "no builder") && strings.Contains(msg, "found"):
		return errdefs.Wrap(err, errdefs.Unavailable,
			"%s: there is no buildx builder named %s; list them with 'docker buildx ls', or create one with 'docker buildx create --name %s'", needsBuilder, name, name)
	}
	return errdefs.Wrap(err, errdefs.Unavailable, "%s: '%s' failed: %s", needsBuilder, strings.TrimSpace("docker buildx inspect "+name), firstLine(strings.TrimPrefix(msg, "ERROR: ")))
}

// noBuildx recognises the docker CLI's answer when there is no buildx plugin
// (docker 28: "unknown command: docker buildx"; older: "'buildx' is not a docker command").
func noBuildx(stderr string) bool {
	return strings.Contains(stderr, "unknown command: docker buildx") || strings.Contains(stderr, "'buildx' is not a docker command")
}

func errNoDocker() error {
	return errdefs.New(errdefs.Unavailable, "%s: there is no docker CLI to run buildx with; run docker-migrate as 'docker migrate'", needsBuilder)
}

// checkAddr makes sure a --buildkit-addr is one and, for unix and tcp
// addresses, that something listens there (buildx would wait 20s to say so).
func checkAddr(ctx context.Context, addr string) error {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok || rest == "" {
		return errdefs.New(errdefs.InvalidArgument, "invalid --buildkit-addr %q: expected unix:///PATH, tcp://HOST:PORT, docker-container://NAME or another BuildKit address", addr)
	}
	if scheme != "unix" && scheme != "tcp" {
		return nil
	}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, scheme, rest)
	if err != nil {
		return errdefs.Wrap(err, errdefs.Unavailable, "%s: nothing answers at %s (%s); start buildkitd there, or fix --buildkit-addr", needsBuilder, addr, dialCause(err))
	}
	return conn.Close()
}

// addrBuilder checks that buildx, which drives the daemon at addr, is there.
func (d Docker) addrBuilder(ctx context.Context, addr string) (*builder, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.output(ctx, nil, "buildx", "version"); err != nil {
		var ce *commandError
		if errors.As(err, &ce) && noBuildx(ce.stderr) {
			return nil, errdefs.Wrap(err, errdefs.Unavailable,
				"%s: --buildkit-addr drives BuildKit through the docker buildx plugin, which is not installed; install it (Docker's docker-buildx-plugin package, or docker-buildx in ~/.docker/cli-plugins)", needsBuilder)
		}
		return nil, errdefs.Wrap(err, errdefs.Unavailable, "%s: 'docker buildx version' failed: %s", needsBuilder, firstLine(err.Error()))
	}
	return &builder{Name: tempBuilderName, Driver: "remote", Endpoint: addr, Addr: addr}, nil
}

func dialCause(err error) string {
	msg := err.Error()
	for _, cause := range []string{"connection refused", "no such file or directory", "permission denied", "i/o timeout", "no such host"} {
		if strings.Contains(msg, cause) {
			return cause
		}
	}
	return msg
}

// tempBuilderName is the remote builder made for --buildkit-addr, in a buildx
// configuration directory of its own.
const tempBuilderName = "docker-migrate"

// tempBuilder creates a remote builder for addr in a fresh BUILDX_CONFIG
// under dir, so the user's builders are never touched, and returns the
// environment that selects it. Removing dir removes the builder.
func (d Docker) tempBuilder(ctx context.Context, dir, addr string) ([]string, error) {
	env := []string{"BUILDX_CONFIG=" + filepath.Join(dir, "buildx")}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.output(ctx, env, "buildx", "create", "--name", tempBuilderName, "--driver", "remote", addr); err != nil {
		return nil, errdefs.Wrap(err, errdefs.Unavailable, "%s: cannot create a buildx remote builder for %s: %s", needsBuilder, addr, firstLine(err.Error()))
	}
	return env, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
