package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
//   - crane pull --format oci SRC DIR, then crane push DIR DST (crane
//     pinned). Without --index, crane push writes the layout's one entry, the
//     source's index, as it is; --index would wrap it in a new index.
//
// and, on its own row, docker migrate's export to a .tar.zst, whose
// compression costs CPU the plain tar does not.
//
// Each of BENCH_ROUNDS rounds (default 3) runs every tool once, in an order
// reversed every other round, each into fresh files and a fresh repository of
// the destination registry. It reports the median export, import and round
// trip times, the round trip's ratio to docker migrate's, the archive's size
// on disk (a crane layout is a directory: the sum of its files), whether the
// destination's digest is the source's, and the peak RSS of each tool's
// process (the docker-migrate plugin, not the docker CLI).
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
	dst := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	opts := benchFixture()
	const repoTag = "bench/fixture:v1"
	srcRef := src.Ref(repoTag)
	seedStart := time.Now()
	digest := pushFixture(b, src, srcRef, opts, false)
	seedTime := time.Since(seedStart)
	srcBlobs := assertComplete(b, src, srcRef)
	blobs, size := len(srcBlobs), totalSize(srcBlobs)

	tools := []*archiveTool{
		{
			name: "docker migrate, oci-archive .tar", metric: "migrate", process: "docker-migrate",
			export: func(dir string) (string, benchRun) {
				file := filepath.Join(dir, "images.tar")
				return file, benchExec(b, cli.Env(), dockerBinary, "migrate", srcRef, "oci-archive:"+file)
			},
			importTo: func(file, dstRepo string) (string, benchRun) {
				// Every image of the archive lands under the prefix with its repository path.
				r := benchExec(b, cli.Env(), dockerBinary, "migrate", "oci-archive:"+file, dstRepo)
				return dstRepo + "/" + repoTag, r
			},
		},
		{
			name: "skopeo copy --all, oci-archive", metric: "skopeo", process: "skopeo",
			export: func(dir string) (string, benchRun) {
				file := filepath.Join(dir, "images.tar")
				return file, benchExec(b, cli.Env(), skopeo, "copy", "--all", "--src-tls-verify=false",
					"docker://"+srcRef, "oci-archive:"+file+":"+tagOf(repoTag))
			},
			importTo: func(file, dstRepo string) (string, benchRun) {
				ref := dstRepo + "/" + repoTag
				return ref, benchExec(b, cli.Env(), skopeo, "copy", "--all", "--dest-tls-verify=false",
					"oci-archive:"+file+":"+tagOf(repoTag), "docker://"+ref)
			},
		},
		{
			name: "crane pull --format oci / push", metric: "crane", process: "crane",
			export: func(dir string) (string, benchRun) {
				layout := filepath.Join(dir, "layout")
				return layout, benchExec(b, cli.Env(), crane, "pull", "--format", "oci", srcRef, layout)
			},
			importTo: func(layout, dstRepo string) (string, benchRun) {
				ref := dstRepo + "/" + repoTag
				return ref, benchExec(b, cli.Env(), crane, "push", layout, ref)
			},
		},
		{
			name: "docker migrate, oci-archive .tar.zst", metric: "migrate-zst", process: "docker-migrate",
			export: func(dir string) (string, benchRun) {
				file := filepath.Join(dir, "images.tar.zst")
				return file, benchExec(b, cli.Env(), dockerBinary, "migrate", srcRef, "oci-archive:"+file)
			},
		},
	}

	b.ResetTimer()
	for round := range rounds {
		for _, tool := range benchOrder(tools, round) {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			file, export := tool.export(dir)
			b.StopTimer()
			run := archiveRun{export: export, size: diskSize(b, file)}
			if tool.importTo != nil {
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
	fmt.Fprintln(tw, "tool\texport\timport\tround trip\t÷ docker migrate\tarchive size\tdigest kept\tpeak RSS\tround trips\t")
	for _, tool := range tools {
		exportS := tool.median(func(r archiveRun) float64 { return r.export.wall.Seconds() })
		sizeMB := tool.median(func(r archiveRun) float64 { return float64(r.size) / 1e6 })
		rss := tool.median(func(r archiveRun) float64 {
			peak := r.export.peakMB(tool.process)
			if r.imported != nil {
				peak = max(peak, r.imported.peakMB(tool.process))
			}
			return peak
		})
		if tool.importTo == nil {
			var exports []string
			for _, r := range tool.runs {
				exports = append(exports, fmt.Sprintf("%.2fs", r.export.wall.Seconds()))
			}
			fmt.Fprintf(tw, "%s\t%.2fs\t–\t–\t–\t%.1f MB\t–\t%.1f MB\texports %s\t\n", tool.name, exportS, sizeMB, rss, strings.Join(exports, " "))
			b.ReportMetric(exportS, tool.metric+"-export-s")
			b.ReportMetric(sizeMB, tool.metric+"-MB")
			continue
		}
		importS := tool.median(func(r archiveRun) float64 { return r.imported.wall.Seconds() })
		total := tool.median(archiveRun.roundTrip)
		var totals []string
		for _, r := range tool.runs {
			totals = append(totals, fmt.Sprintf("%.2fs", r.roundTrip()))
		}
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2fs\t%.2f\t%.1f MB\t%s\t%.1f MB\t%s\t\n", tool.name, exportS, importS, total, total/migrateS,
			sizeMB, tool.kept(), rss, strings.Join(totals, " "))
		if tool != tools[0] {
			b.ReportMetric(total/migrateS, tool.metric+"/migrate")
		}
		b.ReportMetric(sizeMB, tool.metric+"-MB")
	}
	tw.Flush()
	b.ReportMetric(migrateS, "migrate-s")
	exportS := func(r archiveRun) float64 { return r.export.wall.Seconds() }
	b.ReportMetric(tools[3].median(exportS)/tools[0].median(exportS), "zst/tar-export")
	for _, tool := range tools {
		for i, r := range tool.runs {
			if r.imported != nil && !r.kept {
				// Not b.Logf: go test keeps only the first 10 lines a benchmark logs.
				fmt.Fprintf(os.Stderr, "    %s, round %d: the destination is %s, the source %s\n", tool.name, i+1, r.got, digest)
			}
		}
	}

	// go test keeps only the first 10 lines a benchmark logs.
	b.Logf("%.1f MB in %d blobs (8 platforms + attestations), registry → archive → registry on loopback, seeded in %s, medians of %d rounds;\n"+
		"docker migrate (default flags), %s, %s (--jobs = GOMAXPROCS = %s); load average at the end %s:\n%s",
		float64(size)/1e6, blobs, seedTime.Round(time.Millisecond), rounds,
		benchToolVersion(skopeo, "--version"), benchVersion(crane), benchGOMAXPROCS(),
		loadAverage(), table.String())
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
	runs     []archiveRun
}

// archiveRun is one round of a tool.
type archiveRun struct {
	export benchRun
	// imported is nil for an export-only row.
	imported *benchRun
	// size is the archive's bytes on disk.
	size int64
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
