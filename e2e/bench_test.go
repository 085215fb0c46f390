package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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

// BenchmarkIndexVsCrane compares `docker migrate` (the index strategy, through
// the real docker CLI) with `crane copy` (the pinned crane, default flags) on
// the same ~200 MB 8-platform image, between two real registries on loopback.
//
// Each of BENCH_ROUNDS rounds (default 3) copies the source once with each
// tool, in alternating order, each into a fresh repository of the destination
// registry so that nothing is skipped or mounted. It reports the median wall
// times, their ratio, and the peak RSS of each tool's process. For the plugin's
// RSS, each round also runs the plugin binary standalone (`docker-migrate
// migrate SRC DST`): through docker, the wait status reports the larger of the
// docker CLI's and the plugin's peaks (Linux rusage of a reaped child includes
// its own reaped children), which is logged too.
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
	src := startBenchRegistry(b)
	dst := startBenchRegistry(b)
	cli := newBenchCLI(b)

	opts := fixture.Options{
		Platforms:      fixture.EightPlatforms(),
		LayersPerImage: benchLayersPerImage,
		LayerSize:      benchLayerSize,
		Attestations:   true,
		Seed:           2024,
	}
	srcRef := src.Ref("bench/fixture:v1")
	seedStart := time.Now()
	digest := benchPush(b, src, srcRef, opts)
	blobs, size := benchBlobs(b, src, srcRef)
	b.Logf("seeded %s: %d platforms, %d distinct blobs, %.1f MB, in %s",
		srcRef, len(opts.Platforms), blobs, float64(size)/1e6, time.Since(seedStart).Round(time.Millisecond))

	var migrateRuns, craneRuns, standaloneRuns []benchRun
	b.ResetTimer()
	for round := range rounds {
		migrate := func() {
			dstRef := dst.Ref(fmt.Sprintf("migrate/r%d:v1", round))
			r := benchExec(b, cli.Env(), dockerBinary, "migrate", "--progress", "quiet", "--format", "json", srcRef, dstRef)
			benchCheckReport(b, r, size)
			benchCheckCopy(b, dst, dstRef, digest)
			migrateRuns = append(migrateRuns, r)
		}
		craneCopy := func() {
			dstRef := dst.Ref(fmt.Sprintf("crane/r%d:v1", round))
			r := benchExec(b, cli.Env(), crane, "copy", srcRef, dstRef)
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
		b.StopTimer()
		dstRef := dst.Ref(fmt.Sprintf("standalone/r%d:v1", round))
		r := benchExec(b, cli.Env(), filepath.Join(cli.ConfigDir, "cli-plugins", "docker-migrate"),
			"migrate", "--progress", "quiet", "--format", "json", srcRef, dstRef)
		benchCheckReport(b, r, size)
		benchCheckCopy(b, dst, dstRef, digest)
		standaloneRuns = append(standaloneRuns, r)
		b.StartTimer()
	}
	b.StopTimer()

	migrateS := benchMedian(benchField(migrateRuns, func(r benchRun) float64 { return r.wall.Seconds() }))
	craneS := benchMedian(benchField(craneRuns, func(r benchRun) float64 { return r.wall.Seconds() }))
	pluginRSS := benchMedian(benchField(standaloneRuns, func(r benchRun) float64 { return r.maxRSSMB() }))
	viaDockerRSS := benchMedian(benchField(migrateRuns, func(r benchRun) float64 { return r.maxRSSMB() }))
	craneRSS := benchMedian(benchField(craneRuns, func(r benchRun) float64 { return r.maxRSSMB() }))
	b.ReportMetric(migrateS, "migrate-s")
	b.ReportMetric(craneS, "crane-s")
	b.ReportMetric(migrateS/craneS, "ratio")
	b.ReportMetric(pluginRSS, "migrate-rss-MB")
	b.ReportMetric(craneRSS, "crane-rss-MB")

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tdocker migrate\tcrane copy\tmigrate/crane\tplugin standalone\tRSS docker+plugin\tRSS plugin\tRSS crane\t")
	for i := range rounds {
		m, c, s := migrateRuns[i], craneRuns[i], standaloneRuns[i]
		fmt.Fprintf(tw, "%d\t%.2fs\t%.2fs\t%.2f\t%.2fs\t%.0f MB\t%.0f MB\t%.0f MB\t\n", i+1,
			m.wall.Seconds(), c.wall.Seconds(), m.wall.Seconds()/c.wall.Seconds(), s.wall.Seconds(),
			m.maxRSSMB(), s.maxRSSMB(), c.maxRSSMB())
	}
	fmt.Fprintf(tw, "median\t%.2fs\t%.2fs\t%.2f\t%.2fs\t%.0f MB\t%.0f MB\t%.0f MB\t\n",
		migrateS, craneS, migrateS/craneS,
		benchMedian(benchField(standaloneRuns, func(r benchRun) float64 { return r.wall.Seconds() })),
		viaDockerRSS, pluginRSS, craneRSS)
	tw.Flush()
	b.Logf("%.1f MB, 8 platforms + attestations, %s -> %s; docker migrate (default --jobs) vs %s copy (default flags, GOMAXPROCS=%s):\n%s",
		float64(size)/1e6, src.Host, dst.Host, benchVersion(crane), benchGOMAXPROCS(), table.String())
}

