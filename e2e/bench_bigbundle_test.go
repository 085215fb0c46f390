package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// bigBundleBytes is the default size of BenchmarkBundleArchiveBig's bundle.
const bigBundleBytes = 2 << 30

// BenchmarkBundleArchiveBig takes a 2 GiB air-gap bundle (BenchmarkBatch's
// 10 two-platform images sharing a base layer, with layers of about 100 MB)
// registry → archive → registry on loopback, by `docker migrate` (through
// the real docker CLI, default flags) through a plain .tar and a .tar.zst, and
// by crane pull/push image by image (crane pinned; --index wraps the source's
// index, so crane's digest is not the source's). For each export and import
// it reports the wall time, the peak RSS of the tool's process (the plugin,
// not the docker CLI; the largest crane of the loop), the peak bytes on disk
// under the run's own $TMPDIR, and, for an export, the peak bytes on disk in
// the directory the archive is written to beside its final size (an archive
// written once peaks at its own size), each sampled every 100 ms.
//
// A 2 GiB bundle takes minutes and about 12 GiB of disk at once, so it runs
// only with BENCH_BIG=1; BENCH_BUNDLE_BYTES sets another size, BENCH_ROUNDS
// the rounds (default 1 here).
//
//	BENCH_BIG=1 go test -run '^$' -bench 'BenchmarkBundleArchiveBig$' -benchtime 1x -timeout 60m ./e2e/
func BenchmarkBundleArchiveBig(b *testing.B) {
	if os.Getenv("BENCH_BIG") != "1" {
		b.Skip("a 2 GiB bundle takes minutes and about 12 GiB of disk: set BENCH_BIG=1 to run it")
	}
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	total := int64(bigBundleBytes)
	if v := os.Getenv("BENCH_BUNDLE_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			b.Fatalf("BENCH_BUNDLE_BYTES=%q: want a number of bytes, 1 MiB or more", v)
		}
		total = n
	}
	rounds := 1
	if os.Getenv("BENCH_ROUNDS") != "" {
		rounds = benchRounds(b)
	}
	crane := benchCrane(b)
	src := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	seedStart := time.Now()
	// 1 base + 2 layers per image, all of one size.
	images := seedBatch(b, src, "team/app", benchBatchImages, total/(1+2*benchBatchImages))
	var srcRefs []string
	blobs := map[v1.Hash]int64{}
	for _, im := range images {
		srcRefs = append(srcRefs, src.Ref(im.ref))
		maps.Copy(blobs, assertComplete(b, src, src.Ref(im.ref)))
	}
	unique := totalSize(blobs)
	seedTime := time.Since(seedStart)
	list := writeList(b, "images.txt", srcRefs...)

	const prefix = "bundle"
	migrate := func(ext string) *bigBundleTool {
		return &bigBundleTool{
			name: "docker migrate, oci-archive " + ext, metric: "migrate" + strings.ReplaceAll(ext, ".", "-"), process: "docker-migrate", migrate: true,
			export: func(env []string, dir string) (string, benchRun) {
				file := filepath.Join(dir, "images"+ext)
				return file, benchExec(b, env, dockerBinary, "migrate", "-f", list, "oci-archive:"+file)
			},
			importTo: func(env []string, file, dst string) benchRun {
				return benchExec(b, env, dockerBinary, "migrate", "oci-archive:"+file, dst+"/"+prefix)
			},
		}
	}
	craneLoop := `crane=$1; cmd=$2; shift 2; while [ $# -gt 0 ]; do "$crane" $cmd "$1" "$2"; shift 2; done`
	tools := []*bigBundleTool{
		migrate(".tar"),
		migrate(".tar.zst"),
		{
			name: "crane pull --format oci / push --index, per image", metric: "crane", process: "crane",
			export: func(env []string, dir string) (string, benchRun) {
				args := []string{"-ec", craneLoop, "sh", crane, "pull --format oci"}
				for i, ref := range srcRefs {
					args = append(args, ref, filepath.Join(dir, "layouts", fmt.Sprint(i)))
				}
				return filepath.Join(dir, "layouts"), benchExec(b, env, "/bin/sh", args...)
			},
			importTo: func(env []string, layouts, dst string) benchRun {
				args := []string{"-ec", craneLoop, "sh", crane, "push --index"}
				for i, im := range images {
					args = append(args, filepath.Join(layouts, fmt.Sprint(i)), dst+"/"+prefix+"/"+im.ref)
				}
				return benchExec(b, env, "/bin/sh", args...)
			},
		},
	}

	b.ResetTimer()
	for round := range rounds {
		for _, tool := range benchOrder(tools, round) {
			b.StopTimer()
			out, tmp := b.TempDir(), b.TempDir()
			env := append(cli.Env(), "TMPDIR="+tmp)
			run := bigBundleRun{}
			stop := watchDiskPeak(tmp, out)
			b.StartTimer()
			file, export := tool.export(env, out)
			b.StopTimer()
			peaks := stop()
			run.export, run.exportTmp, run.exportOut = export, peaks[0], peaks[1]
			run.size = diskUsage(file)

			dst := startRegistry(b, registryOptions{})
			stop = watchDiskPeak(tmp)
			b.StartTimer()
			run.imported = tool.importTo(env, file, dst.Host)
			b.StopTimer()
			run.importTmp = stop()[0]
			benchCheckBundle(b, dst, prefix, images, tool.name, tool.migrate)
			dst.Stop()
			// Gigabytes a round: keep the disk for the next.
			for _, p := range []string{file, filepath.Join(filepath.Dir(dst.logFile), "storage")} {
				if err := os.RemoveAll(p); err != nil {
					b.Fatal(err)
				}
			}
			tool.runs = append(tool.runs, run)
			b.StartTimer()
		}
	}
	b.StopTimer()

	craneS := tools[2].median(func(r bigBundleRun) float64 { return r.roundTrip() })
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\texport\tpeak RSS\tpeak TMPDIR\tpeak beside target\tarchive\timport\tpeak RSS\tpeak TMPDIR\tround trip\t÷ crane\t")
	gb := func(n float64) string { return fmt.Sprintf("%.2f GB", n/1e9) }
	for _, tool := range tools {
		m := func(f func(bigBundleRun) float64) float64 { return tool.median(f) }
		exportS := m(func(r bigBundleRun) float64 { return r.export.wall.Seconds() })
		importS := m(func(r bigBundleRun) float64 { return r.imported.wall.Seconds() })
		trip := m(func(r bigBundleRun) float64 { return r.roundTrip() })
		fmt.Fprintf(tw, "%s\t%.1fs\t%.0f MB\t%s\t%s\t%s\t%.1fs\t%.0f MB\t%s\t%.1fs\t%.2f\t\n", tool.name,
			exportS, m(func(r bigBundleRun) float64 { return r.export.peakMB(tool.process) }),
			gb(m(func(r bigBundleRun) float64 { return float64(r.exportTmp) })),
			gb(m(func(r bigBundleRun) float64 { return float64(r.exportOut) })),
			gb(m(func(r bigBundleRun) float64 { return float64(r.size) })),
			importS, m(func(r bigBundleRun) float64 { return r.imported.peakMB(tool.process) }),
			gb(m(func(r bigBundleRun) float64 { return float64(r.importTmp) })),
			trip, trip/craneS)
		b.ReportMetric(trip, tool.metric+"-s")
	}
	tw.Flush()
	// go test keeps only the first 10 lines a benchmark logs.
	b.Logf("%d images × 2 platforms sharing a base layer: %.2f GB in %d distinct blobs, seeded in %s; registry → bundle → registry on loopback, "+
		"medians of %d rounds, each import into a fresh registry; docker migrate (default flags), %s (--jobs = GOMAXPROCS = %s); "+
		"disk sampled every 100 ms (allocated blocks); load average at the end %s:\n%s",
		len(images), float64(unique)/1e9, len(blobs), seedTime.Round(time.Millisecond), rounds,
		benchVersion(crane), benchGOMAXPROCS(), loadAverage(), table.String())
}

