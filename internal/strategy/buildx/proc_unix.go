//go:build !windows

package buildx

import (
	"os/exec"
	"syscall"
	"time"
)

// inGroup starts the docker CLI in a process group of its own and, when the
// run is cancelled, interrupts the whole group: the CLI and the buildx plugin
// it starts, which an older CLI would leave running (and holding our stderr
// pipe) if only it were signalled. A group still there later is killed.
func inGroup(cmd *exec.Cmd, grace time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		if err := syscall.Kill(-pid, syscall.SIGINT); err != nil {
			return err
		}
		time.AfterFunc(grace, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
		return nil
	}
}
