package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestFailures checks exit codes and messages, and that the destination tag is
// left as it was: each case's DST is pre-seeded with another image.
func TestFailures(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/multi:v1")
	pushFixture(t, src, srcRef, ociIndex.opts, false)
	corrupting := startProxy(t, src, corruptBlobs)
	unreachable := closedPort(t)
	cli := NewCLI(t)

	tests := []struct {
		name string
		// args get DST appended; DST is dst/fail/<name>:v1 unless dst is set.
		args     []string
		dst      string
		exitCode int // 0: any non-zero code
		want     []string
	}{
		{
			name:     "malformed reference",
			args:     []string{"UPPER/Case::bad"},
			exitCode: 125,
			want:     []string{"invalid reference"},
		},
		{
			name:     "unknown progress",
			args:     []string{"--progress", "bogus", srcRef},
			exitCode: 125,
			want:     []string{"--progress"},
		},
		{
			name: "source repository not found",
			args: []string{src.Ref("e2e/missing:v1")},
			want: []string{"source " + src.Ref("e2e/missing:v1") + " not found: the repository " + src.Ref("e2e/missing") + " does not exist"},
		},
		{
			name: "source tag not found near tags",
			args: []string{src.Ref("e2e/multi:v2")},
			want: []string{"not found", `has no tag "v2"; near ones: v1`},
		},
		{
			name: "source tag not found nothing near",
			args: []string{src.Ref("e2e/multi:something-else")},
			want: []string{`has no tag "something-else" (it has 1 tags, none close to it)`},
		},
		{
			name: "source unreachable",
			args: []string{unreachable + "/e2e/multi:v1"},
			want: []string{"cannot reach", unreachable},
		},
		{
			name: "destination unreachable",
			args: []string{srcRef},
			dst:  unreachable + "/fail/multi:v1",
			want: []string{"cannot reach", unreachable},
		},
		{
			name: "platform missing",
			args: []string{"--platform", "linux/mips64", srcRef},
			want: []string{"linux/mips64", "linux/amd64"},
		},
		{
			name: "digest mismatch",
			args: []string{corrupting.Ref("e2e/multi:v1")},
			want: []string{"digest mismatch"},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dstRef := tc.dst
			var before v1.Hash
			if dstRef == "" {
				dstRef = dst.Ref("fail/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
				before = pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: int64(100 + i)}, true)
			}
			res := cli.RunDocker(t, append(append([]string{"migrate"}, tc.args...), dstRef)...)
			if tc.exitCode != 0 {
				res.AssertExit(t, tc.exitCode)
			} else if res.ExitCode == 0 {
				t.Fatalf("expected a failure:\n%s", res)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res)
				}
			}
			assertOneLineError(t, res)
			if tc.dst == "" {
				assertDigest(t, dst, dstRef, before)
			}
		})
	}
}

// TestDebugDetail checks that -D shows more about a failure than the one line.
func TestDebugDetail(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/multi:v1")
	pushFixture(t, src, srcRef, ociIndex.opts, false)
	corrupting := startProxy(t, src, corruptBlobs)
	cli := NewCLI(t)

	for _, tc := range []struct{ name, src string }{
		{"not found", src.Ref("e2e/missing:v1")},
		{"digest mismatch", corrupting.Ref("e2e/multi:v1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dstRef := dst.Ref("debug/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
			// --progress quiet: the lines to compare are the failure's, not
			// what plain progress said had started.
			quiet := cli.RunDocker(t, "migrate", "--progress", "quiet", tc.src, dstRef)
			debug := cli.RunDocker(t, "-D", "migrate", "--progress", "quiet", tc.src, dstRef)
			if quiet.ExitCode == 0 || debug.ExitCode != quiet.ExitCode {
				t.Fatalf("exit codes %d without -D and %d with it, want the same failure\n%s\n%s", quiet.ExitCode, debug.ExitCode, quiet, debug)
			}
			if lines(debug.Stderr) <= lines(quiet.Stderr) {
				t.Errorf("-D shows no more than the %d line(s) without it:\n%s\n%s", lines(quiet.Stderr), quiet, debug)
			}
			assertAbsent(t, dst, dstRef)
		})
	}
}

func lines(s string) int {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

// TestInterrupt stops a copy that is certainly in flight (the source sits
// behind a proxy that stalls blob downloads) and expects exit code 130 and
// the destination tag absent.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/big:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms(), LayerSize: 256 << 10, Seed: 9}, false)

	for _, tc := range []struct {
		name string
		// group sends the signal to the process group, as a terminal's Ctrl-C
		// does; otherwise only the docker process gets it.
		group bool
		// preseed tags DST with another image first, which must survive.
		preseed bool
	}{
		{"sigint to docker", false, false},
		{"sigint to the process group", true, false},
		{"sigint with an existing tag", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy := startProxy(t, src, stallBlobs)
			cli := NewCLI(t)
			dstRef := dst.Ref("interrupt/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
			var before v1.Hash
			if tc.preseed {
				before = pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: 200}, true)
			}
			run := cli.StartDocker(t, "migrate", "--progress", "plain", proxy.Ref("e2e/big:v1"), dstRef)

			select {
			case <-proxy.BlobRequested:
			case <-run.Done():
				t.Fatalf("docker exited before it downloaded a blob:\n%s", run.Wait(t, time.Second))
			case <-time.After(30 * time.Second):
				t.Fatalf("no blob download within 30s; stderr so far:\n%s", run.Stderr())
			}
			pid := run.Cmd.Process.Pid
			if tc.group {
				pid = -pid
			}
			if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			res := run.Wait(t, 20*time.Second)
			res.AssertExit(t, 130)
			if res.Stdout != "" {
				t.Errorf("an interrupted copy wrote on stdout:\n%s", res)
			}
			if tc.preseed {
				assertDigest(t, dst, dstRef, before)
			} else {
				assertAbsent(t, dst, dstRef)
			}
		})
	}
}