// bigBundleTool is one row of BenchmarkBundleArchiveBig.
type bigBundleTool struct {
	name, metric string
	// process is the name whose peak RSS is reported.
	process string
	// migrate says the digests must be the source's.
	migrate bool
	// export writes the bundle into dir with env and returns its path (a
	// file, or a directory of layouts).
	export func(env []string, dir string) (string, benchRun)
	// importTo pushes the bundle at path to the registry at host dst, each
	// image under bundle/REPO:TAG.
	importTo func(env []string, path, dst string) benchRun
	runs     []bigBundleRun
}

// bigBundleRun is one round of a tool; the peaks and size are bytes on disk.
type bigBundleRun struct {
	export, imported     benchRun
	exportTmp, exportOut int64
	importTmp            int64
	size                 int64
}

func (r bigBundleRun) roundTrip() float64 {
	return r.export.wall.Seconds() + r.imported.wall.Seconds()
}

func (t *bigBundleTool) median(f func(bigBundleRun) float64) float64 {
	xs := make([]float64, len(t.runs))
	for i, r := range t.runs {
		xs[i] = f(r)
	}
	return benchMedian(xs)
}

// watchDiskPeak samples the bytes on disk under each of dirs every 100 ms
// until the returned function is called, which returns the peak of each
// (sampled once more at the end).
func watchDiskPeak(dirs ...string) func() []int64 {
	peaks := make([]int64, len(dirs))
	sample := func() {
		for i, d := range dirs {
			peaks[i] = max(peaks[i], diskUsage(d))
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() []int64 {
		close(stop)
		<-done
		sample()
		return peaks
	}
}

// diskUsage is what the files under path take on disk (allocated blocks, as
// du counts them), hidden temporaries included; files that go away while it
// walks are skipped.
func diskUsage(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && !d.IsDir() {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
