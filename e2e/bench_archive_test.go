package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BenchmarkArchive compares the air-gap round trip registry → archive →
// registry of `docker migrate` (through the real docker CLI, default flags)
// with the tools its users come from, on BenchmarkIndexVsCrane's ~200 MB
// 8-platform image with attestations, between real registries on loopback:
//
//   - docker migrate SRC oci-archive:FILE.tar, then
//     docker migrate oci-archive:FILE.tar PREFIX;
//   - skopeo copy --all docker://SRC oci-archive:FILE:TAG, then
//     skopeo copy --all oci-archive:FILE:TAG docker://DST (Debian's skopeo);
//   - crane pull --format oci SRC DIR, then crane push --index DIR DST (crane
//     pinned). --index pushes the layout's index.json as an index that wraps
//     the source's, so crane's digest is not the source's;
//
// and, on rows of their own, docker migrate's export to a .tar.gz and a
// .tar.zst (and the import of the .tar.zst, decompressed into $TMPDIR
// first), whose compression costs CPU the plain tar does not, and skopeo
// importing into a registry it pushed the same blobs to in earlier rounds
// (its blob-info cache then mounts them instead of uploading).
//
// Each of BENCH_ROUNDS rounds (default 3) runs every tool once, in an order
// reversed every other round, each into fresh files and a fresh destination
// registry (but the cached skopeo row). It reports the median export, import
// and round trip times, the round trip's ratio to docker migrate's, the
// archive's size on disk (a crane layout is a directory: the sum of its
// files), whether the destination's digest is the source's, the peak RSS of
// each tool's process (the docker-migrate plugin, not the docker CLI), the CPU
// the export took (the tool's, with the plugin: a compressor's cost shows
// there) and the CPU the source registry spent serving the export. Below the table: the
// export ratios the issue targets, and what bounds an export from below: the
// write rate of the disk (dd, fdatasync, on the same file system).
//
// It never fails because of slowness, only when a tool fails or when docker
// migrate's round trip changes the digest.
//
//	go test -run '^$' -bench BenchmarkArchive -benchtime 1x ./e2e/
func BenchmarkArchive(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	crane := benchCrane(b)
	skopeo := benchSkopeo(b)
	src := startRegistry(b, registryOptions{})
	cachedDst := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	opts := benchFixture()
	const repoTag = "bench/fixture:v1"
	srcRef := src.Ref(repoTag)
	seedStart := time.Now()
	digest := pushFixture(b, src, srcRef, opts, false)
	seedTime := time.Since(seedStart)
	srcBlobs := assertComplete(b, src, srcRef)
	blobs, size := len(srcBlobs), totalSize(srcBlobs)

	migrateExport := func(ext string) func(dir string) (string, benchRun) {
		return func(dir string) (string, benchRun) {
			file := filepath.Join(dir, "images"+ext)
			return file, benchExec(b, cli.Env(), dockerBinary, "migrate", srcRef, "oci-archive:"+file)
		}
	}
	skopeoExport := func(dir string) (string, benchRun) {
		file := filepath.Join(dir, "images.tar")
		return file, benchExec(b, cli.Env(), skopeo, "copy", "--all", "--src-tls-verify=false",
			"docker://"+srcRef, "oci-archive:"+file+":"+tagOf(repoTag))
	}
	skopeoImport := func(file, dstRepo string) (string, benchRun) {
		ref := dstRepo + "/" + repoTag
		return ref, benchExec(b, cli.Env(), skopeo, "copy", "--all", "--dest-tls-verify=false",
			"oci-archive:"+file+":"+tagOf(repoTag), "docker://"+ref)
	}
	migrateImport := func(file, dstRepo string) (string, benchRun) {
		// Every image of the archive lands under the prefix with its repository path.
		r := benchExec(b, cli.Env(), dockerBinary, "migrate", "oci-archive:"+file, dstRepo)
		return dstRepo + "/" + repoTag, r
	}
	tools := []*archiveTool{
		{
			name: "docker migrate, oci-archive .tar", metric: "migrate", process: "docker-migrate",
			export: migrateExport(".tar"), importTo: migrateImport,
		},
		{
			name: "skopeo copy --all, oci-archive", metric: "skopeo", process: "skopeo",
			export: skopeoExport, importTo: skopeoImport,
		},
		{
			name: "crane pull --format oci / push --index", metric: "crane", process: "crane",
			export: func(dir string) (string, benchRun) {
				layout := filepath.Join(dir, "layout")
				return layout, benchExec(b, cli.Env(), crane, "pull", "--format", "oci", srcRef, layout)
			},
			importTo: func(layout, dstRepo string) (string, benchRun) {
				ref := dstRepo + "/" + repoTag
				return ref, benchExec(b, cli.Env(), crane, "push", "--index", layout, ref)
			},
		},
		{name: "docker migrate, oci-archive .tar.gz", metric: "migrate-gz", process: "docker-migrate", export: migrateExport(".tar.gz")},
		{name: "docker migrate, oci-archive .tar.zst", metric: "migrate-zst", process: "docker-migrate", export: migrateExport(".tar.zst"), importTo: migrateImport},
		{
			name: "skopeo, import into a registry it pushed to (cached)", metric: "skopeo-cached", process: "skopeo",
			export: skopeoExport, importTo: skopeoImport, cached: true,
		},
	}

	b.ResetTimer()
	for round := range rounds {
		for _, tool := range benchOrder(tools, round) {
			b.StopTimer()
			dir := b.TempDir()
			cpu := src.cpuSeconds()
			b.StartTimer()
			file, export := tool.export(dir)
			b.StopTimer()
			run := archiveRun{export: export, size: diskSize(b, file), srcCPU: src.cpuSeconds() - cpu}
			if tool.importTo != nil {
				dst := cachedDst
				if !tool.cached {
					dst = startRegistry(b, registryOptions{})
				}
				b.StartTimer()
				ref, imp := tool.importTo(file, dst.Ref(fmt.Sprintf("%s/r%d", tool.metric, round)))
				b.StopTimer()
				run.imported = &imp
				got, ok := headDigest(b, dst, ref)
				run.kept = ok && got == digest
				if !run.kept {
					run.got = got
				}
				if tool.process == "docker-migrate" {
					benchCheckCopy(b, dst, ref, digest)
					assertComplete(b, dst, ref)
				}
				if dst != cachedDst {
					dst.Stop()
				}
			}
			// The next round writes new files: keep the disk for them.
			if err := os.RemoveAll(file); err != nil {
				b.Fatal(err)
			}
			tool.runs = append(tool.runs, run)
			b.StartTimer()
		}
	}
	b.StopTimer()

	migrateS := tools[0].median(archiveRun.roundTrip)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\texport\timport\tround trip\t÷ docker migrate\tarchive size\tdigest kept\tpeak RSS\texport CPU\tsrc registry CPU\trounds (export+import)\t")
	for _, tool := range tools {
		exportS := tool.median(func(r archiveRun) float64 { return r.export.wall.Seconds() })
		sizeMB := tool.median(func(r archiveRun) float64 { return float64(r.size) / 1e6 })
		srcCPU := tool.median(func(r archiveRun) float64 { return r.srcCPU })
		cpu := tool.median(func(r archiveRun) float64 { return r.export.cpu })
		rss := tool.median(func(r archiveRun) float64 {
			peak := r.export.peakMB(tool.process)
			if r.imported != nil {
				peak = max(peak, r.imported.peakMB(tool.process))
			}
			return peak
		})
		var each []string
		for _, r := range tool.runs {
			if r.imported == nil {
				each = append(each, fmt.Sprintf("%.2fs", r.export.wall.Seconds()))
			} else {
				each = append(each, fmt.Sprintf("%.2f+%.2fs", r.export.wall.Seconds(), r.imported.wall.Seconds()))
			}
		}
		b.ReportMetric(exportS, tool.metric+"-export-s")
		b.ReportMetric(sizeMB, tool.metric+"-MB")
		if tool.importTo == nil {
			fmt.Fprintf(tw, "%s\t%.2fs\t–\t–\t–\t%.1f MB\t–\t%.1f MB\t%.2fs\t%.2fs\t%s\t\n", tool.name, exportS, sizeMB, rss, cpu, srcCPU, strings.Join(each, " "))
			continue
		}
		importS := tool.median(func(r archiveRun) float64 { return r.imported.wall.Seconds() })
		total := tool.median(archiveRun.roundTrip)
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2fs\t%.2f\t%.1f MB\t%s\t%.1f MB\t%.2fs\t%.2fs\t%s\t\n", tool.name, exportS, importS, total, total/migrateS,
			sizeMB, tool.kept(), rss, cpu, srcCPU, strings.Join(each, " "))
		if tool != tools[0] {
			b.ReportMetric(total/migrateS, tool.metric+"/migrate")
		}
	}
	tw.Flush()
	b.ReportMetric(migrateS, "migrate-s")
	exportS := func(r archiveRun) float64 { return r.export.wall.Seconds() }
	importS := func(r archiveRun) float64 { return r.imported.wall.Seconds() }
	ratio := func(x, y *archiveTool, f func(archiveRun) float64) float64 { return x.median(f) / y.median(f) }
	targets := fmt.Sprintf("export ÷ crane %.2f (target ≤ 1), ÷ skopeo %.2f (target ≤ 0.6); import ÷ crane %.2f, ÷ skopeo %.2f; "+
		".tar.gz ÷ .tar export %.2f, .tar.zst ÷ .tar %.2f",
		ratio(tools[0], tools[2], exportS), ratio(tools[0], tools[1], exportS),
		ratio(tools[0], tools[2], importS), ratio(tools[0], tools[1], importS),
		ratio(tools[3], tools[0], exportS), ratio(tools[4], tools[0], exportS))
	b.ReportMetric(ratio(tools[0], tools[2], exportS), "export/crane")
	b.ReportMetric(ratio(tools[0], tools[1], exportS), "export/skopeo")
	b.ReportMetric(ratio(tools[4], tools[0], exportS), "zst/tar-export")
	b.ReportMetric(ratio(tools[3], tools[0], exportS), "gz/tar-export")
	for _, tool := range tools {
		for i, r := range tool.runs {
			if r.imported != nil && !r.kept {
				// Not b.Logf: go test keeps only the first 10 lines a benchmark logs.
				fmt.Fprintf(os.Stderr, "    %s, round %d: the destination is %s, the source %s\n", tool.name, i+1, r.got, digest)
			}
		}
	}
	rate := ddRate(b)
	var starts []float64
	for range 3 {
		starts = append(starts, benchExec(b, cli.Env(), dockerBinary, "migrate", "version").wall.Seconds())
	}
	floor := fmt.Sprintf("floors: the disk writes %s (dd, 256 MB, fdatasync, same file system), so %.1f MB takes %.2fs; "+
		"the docker CLI starting the plugin (docker migrate version) takes %.2fs, which crane and skopeo do not pay",
		rate, float64(size)/1e6, float64(size)/1e6/ddMBps, benchMedian(starts))

	// go test keeps only the first 10 lines a benchmark logs.
	b.Logf("%.1f MB in %d blobs (8 platforms + attestations), registry → archive → registry on loopback, seeded in %s, medians of %d rounds;\n"+
		"docker migrate (default flags), %s, %s (--jobs = GOMAXPROCS = %s); load average at the end %s:\n%s%s; %s",
		float64(size)/1e6, blobs, seedTime.Round(time.Millisecond), rounds,
		benchToolVersion(skopeo, "--version"), benchVersion(crane), benchGOMAXPROCS(),
		loadAverage(), table.String(), targets, floor)
}