// benchRun is one timed process.
type benchRun struct {
	wall   time.Duration
	maxRSS int64 // KiB, as Linux reports ru_maxrss
	stdout string
}

func (r benchRun) maxRSSMB() float64 { return float64(r.maxRSS) / 1024 }

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
	err := cmd.Run()
	wall := time.Since(start)
	command := filepath.Base(path) + " " + strings.Join(args, " ")
	if err != nil {
		b.Fatalf("%s: %v (after %s)\nstdout:\n%s\nstderr:\n%s", command, err, wall.Round(time.Millisecond), stdout.String(), stderr.String())
	}
	r := benchRun{wall: wall, stdout: stdout.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss
	}
	b.Logf("%s: %s, peak RSS %.0f MB", command, wall.Round(time.Millisecond), r.maxRSSMB())
	return r
}

// benchCheckReport checks, from the plugin's JSON output, that it copied every
// byte: a skipped or mounted blob would make the comparison unfair.
func benchCheckReport(b *testing.B, r benchRun, size int64) {
	b.Helper()
	var rep migrateReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		b.Fatalf("docker migrate --format json: %v\n%s", err, r.stdout)
	}
	if rep.Blobs.Skipped != 0 || rep.Blobs.Mounted != 0 || rep.Bytes.Copied < size {
		b.Errorf("docker migrate copied %d bytes (%d blobs), skipped %d, mounted %d; want every one of %d bytes copied",
			rep.Bytes.Copied, rep.Blobs.Copied, rep.Blobs.Skipped, rep.Blobs.Mounted, size)
	}
}

// benchCheckCopy fails the benchmark unless ref in r points to want.
func benchCheckCopy(b *testing.B, r *Registry, ref string, want v1.Hash) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		b.Fatal(err)
	}
	desc, err := remote.Head(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		b.Fatalf("HEAD %s: %v", ref, err)
	}
	if desc.Digest != want {
		b.Fatalf("%s points to %s, want %s", ref, desc.Digest, want)
	}
}

// benchPush pushes the fixture index to ref and returns its digest.
func benchPush(b *testing.B, r *Registry, ref string, opts fixture.Options) v1.Hash {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		b.Fatal(err)
	}
	digest, err := fixture.PushIndex(ctx, parsed, opts, r.remoteOptions(ctx)...)
	if err != nil {
		b.Fatalf("seed %s: %v", ref, err)
	}
	return digest
}

// benchBlobs counts the distinct blobs under ref and adds up their sizes.
func benchBlobs(b *testing.B, r *Registry, ref string) (int, int64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		b.Fatal(err)
	}
	idx, err := remote.Index(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		b.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		b.Fatal(err)
	}
	sizes := map[v1.Hash]int64{}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			b.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			b.Fatal(err)
		}
		for _, blob := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			sizes[blob.Digest] = blob.Size
		}
	}
	return len(sizes), totalSize(sizes)
}

// startBenchRegistry is startRegistry for a benchmark: a distribution registry
// on a free loopback port, storage in a temporary directory, stopped at the end.
func startBenchRegistry(b *testing.B) *Registry {
	b.Helper()
	dir := b.TempDir()
	r := &Registry{logFile: filepath.Join(dir, "registry.log")}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			b.Fatal(err)
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		config := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(config, []byte(registryConfig(filepath.Join(dir, "storage"), r.Host)), 0o644); err != nil {
			b.Fatal(err)
		}
		logf, err := os.OpenFile(r.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(registryBinary, "serve", config)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			b.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			logf.Close()
			close(exited)
		}()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if lastErr = waitForRegistry(r.Host, exited); lastErr == nil {
			b.Cleanup(stop)
			return r
		}
		stop()
		b.Logf("registry on %s did not start (attempt %d): %v", r.Host, attempt+1, lastErr)
	}
	b.Fatalf("registry did not start: %v\n%s", lastErr, r.log())
	return nil
}

// newBenchCLI is newBareCLI plus the plugin, for a benchmark: its own config
// directory and HOME, no engine, no proxy.
func newBenchCLI(b *testing.B) *CLI {
	b.Helper()
	c := &CLI{ConfigDir: b.TempDir(), HomeDir: b.TempDir()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DOCKER_"), k == "HOME", strings.HasSuffix(strings.ToUpper(k), "_PROXY"):
			continue
		}
		c.env = append(c.env, kv)
	}
	c.env = append(c.env,
		"DOCKER_CONFIG="+c.ConfigDir,
		"HOME="+c.HomeDir,
		"DOCKER_HOST=unix:///nonexistent/docker.sock",
		"DOCKER_CLI_HINTS=false",
	)
	plugin := filepath.Join(c.ConfigDir, "cli-plugins", "docker-migrate")
	if err := os.MkdirAll(filepath.Dir(plugin), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Link(pluginBinary, plugin); err != nil {
		data, err := os.ReadFile(pluginBinary)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(plugin, data, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return c
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
