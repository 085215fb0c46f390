package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/shaper"
)

// The link of BenchmarkSlowLink, unless BENCH_DELAY_MS and BENCH_MBIT say
// otherwise: a registry on another continent.
const (
	slowLinkDelayMS = 25
	slowLinkMbit    = 100
)

// slowLinkFixture is the 8-platform image with attestations of issue 10: each
// platform image is 10 MiB, a 5 MiB base layer all share and a 5 MiB layer
// of its own, so 9 distinct layers (about 47 MB) cross the link.
var slowLinkFixture = fixture.Options{
	Platforms:      fixture.EightPlatforms(),
	LayersPerImage: 2,
	LayerSize:      5 << 20,
	Attestations:   true,
	Seed:           2025,
}

// slowLinkBigFixture is one image of one 1 GiB layer: one connection's cap
// decides how long it takes (about 86 s at 100 Mbit/s).
var slowLinkBigFixture = fixture.Options{LayersPerImage: 1, LayerSize: 1 << 30, Seed: 2026}

// BenchmarkSlowLink compares `docker migrate` (through the real docker CLI)
// with crane copy and regctl image copy (both pinned), each at its default
// flags, copying to a registry at the far end of a slow link: a real
// distribution registry served over TLS behind a shaper (internal/testutil/
// shaper), a TCP proxy that adds BENCH_DELAY_MS (default 25) each way and caps
// each connection at BENCH_MBIT (default 100) Mbit/s each way. TLS runs end to
// end through it, so every new connection pays TCP's and TLS's handshakes in
// round trips. The source is a plain registry on loopback, not shaped: the
// issue shapes the destination, where the uploads go.
//
// The destination runs twice, as its sub-benchmarks h2 and http1: the
// registry speaks HTTP/2 over TLS by default, as most registries in the field
// do, and then Go clients send every request over one connection, whose cap
// is the whole copy's; with HTTP/2 off (REGISTRY_HTTP_HTTP2_DISABLED) each
// parallel request needs a connection of its own, and whether idle ones are
// kept shows in the handshakes. `-bench BenchmarkSlowLink/h2` runs one.
//
// The tools trust the destination's self-signed CA the way their users would
// (no --insecure, so TLS stays real): docker migrate through
// DOCKER_CONFIG/certs.d/HOST/ca.crt, crane through SSL_CERT_FILE, regctl
// through `regctl registry set HOST --cacert`. docker migrate runs with
// --progress quiet --format json, which only change what it prints: the JSON
// says what it copied, mounted and skipped.
//
// The cases, each a sub-benchmark of h2 and http1:
//
//   - cold: the fixture into a fresh repository; docker migrate also with
//     -j 8 (its default before) and -j 32;
//   - noop: again into a repository that already has it; with the start of
//     the docker CLI and the plugin alone (`docker migrate --help`), the
//     floor of any docker migrate run;
//   - mount: from one repository of the destination to another;
//   - big: the 1 GiB layer. It takes about 5 minutes a round at 100 Mbit/s,
//     so it runs only with BENCH_BIG=1, to keep `make bench` bounded.
//
// Each of BENCH_ROUNDS rounds (default 3) runs every tool once, in an order
// reversed every other round. Each case logs the median wall time of each
// tool, its ratio to docker migrate's, and the medians of what the shaper saw:
// when the tool's first connection came (what its start and its reading of the
// source cost before the link is used), the connections it opened (each a TCP
// and a TLS handshake), those that carried 1 MB or more up (blob data), the
// most open at once, and the megabytes sent up the link (TLS records and
// all); -v prints each run's connections. It never fails because of
// slowness, only when a tool fails or a copy is wrong.
//
//	go test -run '^$' -bench BenchmarkSlowLink -benchtime 1x ./e2e/
func BenchmarkSlowLink(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	crane := benchCrane(b)
	base := slowLink{
		rounds: benchRounds(b),
		crane:  crane,
		regctl: benchRegctl(b, filepath.Dir(crane)),
		src:    startRegistry(b, registryOptions{}),
		cli:    NewCLI(b),
		opts:   slowLinkOptions(b),
	}
	benchExec(b, base.cli.Env(), base.regctl, "registry", "set", base.src.Host, "--tls", "disabled")
	for _, proto := range []struct {
		name  string
		http2 bool
	}{{"h2", true}, {"http1", false}} {
		b.Run(proto.name, func(b *testing.B) {
			s := base
			s.proto = "HTTP/1.1"
			if proto.http2 {
				s.proto = "HTTP/2"
			} else {
				// The registry reads its configuration's overrides from its environment.
				b.Setenv("REGISTRY_HTTP_HTTP2_DISABLED", "true")
			}
			s.farEnd(b)
			b.Run("cold", s.benchCold)
			b.Run("noop", s.benchNoop)
			b.Run("mount", s.benchMount)
			b.Run("big", s.benchBig)
		})
	}
}

