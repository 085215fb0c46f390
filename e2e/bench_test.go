package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// The fixture of BenchmarkIndexVsCrane: 8 platforms of 3 layers each, the first
// shared, so 17 distinct layers of benchLayerSize bytes: about 200 MB in all.
const (
	benchLayersPerImage = 3
	benchLayerSize      = 200_000_000 / (1 + 8*(benchLayersPerImage-1))
	// benchRunTimeout bounds one copy; a 200 MB copy on loopback takes seconds.
	benchRunTimeout = 10 * time.Minute
)

// benchFixture is the ~200 MB 8-platform image with attestations that the
// loopback benchmarks copy.
func benchFixture() fixture.Options {
	return fixture.Options{
		Platforms:      fixture.EightPlatforms(),
		LayersPerImage: benchLayersPerImage,
		LayerSize:      benchLayerSize,
		Attestations:   true,
		Seed:           2024,
	}
}

// benchOrder is the order tools run in a round: reversed every other round,
// so that no tool always runs on a warmer machine.
func benchOrder[T any](tools []T, round int) []T {
	order := slices.Clone(tools)
	if round%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

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

// benchRun is one timed process.
type benchRun struct {
	wall time.Duration
	// peakKiB is the peak resident set (VmHWM) of each process of the run, by
	// name: the command and the children it started.
	peakKiB map[string]int64
	stdout  string
	// cpu is the CPU time (user and system) of the process and of the
	// children it waited for (docker's plugin), in seconds.
	cpu float64
}

func (r benchRun) peakMB(name string) float64 { return float64(r.peakKiB[name]) / 1024 }

// benchExec runs path with args and env, and fails the benchmark unless it
// exits 0. Its wall time runs from the start to the exit of the process.
func benchExec(b *testing.B, env []string, path string, args ...string) benchRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// docker starts the plugin as a child: kill the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	watch := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	command := filepath.Base(path) + " " + strings.Join(args, " ")
	if err != nil {
		b.Fatalf("%s: %v (after %s)\nstdout:\n%s\nstderr:\n%s", command, err, wall.Round(time.Millisecond), stdout.String(), stderr.String())
	}
	r := benchRun{wall: wall, peakKiB: watch(), stdout: stdout.String(),
		cpu: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	if testing.Verbose() {
		// Not b.Logf: go test keeps only the first 10 lines a benchmark logs.
		var peaks []string
		for _, name := range slices.Sorted(maps.Keys(r.peakKiB)) {
			peaks = append(peaks, fmt.Sprintf("%s %.1f MB", name, r.peakMB(name)))
		}
		fmt.Fprintf(os.Stderr, "    %s: %s, peak RSS: %s\n", command, wall.Round(time.Millisecond), strings.Join(peaks, ", "))
	}
	return r
}

// watchPeakRSS polls the peak resident set (VmHWM in /proc/PID/status) of pid
// and its descendants every few milliseconds, until the returned function is
// called; that function returns the peaks by process name, in KiB.
//
// Not the rusage of the wait status: Go starts children with vfork, and Linux
// counts the parent's peak, the benchmark's own, into the child's ru_maxrss
// when it execs (a /bin/true started here reports the test binary's size).
// VmHWM belongs to the process's own address space, made new at exec. Polling
// can miss growth in the last interval before an exit, which is small next to
// a copy of seconds.
func watchPeakRSS(pid int) func() map[string]int64 {
	stop, done := make(chan struct{}), make(chan struct{})
	peaks := map[int]procPeak{}
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, p := range procTree(pid) {
				if name, hwm, ok := readVmHWM(p); ok && hwm >= peaks[p].kib {
					peaks[p] = procPeak{name: name, kib: hwm}
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() map[string]int64 {
		close(stop)
		<-done
		byName := map[string]int64{}
		for _, p := range peaks {
			byName[p.name] = max(byName[p.name], p.kib)
		}
		return byName
	}
}

type procPeak struct {
	name string
	kib  int64
}

// procTree is pid and its descendants, through /proc/PID/task/TID/children.
func procTree(pid int) []int {
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", tree[i]))
		for _, f := range tasks {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, field := range strings.Fields(string(data)) {
				if child, err := strconv.Atoi(field); err == nil {
					tree = append(tree, child)
				}
			}
		}
	}
	return tree
}

// readVmHWM reads the name and VmHWM (KiB) of a live process.
func readVmHWM(pid int) (string, int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", 0, false
	}
	var name string
	for _, line := range strings.Split(string(data), "\n") {
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "Name":
			name = strings.TrimSpace(value)
		case "VmHWM":
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
			return name, kib, err == nil
		}
	}
	return "", 0, false // a zombie has no address space left
}

// benchCheckReport checks, from the plugin's JSON output, that it copied every
// byte: a skipped or mounted blob would make the comparison unfair.
func benchCheckReport(b *testing.B, r benchRun, size int64) {
	b.Helper()
	var rep migrateReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		b.Fatalf("docker migrate --format json: %v\n%s", err, r.stdout)
	}
	if rep.Strategy != "index" {
		b.Errorf("docker migrate used strategy %q, want index", rep.Strategy)
	}
	if rep.Blobs.Skipped != 0 || rep.Blobs.Mounted != 0 || rep.Bytes.Copied < size {
		b.Errorf("docker migrate copied %d bytes (%d blobs), skipped %d, mounted %d; want every one of %d bytes copied",
			rep.Bytes.Copied, rep.Blobs.Copied, rep.Blobs.Skipped, rep.Blobs.Mounted, size)
	}
}

// benchCheckCopy fails the benchmark unless ref in r points to want.
func benchCheckCopy(b *testing.B, r *Registry, ref string, want v1.Hash) {
	b.Helper()
	if got, ok := headDigest(b, r, ref); !ok || got != want {
		b.Fatalf("%s points to %s (found: %t), want %s", ref, got, ok, want)
	}
}

// benchCrane returns the pinned crane of the tools cache, installing it there
// when it is missing.
func benchCrane(b *testing.B) string {
	b.Helper()
	script := filepath.Join(repoRoot, "scripts", "install-tools.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, script, "crane")
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	if err := install.Run(); err != nil {
		b.Fatalf("%s crane: %v", script, err)
	}
	out, err := exec.CommandContext(ctx, script, "path").Output()
	if err != nil {
		b.Fatalf("%s path: %v", script, err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "crane")
}

// benchVersion is "crane vX.Y.Z", or "crane" when it does not say.
func benchVersion(crane string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, crane, "version").Output()
	if err != nil {
		return "crane"
	}
	return "crane " + strings.TrimSpace(string(out))
}

// benchGOMAXPROCS is what crane's default --jobs follows: $GOMAXPROCS, or the
// number of CPUs.
func benchGOMAXPROCS() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return v
	}
	return strconv.Itoa(runtime.NumCPU())
}

// benchRounds reads BENCH_ROUNDS (default 3).
func benchRounds(b *testing.B) int {
	b.Helper()
	v := os.Getenv("BENCH_ROUNDS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("BENCH_ROUNDS=%q: want a positive number", v)
	}
	return n
}

func benchField(runs []benchRun, f func(benchRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

// benchMedian is the median of xs, the mean of the two middle values when len(xs) is even.
func benchMedian(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
