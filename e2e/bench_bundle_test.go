package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// BenchmarkBundleArchive compares an air-gap bundle of BenchmarkBatch's 10
// two-platform images sharing a base layer, taken registry → archive →
// registry, by `docker migrate` (through the real docker CLI, default flags)
// and by crane image by image, between real registries on loopback:
//
//   - docker migrate -f LIST oci-archive:FILE.tar.zst, then
//     docker migrate oci-archive:FILE.tar.zst PREFIX (the .tar.zst is
//     decompressed into $TMPDIR first); and the same through a plain .tar;
//   - for each image, crane pull --format oci SRC DIR/N, then for each,
//     crane push --index DIR/N DST (crane pinned; --index wraps the source's
//     index, so crane's digest is not the source's).
//
// Each of BENCH_ROUNDS rounds (default 3) runs every tool once, in an order
// reversed every other round, each into fresh files and a fresh destination
// registry. It reports the median export, import and round trip times, the
// round trip's ratio to crane's, and the bundle's size on disk (crane's: the
// sum of its per-image layouts, where the base is in every one) against the
// unique bytes of the batch (each blob once). The targets: the
// .tar.zst round trip no slower than crane's, its archive smaller than
// crane's layouts together.
//
// It never fails because of slowness, only when a tool fails or when docker
// migrate's round trip changes a digest.
//
//	go test -run '^$' -bench BenchmarkBundleArchive -benchtime 1x ./e2e/
func BenchmarkBundleArchive(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	crane := benchCrane(b)
	src := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	seedStart := time.Now()
	images, srcRefs, unique, blobCount := seedBenchBatch(b, src)
	seedTime := time.Since(seedStart)
	list := writeList(b, "images.txt", srcRefs...)

	const prefix = "bundle"
	migrate := func(ext string) *bundleTool {
		return &bundleTool{
			name: "docker migrate, oci-archive " + ext, metric: "migrate" + strings.ReplaceAll(ext, ".", "-"), migrate: true,
			export: func(dir string) (string, benchRun) {
				file := filepath.Join(dir, "images"+ext)
				return file, benchExec(b, cli.Env(), dockerBinary, "migrate", "-f", list, "oci-archive:"+file)
			},
			importTo: func(file, dst string) benchRun {
				return benchExec(b, cli.Env(), dockerBinary, "migrate", "oci-archive:"+file, dst+"/"+prefix)
			},
		}
	}
	// sh loops: for each image, one crane process, stopping at the first failure.
	craneLoop := `crane=$1; cmd=$2; shift 2; while [ $# -gt 0 ]; do "$crane" $cmd "$1" "$2"; shift 2; done`
	tools := []*bundleTool{
		migrate(".tar.zst"),
		{
			name: "crane pull --format oci / push --index, per image", metric: "crane",
			export: func(dir string) (string, benchRun) {
				args := []string{"-ec", craneLoop, "sh", crane, "pull --format oci"}
				for i, ref := range srcRefs {
					args = append(args, ref, filepath.Join(dir, "layouts", fmt.Sprint(i)))
				}
				return filepath.Join(dir, "layouts"), benchExec(b, cli.Env(), "/bin/sh", args...)
			},
			importTo: func(layouts, dst string) benchRun {
				args := []string{"-ec", craneLoop, "sh", crane, "push --index"}
				for i, im := range images {
					args = append(args, filepath.Join(layouts, fmt.Sprint(i)), dst+"/"+prefix+"/"+im.ref)
				}
				return benchExec(b, cli.Env(), "/bin/sh", args...)
			},
		},
		migrate(".tar"),
	}

	b.ResetTimer()
	for round := range rounds {
		for _, tool := range benchOrder(tools, round) {
			b.StopTimer()
			dir := b.TempDir()
			dst := startRegistry(b, registryOptions{})
			b.StartTimer()
			file, export := tool.export(dir)
			b.StopTimer()
			size := diskSize(b, file)
			b.StartTimer()
			imported := tool.importTo(file, dst.Host)
			b.StopTimer()
			benchCheckBundle(b, dst, prefix, images, tool.name, tool.migrate)
			dst.Stop()
			// The next round writes new files: keep the disk for them.
			if err := os.RemoveAll(file); err != nil {
				b.Fatal(err)
			}
			tool.runs = append(tool.runs, bundleRun{export: export.wall.Seconds(), imported: imported.wall.Seconds(), size: size})
			b.StartTimer()
		}
	}
	b.StopTimer()

	craneTool := tools[1]
	craneS := craneTool.median(bundleRun.roundTrip)
	craneMB := craneTool.median(func(r bundleRun) float64 { return float64(r.size) / 1e6 })
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\texport\timport\tround trip\t÷ crane\tbundle size\t÷ crane's\t÷ unique bytes\trounds (export+import)\t")
	for _, tool := range tools {
		total := tool.median(bundleRun.roundTrip)
		sizeMB := tool.median(func(r bundleRun) float64 { return float64(r.size) / 1e6 })
		var each []string
		for _, r := range tool.runs {
			each = append(each, fmt.Sprintf("%.2f+%.2fs", r.export, r.imported))
		}
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2fs\t%.2f\t%.1f MB\t%.2f\t%.2f\t%s\t\n", tool.name,
			tool.median(func(r bundleRun) float64 { return r.export }), tool.median(func(r bundleRun) float64 { return r.imported }),
			total, total/craneS, sizeMB, sizeMB/craneMB, sizeMB*1e6/float64(unique), strings.Join(each, " "))
		b.ReportMetric(total, tool.metric+"-s")
		b.ReportMetric(sizeMB, tool.metric+"-MB")
	}
	tw.Flush()
	zst := tools[0]
	b.ReportMetric(zst.median(bundleRun.roundTrip)/craneS, "zst/crane")
	b.ReportMetric(zst.median(func(r bundleRun) float64 { return float64(r.size) / 1e6 })/craneMB, "zst-size/crane")

	// go test keeps only the first 10 lines a benchmark logs.
	b.Logf("%d images × 2 platforms sharing a base layer: %.1f MB in %d distinct blobs, seeded in %s; registry → bundle → registry on loopback, medians of %d rounds, "+
		"each into a fresh registry; docker migrate (default flags), %s (--jobs = GOMAXPROCS = %s); load average at the end %s:\n%s"+
		"targets: .tar.zst round trip ÷ crane %.2f (≤ 1), .tar.zst size ÷ crane's layouts %.2f (< 1)",
		len(images), float64(unique)/1e6, blobCount, seedTime.Round(time.Millisecond), rounds,
		benchVersion(crane), benchGOMAXPROCS(), loadAverage(), table.String(),
		zst.median(bundleRun.roundTrip)/craneS, zst.median(func(r bundleRun) float64 { return float64(r.size) / 1e6 })/craneMB)
}

