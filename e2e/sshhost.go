//go:build !windows

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshHost is a private sshd on a loopback port (Debian's openssh-server),
// which lets in one key the test made, as root, whose PATH has the docker
// CLI: what a docker context over ssh needs of the far machine.
type sshHost struct {
	Port int
	// Bin holds an `ssh` that uses the test's client key and known-hosts
	// policy: put it first on the CLI's PATH.
	Bin string
}

func startSSHHost(t testing.TB) *sshHost {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		out, err := exec.Command(filepath.Join(repoRoot, "scripts", "install-tools.sh"), "sshd").CombinedOutput()
		if err != nil {
			t.Fatalf("install sshd: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	for _, key := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel ERROR
`, port, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd wants its privilege separation directory.
	_ = os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})

	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	clientConfig := fmt.Sprintf(`Host *
  IdentityFile %s/client
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  BatchMode yes
  LogLevel ERROR
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(clientConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config \"$@\"\n", dir)
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &sshHost{Port: port, Bin: bin}
	// Ready when a login runs a command.
	ok := waitFor(15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, filepath.Join(bin, "ssh"), "-p", fmt.Sprint(port), "root@127.0.0.1", "true").Run() == nil
	})
	if !ok {
		t.Fatalf("sshd on port %d does not let the test key in; its log:\n%s", port, log.String())
	}
	return h
}

// UseSSH puts the test's ssh first on the CLI's PATH.
func (c *CLI) UseSSH(h *sshHost) {
	path := os.Getenv("PATH")
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	c.SetEnv("PATH", h.Bin+":"+path)
}

// startEngineBinary starts a dockerd of its own for one test (dockerd is
// the binary: "dockerd" or "dockerd-29") and returns its socket path.
func startEngineBinary(t testing.TB, dockerd string) string {
	t.Helper()
	return strings.TrimPrefix(startPrivateEngine(t, "", "DOCKERD="+dockerd), "unix://")
}
