//go:build !windows

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
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

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// The batch of BenchmarkBatch: ten two-platform images sharing one base layer,
// so 1 + 10×2 distinct layers of benchBatchLayerSize bytes: about 150 MB.
const (
	benchBatchImages    = 10
	benchBatchLayerSize = 150_000_000 / (1 + benchBatchImages*2)
)

// seedBenchBatch pushes the batch benchmarks' images (benchBatchImages, two
// platforms each, sharing a base) to src and returns them, their references
// and the bytes and number of their distinct blobs.
func seedBenchBatch(b *testing.B, src *Registry) (images []batchImage, refs []string, unique int64, blobCount int) {
	images = seedBatch(b, src, "team/app", benchBatchImages, benchBatchLayerSize)
	blobs := map[v1.Hash]int64{}
	for _, im := range images {
		maps.Copy(blobs, assertComplete(b, src, src.Ref(im.ref)))
		refs = append(refs, src.Ref(im.ref))
	}
	return images, refs, totalSize(blobs), len(blobs)
}

// benchBatchRounds runs every tool once a round, in an order reversed every
// other round, each into a fresh registry behind a counting proxy (prepare,
// when set, runs before each), checks every image arrived whole, and returns
// the table of medians and the first tool's median wall time. The timer runs
// only while a tool does.
func benchBatchRounds(b *testing.B, tools []*batchTool, rounds int, images []batchImage, unique int64, prepare func()) (string, float64) {
	b.ResetTimer()
	for round := range rounds {
		for _, tool := range benchOrder(tools, round) {
			b.StopTimer()
			dst := startRegistry(b, registryOptions{})
			counting := startQuirkProxy(b, dst, quirk.Options{})
			if prepare != nil {
				prepare()
			}
			b.StartTimer()
			r := tool.run(counting.Host, round)
			b.StopTimer()
			for _, im := range images {
				benchCheckCopy(b, dst, dst.Ref(tool.target(im.ref)), im.digest)
			}
			st := counting.Stats()
			tool.runs = append(tool.runs, batchRun{benchRun: r, uploaded: st.UploadedBytes, mounts: st.MountsDone})
			b.StartTimer()
		}
	}
	b.StopTimer()

	migrateS := tools[0].medianWall()
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian wall\t÷ docker migrate\tuploaded ÷ unique\tmounts\tpeak RSS\trounds\t")
	for _, tool := range tools {
		wall, upload := tool.medianWall(), tool.medianUpload(unique)
		var roundWalls []string
		for _, r := range tool.runs {
			roundWalls = append(roundWalls, fmt.Sprintf("%.2fs", r.wall.Seconds()))
		}
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2f\t%s\t%.0f\t%.1f MB\t%s\t\n", tool.name, wall, wall/migrateS,
			tool.uploadRange(unique), benchMedian(benchBatchField(tool.runs, func(r batchRun) float64 { return float64(r.mounts) })),
			benchMedian(benchBatchField(tool.runs, func(r batchRun) float64 { return r.peakMB(tool.process) })),
			strings.Join(roundWalls, " "))
		if tool != tools[0] {
			b.ReportMetric(wall/migrateS, tool.metric+"/migrate")
		}
		b.ReportMetric(upload, tool.metric+"-up/unique")
	}
	tw.Flush()
	return table.String(), migrateS
}

// batchTool is one column of BenchmarkBatch.
type batchTool struct {
	name string
	// metric names the tool in b.ReportMetric units.
	metric string
	// process is the name whose peak RSS is reported.
	process string
	// target maps a source repository:tag to where the tool writes it in the
	// destination registry.
	target func(repoTag string) string
	// run copies the batch to the registry at dst (HOST:PORT).
	run  func(dst string, round int) benchRun
	runs []batchRun
}

// batchRun is one run of a tool, with what the destination's proxy counted.
type batchRun struct {
	benchRun
	uploaded int64
	mounts   int
}

func (t *batchTool) medianWall() float64 {
	return benchMedian(benchBatchField(t.runs, func(r batchRun) float64 { return r.wall.Seconds() }))
}

func (t *batchTool) medianUpload(unique int64) float64 {
	return benchMedian(benchBatchField(t.runs, func(r batchRun) float64 { return float64(r.uploaded) / float64(unique) }))
}

// uploadRange is the median of bytes uploaded ÷ unique bytes, with the range
// over the rounds when they differ.
func (t *batchTool) uploadRange(unique int64) string {
	ratios := benchBatchField(t.runs, func(r batchRun) float64 { return float64(r.uploaded) / float64(unique) })
	lo, hi := slices.Min(ratios), slices.Max(ratios)
	s := fmt.Sprintf("%.2f", benchMedian(ratios))
	if fmt.Sprintf("%.2f", lo) != fmt.Sprintf("%.2f", hi) {
		s += fmt.Sprintf(" (%.2f–%.2f)", lo, hi)
	}
	return s
}

func benchBatchField(runs []batchRun, f func(batchRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

func benchWriteFile(b *testing.B, name, content string) {
	b.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

// benchRegsync returns the pinned regsync of the tools cache (binDir). It does
// not build it (that takes minutes): `make bench` installs it first.
func benchRegsync(b *testing.B, binDir string) string {
	b.Helper()
	p := filepath.Join(binDir, "regsync")
	if _, err := os.Stat(p); err != nil {
		b.Fatalf("regsync is not in the tools cache (%v): run scripts/install-tools.sh regclient", err)
	}
	return p
}

// benchSkopeo returns Debian's skopeo from PATH.
func benchSkopeo(b *testing.B) string {
	b.Helper()
	p, err := exec.LookPath("skopeo")
	if err != nil {
		b.Fatalf("skopeo is not installed (%v): run scripts/install-tools.sh skopeo (as root: it installs Debian's package)", err)
	}
	return p
}

// benchToolVersion is the first line tool prints for args, after the tool's
// name unless the line already starts with it.
func benchToolVersion(tool string, args ...string) string {
	name := filepath.Base(tool)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, args...).Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil || line == "" {
		return name
	}
	if strings.HasPrefix(line, name) {
		return line
	}
	return name + " " + line
}

// loadAverage is the 1, 5 and 15 minute load averages of /proc/loadavg: the
// machine is shared, and the figures mean little without them.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// diskSize is the size of a file, or the sum of the regular files under a
// directory.
func diskSize(b *testing.B, path string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
