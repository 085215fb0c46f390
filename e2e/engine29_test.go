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

// The current engine is Docker 29 with the containerd image store
// (DOCKERD=dockerd-29 scripts/dockerd.sh), started once for the whole run on
// first use, beside Debian's 20.10 (startEngine): its `docker save` writes the
// Docker 25+ format (an OCI layout plus manifest.json) that Docker Desktop and
// current installs write.
var (
	engine29Once sync.Once
	engine29Host string
	engine29Err  error
	// engine29Mu serialises what tests do by name on the shared engine
	// (pull, tag, save, rmi): each test uses its own repositories, but a
	// `docker pull` of a second platform must not race a save of the first.
	engine29Mu sync.Mutex
)

func startEngine29(t testing.TB) string {
	t.Helper()
	needTool(t, "dockerd-29", "dockerd29")
	engine29Once.Do(func() {
		// A short path: a unix socket path must fit in 108 bytes.
		dir, err := os.MkdirTemp("", "dm-d29-")
		if err != nil {
			engine29Err = err
			return
		}
		script := filepath.Join(repoRoot, "scripts", "dockerd.sh")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, "start", dir)
		cmd.Env = append(os.Environ(), "DOCKERD=dockerd-29")
		out, err := cmd.Output()
		if err != nil {
			engine29Err = err
			if ee, ok := err.(*exec.ExitError); ok {
				t.Logf("dockerd.sh: %s", ee.Stderr)
			}
			_ = exec.Command(script, "stop", dir).Run()
			os.RemoveAll(dir)
			return
		}
		engine29Host = strings.TrimSpace(string(out))
		onExit(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = exec.CommandContext(ctx, script, "stop", dir).Run()
			os.RemoveAll(dir)
		})
	})
	if engine29Err != nil {
		t.Fatalf("cannot start dockerd-29: %v", engine29Err)
	}
	return engine29Host
}
