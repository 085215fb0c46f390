//go:build windows

package buildx

import (
	"os/exec"
	"time"
)

// inGroup kills the docker CLI when the run is cancelled: Windows has no
// interrupt to send a child.
func inGroup(cmd *exec.Cmd, _ time.Duration) {
	cmd.Cancel = func() error { return cmd.Process.Kill() }
}
