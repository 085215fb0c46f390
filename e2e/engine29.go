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

// The current engine is Docker 29 (DOCKERD=dockerd-29 scripts/dockerd.sh),
// beside Debian's 20.10 (startEngine): its `docker save` writes the Docker
// 25+ format (an OCI layout plus manifest.json) that Docker Desktop and
// current installs write. It runs in two ways, each started once for the
// whole run on first use: with the containerd image store (the default of a
// new install) and with the classic one (an upgraded install).
type engine29 struct {
	flags string
	once  sync.Once
	host  string
	err   error
}

var (
	engine29Containerd = &engine29{}
	engine29Classic    = &engine29{flags: "--feature containerd-snapshotter=false"}
	// engine29Mu serialises what tests do by name on the shared engines
	// (pull, tag, save, rmi): each test uses its own repositories, but a
	// `docker pull` of a second platform must not race a save of the first.
	engine29Mu sync.Mutex
)

// startEngine29 is Docker 29 with the containerd image store.
func startEngine29(t testing.TB) string { return engine29Containerd.start(t) }

// startEngine29Classic is Docker 29 with the classic image store.
func startEngine29Classic(t testing.TB) string { return engine29Classic.start(t) }

func (e *engine29) start(t testing.TB) string {
	t.Helper()
	needTool(t, "dockerd-29", "dockerd29")
	e.once.Do(func() {
		// A short path: a unix socket path must fit in 108 bytes.
		dir, err := os.MkdirTemp("", "dm-d29-")
		if err != nil {
			e.err = err
			return
		}
		script := filepath.Join(repoRoot, "scripts", "dockerd.sh")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, "start", dir)
		cmd.Env = append(os.Environ(), "DOCKERD=dockerd-29", "DOCKERD_ARGS="+e.flags)
		out, err := cmd.Output()
		if err != nil {
			e.err = err
			if ee, ok := err.(*exec.ExitError); ok {
				t.Logf("dockerd.sh: %s", ee.Stderr)
			}
			_ = exec.Command(script, "stop", dir).Run()
			os.RemoveAll(dir)
			return
		}
		e.host = strings.TrimSpace(string(out))
		onExit(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = exec.CommandContext(ctx, script, "stop", dir).Run()
			os.RemoveAll(dir)
		})
	})
	if e.err != nil {
		t.Fatalf("cannot start dockerd-29 %s: %v", e.flags, e.err)
	}
	return e.host
}
