//go:build !windows

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testHost is a network namespace of the test's own, joined to this one by a
// veth pair, so that a server in it has an address that is not loopback: what
// the engine and the plugin treat as a remote registry.
type testHost struct {
	netns string
	// addr is the namespace's address; this side of the pair has addr-1.
	addr string
}

// startTestHost makes the namespace and removes it when the test ends. It
// needs root, as the rest of the e2e suite does.
func startTestHost(t testing.TB) *testHost {
	t.Helper()
	id := fmt.Sprintf("%06x", rand.IntN(1<<24))
	n := rand.IntN(250) + 2
	h := &testHost{netns: "dm" + id, addr: fmt.Sprintf("10.231.%d.2", n)}
	here, there := "dm"+id+"a", "dm"+id+"b"
	steps := [][]string{
		{"netns", "add", h.netns},
		{"link", "add", here, "type", "veth", "peer", "name", there},
		{"link", "set", there, "netns", h.netns},
		{"addr", "add", fmt.Sprintf("10.231.%d.1/30", n), "dev", here},
		{"link", "set", here, "up"},
		{"-n", h.netns, "addr", "add", h.addr + "/30", "dev", there},
		{"-n", h.netns, "link", "set", there, "up"},
		{"-n", h.netns, "link", "set", "lo", "up"},
	}
	t.Cleanup(func() {
		// Deleting the namespace deletes its end of the pair, and so both.
		_ = ipCmd("netns", "del", h.netns)
		_ = ipCmd("link", "del", here)
	})
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("make the test host: %v", err)
		}
	}
	return h
}

func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