// bundleTool is one row of BenchmarkBundleArchive.
type bundleTool struct {
	name, metric string
	// migrate says the digests must be the source's.
	migrate bool
	// export writes the bundle into dir and returns its path (a file, or a
	// directory of layouts).
	export func(dir string) (string, benchRun)
	// importTo pushes the bundle at path to the registry at host dst, each
	// image under bundle/REPO:TAG.
	importTo func(path, dst string) benchRun
	runs     []bundleRun
}

// bundleRun is one round of a tool, in seconds and bytes on disk.
type bundleRun struct {
	export, imported float64
	size             int64
}

func (r bundleRun) roundTrip() float64 { return r.export + r.imported }

func (t *bundleTool) median(f func(bundleRun) float64) float64 {
	xs := make([]float64, len(t.runs))
	for i, r := range t.runs {
		xs[i] = f(r)
	}
	return benchMedian(xs)
}

// benchCheckBundle fails the benchmark unless every image of a bundle
// imported by tool arrived under prefix in dst: with the source's digest and
// whole when kept says the tool keeps digests, else at least tagged.
func benchCheckBundle(b *testing.B, dst *Registry, prefix string, images []batchImage, tool string, kept bool) {
	b.Helper()
	for _, im := range images {
		ref := dst.Ref(prefix + "/" + im.ref)
		if kept {
			benchCheckCopy(b, dst, ref, im.digest)
			assertComplete(b, dst, ref)
		} else if _, ok := headDigest(b, dst, ref); !ok {
			b.Fatalf("%s: %s was not pushed", tool, ref)
		}
	}
}