// slowLink is the setting of BenchmarkSlowLink.
type slowLink struct {
	rounds        int
	crane, regctl string
	// src is the source on loopback.
	src  *Registry
	cli  *CLI
	opts shaper.Options

	// Set by farEnd for a protocol. dst is the destination registry itself,
	// which the checks ask directly; far is dst as the tools see it, behind
	// link.
	proto    string
	dst, far *Registry
	link     *shaper.Proxy
	craneEnv []string
}

// farEnd starts the destination registry behind the shaper and makes every
// tool trust its certificate.
func (s *slowLink) farEnd(b *testing.B) {
	b.Helper()
	s.dst = startRegistry(b, registryOptions{tls: true})
	s.link = shaper.Start(b, s.dst.Host, s.opts)
	// The registry's certificate names 127.0.0.1, whatever the port, so it
	// is valid for the shaper's address too.
	s.far = &Registry{Host: s.link.Host, CAPEM: s.dst.CAPEM}
	trustCA(b, s.cli, s.far)
	ca := filepath.Join(b.TempDir(), "ca.pem")
	benchWriteFile(b, ca, string(s.dst.CAPEM))
	s.craneEnv = append(s.cli.Env(), "SSL_CERT_FILE="+ca)
	// regctl keeps this in $HOME/.regctl/config.json; HOME is the CLI's.
	benchExec(b, s.cli.Env(), s.regctl, "registry", "set", s.far.Host, "--cacert", string(s.dst.CAPEM))
}

func (s *slowLink) benchCold(b *testing.B) {
	srcRef := s.src.Ref("bench/slowlink:v1")
	digest, size, blobs := s.seed(b, s.src, srcRef, slowLinkFixture, false)
	tools := s.tools(b, "", "-j 8", "-j 32")
	b.ResetTimer()
	s.runRounds(b, tools, func(tool *slowTool, round int) slowRun {
		dstRef := fmt.Sprintf("cold/%s-r%d:v1", tool.metric, round)
		r := tool.copy(srcRef, s.far.Ref(dstRef))
		if tool.migrate {
			benchCheckReport(b, r.benchRun, size)
		}
		benchCheckCopy(b, s.dst, s.dst.Ref(dstRef), digest)
		return r
	})
	s.report(b, tools, fmt.Sprintf("cold copy of %.1f MB in %d blobs (8 platforms × 10 MiB + attestations) from loopback%s",
		float64(size)/1e6, blobs, s.floor(size)))
}

