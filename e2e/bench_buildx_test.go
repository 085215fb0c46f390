package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// BenchmarkBuildxVsSeed compares `docker migrate --strategy buildx` with the
// seed articles' exact command,
//
//	echo "FROM SRC" | docker buildx build --platform P1,…,P8 -t DST --push -
//
// on the same builder (a remote buildx builder on a buildkitd of the
// benchmark's own) and the same 8-platform fixture, alternating, each run
// into a fresh repository, BuildKit's cache pruned before every run so that
// each one pulls and pushes everything. It reports the medians and their
// ratio, for a tiny image (fixed costs: buildx, planning, checking) and for
// one of about BENCH_LAYER_SIZE×17 bytes (default 12 MiB layers, about 200
// MB). BENCH_ROUNDS (default 3) sets the rounds. It never fails on slowness.
//
//	go test -run '^$' -bench BenchmarkBuildxVsSeed -benchtime 1x ./e2e/
func BenchmarkBuildxVsSeed(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	layerSize := int64(12 << 20)
	if n, err := strconv.ParseInt(os.Getenv("BENCH_LAYER_SIZE"), 10, 64); err == nil && n > 0 {
		layerSize = n
	}
	for _, size := range []struct {
		name string
		opts fixture.Options
	}{
		{"tiny", fixture.Options{Platforms: fixture.EightPlatforms(), LayerSize: tinyLayer, Seed: 71}},
		{"large", fixture.Options{Platforms: fixture.EightPlatforms(), LayersPerImage: 3, LayerSize: layerSize, Seed: 72}},
	} {
		b.Run(size.name, func(b *testing.B) {
			for range b.N {
				benchBuildxVsSeed(b, rounds, size.opts)
			}
		})
	}
}

func benchBuildxVsSeed(b *testing.B, rounds int, opts fixture.Options) {
	tb := testing.TB(b)
	src := startRegistry(tb, registryOptions{})
	dst := startRegistry(tb, registryOptions{})
	srcRef := src.Ref("bench/app:1.25-alpine")
	pushFixture(tb, src, srcRef, opts, false)
	cli := NewCLI(tb).WithBuildx(tb)
	cli.CreateBuilder(tb, "kit", startBuildkitd(tb), true)
	var plats []string
	for _, p := range opts.Platforms {
		plats = append(plats, platforms.Format(p))
	}

	var strategyTimes, seedTimes []time.Duration
	for i := range rounds {
		// Alternate which goes first, so that neither always runs on a
		// machine the other has just warmed.
		runs := []func(){
			func() {
				benchPruneBuildKit(tb, cli)
				d := benchDocker(tb, cli, "", "migrate", "--strategy", "buildx", "--progress", "quiet", srcRef, dst.Ref(fmt.Sprintf("migrate%d/app:1.25-alpine", i)))
				strategyTimes = append(strategyTimes, d)
			},
			func() {
				benchPruneBuildKit(tb, cli)
				d := benchDocker(tb, cli, "FROM "+srcRef+"\n", "buildx", "build", "--platform", strings.Join(plats, ","),
					"-t", dst.Ref(fmt.Sprintf("seed%d/app:1.25-alpine", i)), "--push", "-")
				seedTimes = append(seedTimes, d)
			},
		}
		if i%2 == 1 {
			slices.Reverse(runs)
		}
		for _, run := range runs {
			run()
		}
	}
	m, s := benchBuildxMedian(strategyTimes), benchBuildxMedian(seedTimes)
	b.ReportMetric(m.Seconds(), "buildx-strategy-s")
	b.ReportMetric(s.Seconds(), "seed-s")
	b.ReportMetric(m.Seconds()/s.Seconds(), "ratio")
	b.Logf("buildx strategy vs the seed's docker buildx build, %d rounds: strategy %v (median %v), seed %v (median %v), ratio %.2f",
		rounds, strategyTimes, m, seedTimes, s, m.Seconds()/s.Seconds())
}

// benchDocker runs docker with stdin and returns how long it took; it fails
// the benchmark if the command fails (a wrong result is not a slow one).
func benchDocker(tb testing.TB, cli *CLI, stdin string, args ...string) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerBinary, args...)
	cmd.Env = cli.Env()
	cmd.Dir = cli.HomeDir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		tb.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return d
}

// benchPruneBuildKit empties the builder's cache, so that the next run pulls
// the source's layers again.
func benchPruneBuildKit(tb testing.TB, cli *CLI) {
	tb.Helper()
	benchDocker(tb, cli, "", "buildx", "prune", "--all", "--force", "--builder", "kit")
}

func benchBuildxMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
