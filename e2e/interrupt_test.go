package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/shaper"
)

// TestInterruptedWhileBlobsWait interrupts (SIGINT, as Ctrl-C does) a copy
// with -j 1 while its first large blob crawls over a slow link and the
// others wait for the one slot: exit 130, nothing on stdout, no tag at a
// registry, no index.json in a layout.
func TestInterruptedWhileBlobsWait(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	opts := fixture.Options{LayerSize: 3 << 20, LayersPerImage: 3, Seed: 176}
	pushFixture(t, src, src.Ref("int/app:v1"), opts, true)
	dst := startRegistry(t, registryOptions{})
	for _, target := range []string{"registry", "layout"} {
		t.Run(target, func(t *testing.T) {
			link := shaper.Start(t, src.Host, shaper.Options{Rate: shaper.Mbit(8)})
			slow := &Registry{Host: link.Host}
			layout := filepath.Join(t.TempDir(), "layout")
			to := dst.Ref("int/" + target + ":v1")
			if target == "layout" {
				to = "oci:" + layout
			}
			run := NewCLI(t).StartDocker(t, "migrate", "-j", "1", slow.Ref("int/app:v1"), to)
			if !waitFor(30*time.Second, func() bool { return link.Stats().Down > 1<<20 }) {
				t.Fatalf("the first blob never started:\n%s", run.Stderr())
			}
			if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			res := run.Wait(t, 30*time.Second).AssertExit(t, 130)
			if strings.TrimSpace(res.Stdout) != "" {
				t.Errorf("an interrupted copy printed %q on stdout", res.Stdout)
			}
			if target == "layout" {
				if _, err := os.Stat(filepath.Join(layout, "index.json")); err == nil {
					t.Error("an interrupted copy left index.json in the layout")
				}
			} else if _, found := headDigest(t, dst, to); found {
				t.Errorf("an interrupted copy tagged %s", to)
			}
		})
	}
}