func (s *slowLink) benchNoop(b *testing.B) {
	srcRef := s.src.Ref("bench/slowlink:v1")
	digest, _, _ := s.seed(b, s.src, srcRef, slowLinkFixture, false)
	tools := s.tools(b, "")
	// The fixture is the same wherever it is pushed: each tool's repository
	// has it before the first round.
	for _, tool := range tools {
		pushFixture(b, s.dst, s.dst.Ref("noop/"+tool.metric+":v1"), slowLinkFixture, false)
	}
	start := &slowTool{name: "(docker migrate --help)", metric: "start", process: "docker-migrate",
		copy: func(_, _ string) slowRun {
			return slowRun{benchRun: benchExec(b, s.cli.Env(), dockerBinary, "migrate", "--help")}
		}}
	var said []migrateReport
	b.ResetTimer()
	s.runRounds(b, append(tools, start), func(tool *slowTool, round int) slowRun {
		dstRef := "noop/" + tool.metric + ":v1"
		r := tool.copy(srcRef, s.far.Ref(dstRef))
		if tool.migrate {
			said = append(said, benchReport(b, r.benchRun))
		}
		if tool != start {
			benchCheckCopy(b, s.dst, s.dst.Ref(dstRef), digest)
		}
		return r
	})
	s.report(b, append(tools, start), "no-op re-run from loopback into a repository that has the image; "+benchSaid(said))
}

func (s *slowLink) benchMount(b *testing.B) {
	fromRef := s.dst.Ref("mount/source:v1")
	digest, size, blobs := s.seed(b, s.dst, fromRef, slowLinkFixture, false)
	tools := s.tools(b, "")
	var said []migrateReport
	b.ResetTimer()
	s.runRounds(b, tools, func(tool *slowTool, round int) slowRun {
		dstRef := fmt.Sprintf("mount/%s-r%d:v1", tool.metric, round)
		r := tool.copy(s.far.Ref("mount/source:v1"), s.far.Ref(dstRef))
		if tool.migrate {
			said = append(said, benchReport(b, r.benchRun))
		}
		benchCheckCopy(b, s.dst, s.dst.Ref(dstRef), digest)
		return r
	})
	s.report(b, tools, fmt.Sprintf("same-registry copy of %.1f MB in %d blobs, from one repository of the far registry to another; %s",
		float64(size)/1e6, blobs, benchSaid(said)))
}

func (s *slowLink) benchBig(b *testing.B) {
	if os.Getenv("BENCH_BIG") != "1" {
		b.Skip("a 1 GiB layer takes about 5 minutes a round at 100 Mbit/s: set BENCH_BIG=1 to run it")
	}
	srcRef := s.src.Ref("bench/slowlink-big:v1")
	digest, size, _ := s.seed(b, s.src, srcRef, slowLinkBigFixture, true)
	tools := s.tools(b, "")
	b.ResetTimer()
	s.runRounds(b, tools, func(tool *slowTool, round int) slowRun {
		dstRef := fmt.Sprintf("big/%s-r%d:v1", tool.metric, round)
		r := tool.copy(srcRef, s.far.Ref(dstRef))
		if tool.migrate {
			benchCheckReport(b, r.benchRun, size)
		}
		benchCheckCopy(b, s.dst, s.dst.Ref(dstRef), digest)
		return r
	})
	s.report(b, tools, fmt.Sprintf("cold copy of one image with one %.0f MiB layer from loopback%s", float64(size)/(1<<20), s.floor(size)))
}

// floor says how long size bytes take at one connection's cap: the least
// time over HTTP/2, where every request shares one connection.
func (s *slowLink) floor(size int64) string {
	if s.opts.Rate == 0 {
		return ""
	}
	return fmt.Sprintf(" (one connection at the cap carries it in %.2fs)", float64(size)/float64(s.opts.Rate))
}

// seed pushes the fixture to ref in r (straight, not through the link) and
// returns its digest, and the bytes and number of its distinct blobs.
func (s *slowLink) seed(b *testing.B, r *Registry, ref string, opts fixture.Options, single bool) (v1.Hash, int64, int) {
	b.Helper()
	digest := pushFixture(b, r, ref, opts, single)
	blobs := assertComplete(b, r, ref)
	return digest, totalSize(blobs), len(blobs)
}

// slowTool is one row of a case of BenchmarkSlowLink.
type slowTool struct {
	name string
	// metric names the tool in b.ReportMetric units and in repository names.
	metric string
	// process is the name whose peak RSS is reported.
	process string
	// migrate is set for docker migrate, whose JSON output says what it did.
	migrate bool
	copy    func(src, dst string) slowRun
	runs    []slowRun
}

