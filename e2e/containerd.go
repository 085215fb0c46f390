//go:build !windows

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// containerd is a private containerd: its own root, state and socket, no CRI,
// the native snapshotter (no mounts to clean up).
type containerd struct {
	dir, sock string
}

func startContainerd(t testing.TB) *containerd {
	t.Helper()
	needTool(t, "containerd", "dockerd")
	// A short path: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "dm-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{dir: dir, sock: filepath.Join(dir, "c.sock")}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, filepath.Join(dir, "opt"))
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Logf("containerd log:\n%s", b)
		}
		os.RemoveAll(dir)
	})
	ready := waitFor(20*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		_, err := toolResult(t, nil, "ctr", "--address", c.sock, "version")
		return err == nil
	})
	select {
	case <-exited:
		b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
		t.Fatalf("containerd exited at start:\n%s", b)
	default:
	}
	if !ready {
		t.Fatal("containerd did not answer in 20s")
	}
	return c
}

// ctr runs ctr against this containerd in namespace ns.
func (c *containerd) ctr(t testing.TB, ns string, args ...string) string {
	t.Helper()
	return runTool(t, []string{"CONTAINERD_SNAPSHOTTER=native"}, "ctr", append([]string{"--address", c.sock, "--namespace", ns}, args...)...)
}

// images lists the images of namespace ns by name.
func (c *containerd) images(t testing.TB, ns string) map[string]ctrImage {
	t.Helper()
	out := c.ctr(t, ns, "images", "ls")
	images := map[string]ctrImage{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		d, err := v1.NewHash(f[2])
		if err != nil {
			t.Fatalf("ctr images ls: %q: %v", line, err)
		}
		// REF TYPE DIGEST SIZE UNIT PLATFORMS LABELS
		images[f[0]] = ctrImage{mediaType: types.MediaType(f[1]), digest: d, platforms: f[5]}
	}
	return images
}

// ctrImage is a line of `ctr images ls`.
type ctrImage struct {
	mediaType types.MediaType
	digest    v1.Hash
	platforms string
}
