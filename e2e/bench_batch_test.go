package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

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

// BenchmarkBatch compares `docker migrate -f LIST PREFIX` (through the real
// docker CLI, default flags) with the batch tools its users come from, on the
// same batch of ten multi-arch images whose platforms share a base layer,
// between real registries on loopback:
//
//   - skopeo sync --src yaml --dest docker --all (Debian's skopeo);
//   - regsync once (regclient, pinned by scripts/install-tools.sh), defaults
//     as shipped (one sync entry at a time);
//   - a shell loop of `crane copy SRC DST` (crane pinned), default flags.
//
// Each of BENCH_ROUNDS rounds (default 3) runs every tool once, in an order
// reversed every other round, each into a registry of its own started for
// that run, so that nothing is found there already; the tools reach it
// through a counting quirk proxy, which gives the blob bytes uploaded. It
// reports the median wall times, their ratio to docker migrate, bytes
// uploaded ÷ unique bytes (the sum of the batch's distinct blob sizes: 1.00
// means every blob crossed once), the mounts the registry made, and the
// median peak RSS of each tool's process (the docker-migrate plugin, not the
// docker CLI; the largest crane of the loop).
//
// skopeo sync, without --scoped, keeps only the last element of a
// repository's path (team/app00 → PREFIX/app00); the other tools keep it.
//
// It never fails because of slowness, only when a tool fails or a copy is wrong.
//
//	go test -run '^$' -bench BenchmarkBatch -benchtime 1x ./e2e/
func BenchmarkBatch(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	crane := benchCrane(b)
	regsync := benchRegsync(b, filepath.Dir(crane))
	skopeo := benchSkopeo(b)
	src := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	seedStart := time.Now()
	images, srcRefs, unique, blobCount := seedBenchBatch(b, src)
	seedTime := time.Since(seedStart)

	dir := b.TempDir()
	list := writeList(b, "images.txt", srcRefs...)
	skopeoYAML := filepath.Join(dir, "skopeo-sync.yaml")
	benchWriteFile(b, skopeoYAML, benchSkopeoSyncFile(src.Host, images))

	const prefix = "mirror"
	tools := []*batchTool{
		{
			name: "docker migrate", metric: "migrate", process: "docker-migrate",
			target: func(repoTag string) string { return prefix + "/" + repoTag },
			run: func(dst string, _ int) benchRun {
				return benchExec(b, cli.Env(), dockerBinary, "migrate", "-f", list, dst+"/"+prefix)
			},
		},
		{
			name: "skopeo sync", metric: "skopeo", process: "skopeo",
			target: func(repoTag string) string { return prefix + "/" + path.Base(repoTag) },
			run: func(dst string, _ int) benchRun {
				return benchExec(b, cli.Env(), skopeo, "sync", "--src", "yaml", "--dest", "docker", "--all",
					"--dest-tls-verify=false", skopeoYAML, dst+"/"+prefix)
			},
		},
		{
			name: "regsync once", metric: "regsync", process: "regsync",
			target: func(repoTag string) string { return prefix + "/" + repoTag },
			run: func(dst string, round int) benchRun {
				config := filepath.Join(dir, fmt.Sprintf("regsync-r%d.yaml", round))
				benchWriteFile(b, config, benchRegsyncConfig(src.Host, dst, prefix, images))
				return benchExec(b, cli.Env(), regsync, "once", "-c", config)
			},
		},
		{
			name: "crane copy loop", metric: "crane", process: "crane",
			target: func(repoTag string) string { return prefix + "/" + repoTag },
			run: func(dst string, _ int) benchRun {
				// for each image: crane copy SRC DST, stopping at the first failure.
				args := []string{"-ec", `crane=$1; shift; while [ $# -gt 0 ]; do "$crane" copy "$1" "$2"; shift 2; done`, "sh", crane}
				for _, im := range images {
					args = append(args, src.Ref(im.ref), dst+"/"+prefix+"/"+im.ref)
				}
				return benchExec(b, cli.Env(), "/bin/sh", args...)
			},
		},
	}

	table, migrateS := benchBatchRounds(b, tools, rounds, images, unique, nil)
	b.ReportMetric(migrateS, "migrate-s")

	// go test keeps only the first 10 lines a benchmark logs.
	b.Logf("%d images × 2 platforms sharing a base layer: %.1f MB in %d distinct blobs, registry to registry on loopback, seeded in %s;\n"+
		"docker migrate (default flags: --jobs 16), %s, %s, %s (--jobs = GOMAXPROCS = %s), each into a fresh registry behind a counting proxy:\n%s",
		len(images), float64(unique)/1e6, blobCount, seedTime.Round(time.Millisecond),
		benchToolVersion(skopeo, "--version"), benchToolVersion(regsync, "version", "--format", "{{.VCSTag}}"),
		benchVersion(crane), benchGOMAXPROCS(), table)
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

// benchSkopeoSyncFile is skopeo's YAML sync source for the images of host.
func benchSkopeoSyncFile(host string, images []batchImage) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s:\n  tls-verify: false\n  images:\n", host)
	for _, im := range images {
		repo, tag, _ := strings.Cut(im.ref, ":")
		fmt.Fprintf(&s, "    %s: [%q]\n", repo, tag)
	}
	return s.String()
}

// benchRegsyncConfig is a regsync configuration that copies each image of
// srcHost to dstHost/prefix/REPO:TAG, both registries over plain HTTP.
func benchRegsyncConfig(srcHost, dstHost, prefix string, images []batchImage) string {
	var s strings.Builder
	fmt.Fprintf(&s, "version: 1\ncreds:\n  - registry: %s\n    tls: disabled\n  - registry: %s\n    tls: disabled\nsync:\n", srcHost, dstHost)
	for _, im := range images {
		fmt.Fprintf(&s, "  - source: %s/%s\n    target: %s/%s/%s\n    type: image\n", srcHost, im.ref, dstHost, prefix, im.ref)
	}
	return s.String()
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