// slowRun is one run of a tool, with what the shaper saw of it.
type slowRun struct {
	benchRun
	link shaper.Stats
	// firstConn is when the tool's first connection reached the shaper,
	// from the start of the run; 0 when it made none.
	firstConn time.Duration
}

// dataConns counts the connections that carried at least 1 MB up: blob
// uploads, where the others carried only requests.
func (r slowRun) dataConns() int {
	n := 0
	for _, c := range r.link.Log {
		if c.Up >= 1e6 {
			n++
		}
	}
	return n
}

// connLog is each connection as +OPENED/MB-UP, for the verbose output.
func (r slowRun) connLog(start time.Time) string {
	var log []string
	for _, c := range r.link.Log {
		log = append(log, fmt.Sprintf("+%.2fs/%.1fMB", c.Opened.Sub(start).Seconds(), float64(c.Up)/1e6))
	}
	return strings.Join(log, " ")
}

// tools are docker migrate with each of the extra flags given ("" for its
// defaults), crane copy and regctl image copy.
func (s *slowLink) tools(b *testing.B, migrateFlags ...string) []*slowTool {
	var tools []*slowTool
	for _, flags := range migrateFlags {
		name, metric := "docker migrate", "migrate"
		if flags != "" {
			name += " " + flags
			metric += strings.ReplaceAll(flags, " ", "")
		}
		tools = append(tools, &slowTool{name: name, metric: metric, process: "docker-migrate", migrate: true,
			copy: func(src, dst string) slowRun {
				args := append([]string{"migrate", "--progress", "quiet", "--format", "json"}, strings.Fields(flags)...)
				return slowRun{benchRun: benchExec(b, s.cli.Env(), dockerBinary, append(args, src, dst)...)}
			}})
	}
	return append(tools,
		&slowTool{name: "crane copy", metric: "crane", process: "crane",
			copy: func(src, dst string) slowRun {
				return slowRun{benchRun: benchExec(b, s.craneEnv, s.crane, "copy", src, dst)}
			}},
		&slowTool{name: "regctl image copy", metric: "regctl", process: "regctl",
			copy: func(src, dst string) slowRun {
				return slowRun{benchRun: benchExec(b, s.cli.Env(), s.regctl, "image", "copy", src, dst)}
			}},
	)
}

// runRounds runs every tool once a round, in an order reversed every other
// round so that no tool always runs on a warmer machine, and records what the
// shaper saw of each run.
func (s *slowLink) runRounds(b *testing.B, tools []*slowTool, run func(tool *slowTool, round int) slowRun) {
	b.Helper()
	for round := range s.rounds {
		for _, tool := range benchOrder(tools, round) {
			s.link.ResetStats()
			start := time.Now()
			r := run(tool, round)
			// Every connection the tool made was accepted before it exited.
			r.link = s.link.Stats()
			if len(r.link.Log) > 0 {
				r.firstConn = r.link.Log[0].Opened.Sub(start)
			}
			tool.runs = append(tool.runs, r)
			if testing.Verbose() {
				// Not b.Logf: go test keeps only the first 10 lines a benchmark logs.
				fmt.Fprintf(os.Stderr, "    %s round %d: %s, %d connections (at most %d open), %.1f MB up, %.1f MB down; connections opened at/MB up: %s\n",
					tool.name, round+1, r.wall.Round(time.Millisecond), r.link.Conns, r.link.MaxActive,
					float64(r.link.Up)/1e6, float64(r.link.Down)/1e6, r.connLog(start))
			}
		}
	}
}

