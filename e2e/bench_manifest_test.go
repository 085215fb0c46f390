package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// BenchmarkManifestVsScript migrates the 8-platform fixture through a real
// dockerd with --strategy manifest, and with the seed articles' shell
// sequence (docker pull --platform / tag / push per platform, then docker
// manifest create / push), alternating, and reports the medians and their
// ratio. The engine is emptied between runs so that each one pulls and pushes
// everything. It never fails on slowness.
func BenchmarkManifestVsScript(b *testing.B) {
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	layerSize := int64(12 << 20) // 8 platforms × 3 layers, one shared: 17 layers, about 200 MB
	if n, err := strconv.ParseInt(os.Getenv("BENCH_LAYER_SIZE"), 10, 64); err == nil && n > 0 {
		layerSize = n
	}
	for range b.N {
		benchManifestVsScript(b, rounds, layerSize)
	}
}

func benchManifestVsScript(b *testing.B, rounds int, layerSize int64) {
	tb := testing.TB(b)
	host := startEngine(tb)
	src := startRegistry(tb, registryOptions{})
	dst := startRegistry(tb, registryOptions{})
	opts := fixture.Options{Platforms: fixture.EightPlatforms(), LayersPerImage: 3, LayerSize: layerSize, Seed: 42}
	srcRef := src.Ref("bench/app:1.25-alpine")
	pushFixture(tb, src, srcRef, opts, false)
	cli := NewCLI(tb).WithEngine(host)

	var migrateTimes, scriptTimes []time.Duration
	for i := range rounds {
		dstMigrate := dst.Ref(fmt.Sprintf("migrate%d/app:1.25-alpine", i))
		start := time.Now()
		cli.RunDocker(tb, "migrate", "--strategy", "manifest", "--progress", "quiet", srcRef, dstMigrate).AssertSuccess(tb)
		migrateTimes = append(migrateTimes, time.Since(start))
		emptyEngine(tb, cli)

		dstScript := dst.Ref(fmt.Sprintf("script%d/app", i))
		start = time.Now()
		runSeedScript(tb, cli, srcRef, dstScript, "1.25-alpine", opts)
		scriptTimes = append(scriptTimes, time.Since(start))
		emptyEngine(tb, cli)
	}
	m, s := median(migrateTimes), median(scriptTimes)
	b.ReportMetric(m.Seconds(), "migrate-s")
	b.ReportMetric(s.Seconds(), "script-s")
	b.ReportMetric(m.Seconds()/s.Seconds(), "ratio")
	b.Logf("manifest strategy vs shell script, %d rounds: migrate %v (median %v), script %v (median %v), ratio %.2f",
		rounds, migrateTimes, m, scriptTimes, s, m.Seconds()/s.Seconds())
}

// runSeedScript is the seed articles' recipe, step by step through the docker CLI.
func runSeedScript(t testing.TB, cli *CLI, srcRef, dstRepo, tag string, opts fixture.Options) {
	var children []string
	for _, p := range opts.Platforms {
		suffix := p.Architecture + p.Variant
		plat := platforms.Format(p)
		target := dstRepo + ":" + tag + "-" + suffix
		cli.RunDocker(t, "pull", "-q", "--platform", plat, srcRef).AssertSuccess(t)
		cli.RunDocker(t, "tag", srcRef, target).AssertSuccess(t)
		cli.RunDocker(t, "push", "-q", target).AssertSuccess(t)
		children = append(children, target)
	}
	list := dstRepo + ":" + tag
	cli.RunDocker(t, slices.Concat([]string{"manifest", "create", "--insecure", list}, children)...).AssertSuccess(t)
	cli.RunDocker(t, "manifest", "push", "--insecure", "--purge", list).AssertSuccess(t)
}

// emptyEngine removes every image, so the next run starts from nothing.
func emptyEngine(t testing.TB, cli *CLI) {
	ids := engineImages(t, cli)
	if len(ids) > 0 {
		cli.RunDocker(t, append([]string{"rmi", "-f"}, ids...)...).AssertSuccess(t)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
