package e2e

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"text/tabwriter"
	"time"
)

// BenchmarkIndexVsCrane compares `docker migrate` (the index strategy, through
// the real docker CLI) with `crane copy` (the pinned crane, default flags) on
// the same ~200 MB 8-platform image with attestations, between two real
// registries on loopback.
//
// Each of BENCH_ROUNDS rounds (default 3) copies the source once with each
// tool, in alternating order, each into a fresh repository of the destination
// registry so that nothing is skipped or mounted. It reports the median wall
// times, their ratio, and the median peak RSS of the docker-migrate process
// (the plugin docker starts, not docker itself) and of crane; and the CPU
// time of each tool (with the plugin) and of the two registries during its
// copies. On loopback the registries do most of the work, the same for both
// tools: the CPU of a copy divided by the machine's cores is the least wall
// time it can take, whatever the tool does.
//
// It never fails because of slowness, only when a copy fails or is wrong.
//
//	go test -run '^$' -bench BenchmarkIndexVsCrane -benchtime 1x ./e2e/
func BenchmarkIndexVsCrane(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	crane := benchCrane(b)
	src := startRegistry(b, registryOptions{})
	dst := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	opts := benchFixture()
	srcRef := src.Ref("bench/fixture:v1")
	seedStart := time.Now()
	digest := pushFixture(b, src, srcRef, opts, false)
	seedTime := time.Since(seedStart)
	srcBlobs := assertComplete(b, src, srcRef)
	blobs, size := len(srcBlobs), totalSize(srcBlobs)

	var migrateRuns, craneRuns []benchRun
	// registriesCPU is what both registries spent on a run: on this machine's
	// two cores, (the tool's CPU + theirs) / 2 is the least wall time a copy
	// can take, whatever the tool does.
	var migrateRegCPU, craneRegCPU []float64
	measured := func(run func() benchRun) (benchRun, float64) {
		before := src.cpuSeconds() + dst.cpuSeconds()
		r := run()
		return r, src.cpuSeconds() + dst.cpuSeconds() - before
	}
	b.ResetTimer()
	for round := range rounds {
		migrate := func() {
			dstRef := dst.Ref(fmt.Sprintf("migrate/r%d:v1", round))
			r, reg := measured(func() benchRun {
				return benchExec(b, cli.Env(), dockerBinary, "migrate", "--strategy", "index", "--progress", "quiet", "--format", "json", srcRef, dstRef)
			})
			migrateRegCPU = append(migrateRegCPU, reg)
			benchCheckReport(b, r, size)
			benchCheckCopy(b, dst, dstRef, digest)
			migrateRuns = append(migrateRuns, r)
		}
		craneCopy := func() {
			dstRef := dst.Ref(fmt.Sprintf("crane/r%d:v1", round))
			r, reg := measured(func() benchRun { return benchExec(b, cli.Env(), crane, "copy", srcRef, dstRef) })
			craneRegCPU = append(craneRegCPU, reg)
			benchCheckCopy(b, dst, dstRef, digest)
			craneRuns = append(craneRuns, r)
		}
		// Alternate the order, so that neither tool always runs on a warmer machine.
		if round%2 == 0 {
			migrate()
			craneCopy()
		} else {
			craneCopy()
			migrate()
		}
	}
	b.StopTimer()

	wall := func(r benchRun) float64 { return r.wall.Seconds() }
	migrateS := benchMedian(benchField(migrateRuns, wall))
	craneS := benchMedian(benchField(craneRuns, wall))
	pluginRSS := benchMedian(benchField(migrateRuns, func(r benchRun) float64 { return r.peakMB("docker-migrate") }))
	dockerRSS := benchMedian(benchField(migrateRuns, func(r benchRun) float64 { return r.peakMB("docker") }))
	craneRSS := benchMedian(benchField(craneRuns, func(r benchRun) float64 { return r.peakMB("crane") }))
	if pluginRSS == 0 || craneRSS == 0 {
		b.Log("peak RSS unavailable: this kernel shows no /proc/PID/status VmHWM or /proc/PID/task/TID/children")
	}
	b.ReportMetric(migrateS, "migrate-s")
	b.ReportMetric(craneS, "crane-s")
	b.ReportMetric(migrateS/craneS, "ratio")
	b.ReportMetric(pluginRSS, "migrate-rss-MB")
	b.ReportMetric(craneRSS, "crane-rss-MB")

	// go test keeps only the first 10 lines a benchmark logs: the medians come
	// first, then the rounds.
	cpu := func(r benchRun) float64 { return r.cpu }
	migrateCPU, craneCPU := benchMedian(benchField(migrateRuns, cpu)), benchMedian(benchField(craneRuns, cpu))
	migrateReg, craneReg := benchMedian(migrateRegCPU), benchMedian(craneRegCPU)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tdocker migrate\tcrane copy\tmigrate/crane\tRSS docker-migrate\tRSS crane\tRSS docker CLI\t")
	fmt.Fprintf(tw, "median\t%.2fs\t%.2fs\t%.2f\t%.1f MB\t%.1f MB\t%.1f MB\t\n",
		migrateS, craneS, migrateS/craneS, pluginRSS, craneRSS, dockerRSS)
	fmt.Fprintf(tw, "CPU (median)\t%.2fs + registries %.2fs\t%.2fs + registries %.2fs\t\t\t\t\t\n", migrateCPU, migrateReg, craneCPU, craneReg)
	fmt.Fprintf(tw, "CPU ÷ %d cores\t%.2fs\t%.2fs\t\t\t\t\t\n", runtime.NumCPU(),
		(migrateCPU+migrateReg)/float64(runtime.NumCPU()), (craneCPU+craneReg)/float64(runtime.NumCPU()))
	for i := range rounds {
		m, c := migrateRuns[i], craneRuns[i]
		fmt.Fprintf(tw, "%d\t%.2fs\t%.2fs\t%.2f\t%.1f MB\t%.1f MB\t%.1f MB\t\n", i+1,
			m.wall.Seconds(), c.wall.Seconds(), m.wall.Seconds()/c.wall.Seconds(),
			m.peakMB("docker-migrate"), c.peakMB("crane"), m.peakMB("docker"))
	}
	tw.Flush()
	b.ReportMetric(migrateCPU, "migrate-cpu-s")
	b.ReportMetric(craneCPU, "crane-cpu-s")
	b.Logf("%.1f MB in %d blobs (8 platforms + attestations), registry to registry on loopback, seeded in %s;\n"+
		"docker migrate --strategy index (default flags: --jobs 16) vs %s copy (default --jobs = GOMAXPROCS = %s):\n%s",
		float64(size)/1e6, blobs, seedTime.Round(time.Millisecond), benchVersion(crane), benchGOMAXPROCS(), table.String())
}