// report logs the table of a case and reports its metrics.
func (s *slowLink) report(b *testing.B, tools []*slowTool, what string) {
	b.StopTimer()
	migrateS := tools[0].median(func(r slowRun) float64 { return r.wall.Seconds() })
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian wall\t÷ docker migrate\t1st connection\tconnections\t≥ 1 MB up\tmost open\tMB up\tpeak RSS\trounds\t")
	for _, tool := range tools {
		wall := tool.median(func(r slowRun) float64 { return r.wall.Seconds() })
		first := tool.median(func(r slowRun) float64 { return r.firstConn.Seconds() })
		conns := tool.median(func(r slowRun) float64 { return float64(r.link.Conns) })
		data := tool.median(func(r slowRun) float64 { return float64(r.dataConns()) })
		open := tool.median(func(r slowRun) float64 { return float64(r.link.MaxActive) })
		up := tool.median(func(r slowRun) float64 { return float64(r.link.Up) / 1e6 })
		rss := tool.median(func(r slowRun) float64 { return r.peakMB(tool.process) })
		var walls []string
		for _, r := range tool.runs {
			walls = append(walls, fmt.Sprintf("%.2fs", r.wall.Seconds()))
		}
		fmt.Fprintf(tw, "%s\t%.3fs\t%.2f\t%.3fs\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f MB\t%s\t\n",
			tool.name, wall, wall/migrateS, first, conns, data, open, up, rss, strings.Join(walls, " "))
		b.ReportMetric(wall, tool.metric+"-s")
		b.ReportMetric(conns, tool.metric+"-conns")
		if tool != tools[0] && tool.metric != "start" {
			b.ReportMetric(wall/migrateS, tool.metric+"/migrate")
		}
	}
	tw.Flush()
	// go test keeps only the first 10 lines a benchmark logs.
	b.Logf("%s\nto a registry speaking %s over TLS behind the shaper (%s), median of %d alternating rounds; %s (--jobs = GOMAXPROCS = %s), %s:\n%s",
		what, s.proto, s.link.Options(), s.rounds, benchVersion(s.crane), benchGOMAXPROCS(),
		benchToolVersion(s.regctl, "version", "--format", "{{.VCSTag}}"), table.String())
}

func (t *slowTool) median(f func(slowRun) float64) float64 {
	xs := make([]float64, len(t.runs))
	for i, r := range t.runs {
		xs[i] = f(r)
	}
	return benchMedian(xs)
}

// benchReport decodes docker migrate's --format json output.
func benchReport(b *testing.B, r benchRun) migrateReport {
	b.Helper()
	var rep migrateReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		b.Fatalf("docker migrate --format json: %v\n%s", err, r.stdout)
	}
	return rep
}

// benchSaid is what docker migrate reported it did, in its first run (the
// same every run, or the range).
func benchSaid(reps []migrateReport) string {
	if len(reps) == 0 {
		return ""
	}
	say := func(r migrateReport) string {
		return fmt.Sprintf("blobs copied %d, mounted %d, skipped %d; manifests copied %d, skipped %d",
			r.Blobs.Copied, r.Blobs.Mounted, r.Blobs.Skipped, r.Manifests.Copied, r.Manifests.Skipped)
	}
	first := say(reps[0])
	for _, r := range reps[1:] {
		if say(r) != first {
			return "docker migrate said (first run): " + first + " (other runs differ)"
		}
	}
	return "docker migrate said: " + first
}

// slowLinkOptions reads the link from BENCH_DELAY_MS and BENCH_MBIT (0: no cap).
func slowLinkOptions(b *testing.B) shaper.Options {
	b.Helper()
	delay := benchEnvFloat(b, "BENCH_DELAY_MS", slowLinkDelayMS)
	mbit := benchEnvFloat(b, "BENCH_MBIT", slowLinkMbit)
	return shaper.Options{Delay: time.Duration(delay * float64(time.Millisecond)), Rate: shaper.Mbit(mbit)}
}

func benchEnvFloat(b *testing.B, name string, def float64) float64 {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		b.Fatalf("%s=%q: want a number, 0 or more", name, v)
	}
	return f
}

// benchRegctl returns the pinned regctl of the tools cache (binDir). It does
// not build it: `make bench` installs it first.
func benchRegctl(b *testing.B, binDir string) string {
	b.Helper()
	p := filepath.Join(binDir, "regctl")
	if _, err := os.Stat(p); err != nil {
		b.Fatalf("regctl is not in the tools cache (%v): run scripts/install-tools.sh regclient", err)
	}
	return p
}