// ddMBps is the last rate ddRate measured.
var ddMBps float64

// ddRate writes 256 MB with dd into the benchmark's temporary directory (the
// file system the archives are written to), flushed to the disk, and returns
// the rate dd reports: the floor under any export.
func ddRate(b *testing.B) string {
	out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(b.TempDir(), "dd"), "bs=1M", "count=256", "conv=fdatasync").CombinedOutput()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	// "268435456 bytes (268 MB, 256 MiB) copied, 0.5 s, 537 MB/s"
	f := strings.Split(last, ",")
	rate := strings.TrimSpace(f[len(f)-1])
	if secs := strings.Fields(strings.TrimSpace(f[len(f)-2])); len(secs) > 0 {
		if s, err := strconv.ParseFloat(secs[0], 64); err == nil && s > 0 {
			ddMBps = 268.435456 / s
		}
	}
	return rate
}

// archiveTool is one row of BenchmarkArchive.
type archiveTool struct {
	name string
	// metric names the tool in b.ReportMetric units and the destination's
	// repositories.
	metric string
	// process is the name whose peak RSS is reported.
	process string
	// export writes the source into a new archive in dir and returns its path.
	export func(dir string) (string, benchRun)
	// importTo pushes the archive at path under dstRepo and returns the
	// reference the source's image lands at; nil for an export-only row.
	importTo func(path, dstRepo string) (string, benchRun)
	// cached imports into one registry every round, not a fresh one.
	cached bool
	runs   []archiveRun
}

// archiveRun is one round of a tool.
type archiveRun struct {
	export benchRun
	// imported is nil for an export-only row.
	imported *benchRun
	// size is the archive's bytes on disk.
	size int64
	// srcCPU is the CPU seconds the source registry spent in the export.
	srcCPU float64
	// kept says that the destination's digest is the source's; got is the
	// destination's when it is not.
	kept bool
	got  v1.Hash
}

func (r archiveRun) roundTrip() float64 {
	s := r.export.wall.Seconds()
	if r.imported != nil {
		s += r.imported.wall.Seconds()
	}
	return s
}

func (t *archiveTool) median(f func(archiveRun) float64) float64 {
	xs := make([]float64, len(t.runs))
	for i, r := range t.runs {
		xs[i] = f(r)
	}
	return benchMedian(xs)
}

// kept is "yes" when every round kept the source's digest, else how many did not.
func (t *archiveTool) kept() string {
	lost := 0
	for _, r := range t.runs {
		if !r.kept {
			lost++
		}
	}
	if lost == 0 {
		return "yes"
	}
	return fmt.Sprintf("no (%d/%d rounds)", lost, len(t.runs))
}
