package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/shaper"
)

// resumeLayer is the one layer of the image TestResumeUpload copies: at
// resumeRate it takes about 8 s, long enough to cut it off in the middle.
const (
	resumeLayer = 24 << 20
	resumeMbit  = 24
)

// TestResumeUpload cuts off (Ctrl-C, SIGINT to the docker CLI) the upload
// of a large layer to a registry behind a slow link (a shaper, which also
// counts the bytes sent up), then runs the same command again: the second run
// goes on in the session the first left, from what the registry holds, says
// "resumed at N%" in progress and JSON, and sends about the rest of the layer,
// not the whole. When the registry forgot the session, the second run is an
// ordinary upload of the whole layer.
func TestResumeUpload(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/resume:v1")
	want := pushFixture(t, src, srcRef, fixture.Options{LayersPerImage: 1, LayerSize: resumeLayer, Seed: 2323}, true)

	for _, tc := range []struct {
		name string
		// forget removes the registry's upload sessions between the runs.
		forget bool
	}{
		{"session kept", false},
		{"session forgotten", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := startRegistry(t, registryOptions{})
			link := shaper.Start(t, dst.Host, shaper.Options{Delay: 5 * time.Millisecond, Rate: shaper.Mbit(resumeMbit)})
			far := &Registry{Host: link.Host}
			dstRef := far.Ref("resume/app:v1")
			cli := NewCLI(t)
			cache := filepath.Join(cli.HomeDir, "cache")
			cli.env = append(cli.env, "XDG_CACHE_HOME="+cache)
			args := []string{"migrate", "--progress", "plain", srcRef, dstRef}

			run := cli.StartDocker(t, args...)
			if !waitFor(60*time.Second, func() bool { return link.Stats().Up >= resumeLayer/2 }) {
				run.Wait(t, 20*time.Second)
				t.Fatalf("half the layer was not sent within 60s (sent %d bytes); stderr:\n%s", link.Stats().Up, run.Stderr())
			}
			if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			first := run.Wait(t, 20*time.Second)
			first.AssertExit(t, 130)
			// What the link held when the connection dropped still lands at
			// the registry: wait until it has, so that the second run's count
			// is its own.
			if !waitFor(30*time.Second, func() bool { return link.Stats().Active == 0 }) {
				t.Fatalf("the first run's connections through the link are still open 30s after it ended")
			}
			sentFirst := link.Stats().Up
			records, _ := filepath.Glob(filepath.Join(cache, "docker-migrate", "uploads", "*.json"))
			if len(records) != 1 {
				t.Fatalf("after the interrupt %d upload sessions are kept, want 1:\n%s", len(records), first)
			}
			if body, err := os.ReadFile(records[0]); err == nil && strings.Contains(string(body), "Authorization") {
				t.Errorf("the kept session holds a credential:\n%s", body)
			}
			if tc.forget {
				uploads, _ := filepath.Glob(filepath.Join(filepath.Dir(dst.logFile), "storage", "docker", "registry", "v2", "repositories", "resume", "app", "_uploads", "*"))
				if len(uploads) == 0 {
					t.Fatalf("the registry holds no upload session to forget")
				}
				for _, u := range uploads {
					if err := os.RemoveAll(u); err != nil {
						t.Fatal(err)
					}
				}
			}

			link.ResetStats()
			second := cli.RunDocker(t, append([]string{"migrate", "--progress", "plain", "--format", "json"}, args[3:]...)...)
			second.AssertSuccess(t)
			sentSecond := link.Stats().Up
			assertDigest(t, dst, dst.Ref("resume/app:v1"), want)
			var res struct {
				Bytes   struct{ Copied int64 }
				Resumed []struct {
					Digest string
					Offset int64
					At     string
				}
			}
			if err := json.Unmarshal([]byte(second.Stdout), &res); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, second)
			}
			t.Logf("first run sent %d bytes before the interrupt, the second %d (layer %d); JSON: bytes.copied %d, resumed %+v",
				sentFirst, sentSecond, resumeLayer, res.Bytes.Copied, res.Resumed)

			if tc.forget {
				if len(res.Resumed) != 0 || strings.Contains(second.Stderr, "resumed at") {
					t.Errorf("a forgotten session was resumed:\n%s", second)
				}
				if sentSecond < resumeLayer {
					t.Errorf("the second run sent %d bytes, less than the layer (%d), into a forgotten session", sentSecond, resumeLayer)
				}
			} else {
				if len(res.Resumed) != 1 || res.Resumed[0].Offset <= 0 || !strings.HasSuffix(res.Resumed[0].At, "%") {
					t.Fatalf("JSON does not say the layer was resumed:\n%s", second)
				}
				if !strings.Contains(second.Stderr, "resumed at "+res.Resumed[0].At) {
					t.Errorf("progress does not say %q:\n%s", "resumed at "+res.Resumed[0].At, second.Stderr)
				}
				rest := resumeLayer - res.Resumed[0].Offset
				// The rest of the layer, plus the small blobs and requests:
				// well under what the whole layer would cost.
				if sentSecond > rest+rest/10+256<<10 || sentSecond >= resumeLayer*3/4 {
					t.Errorf("the second run sent %d bytes, want about the rest of the layer (%d of %d)", sentSecond, rest, resumeLayer)
				}
				if res.Bytes.Copied > rest+64<<10 {
					t.Errorf("bytes.copied is %d, want only what this run sent (about %d)", res.Bytes.Copied, rest)
				}
			}
			if records, _ := filepath.Glob(filepath.Join(cache, "docker-migrate", "uploads", "*.json")); len(records) != 0 {
				t.Errorf("after the copy %d upload sessions are still kept", len(records))
			}
		})
	}
}
