package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// The registry of BenchmarkRecursiveVsRegsync: 3 namespaces of 10
// repositories, 2 tags each (60 two-platform images), every platform's image
// built on one shared base layer.
const (
	benchRegistryNamespaces = 3
	benchRegistryRepos      = 10
	benchRegistryTags       = 2
	benchRegistryLayerSize  = 60_000_000 / (1 + benchRegistryNamespaces*benchRegistryRepos*benchRegistryTags*2)
)

// BenchmarkRecursiveVsRegsync compares `docker migrate -r SRC DST` (through
// the real docker CLI, default flags) with `regsync once` and a sync entry of
// `type: registry` (regclient, pinned by scripts/install-tools.sh), on the
// same registry of 60 multi-arch images, registry root to registry root on
// loopback. Each of BENCH_ROUNDS rounds (default 3) runs both, in an order
// reversed every other round, each into a fresh registry behind a counting
// proxy. It reports the median wall times, bytes uploaded ÷ unique bytes,
// the mounts the destination made, and each tool's peak RSS.
//
//	make bench BENCH=RecursiveVsRegsync
func BenchmarkRecursiveVsRegsync(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	regsync := benchRegsync(b, filepath.Dir(benchCrane(b)))
	src := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	seedStart := time.Now()
	var images []batchImage
	for ns := range benchRegistryNamespaces {
		for repo := range benchRegistryRepos {
			for tag := range benchRegistryTags {
				ref := fmt.Sprintf("ns%d/app%02d:v%d", ns, repo, tag)
				opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: benchRegistryLayerSize, Seed: int64(1000*ns + 10*repo + tag), Base: "bench-registry-base"}
				images = append(images, batchImage{ref: ref, digest: pushFixture(b, src, src.Ref(ref), opts, false)})
			}
		}
	}
	seedTime := time.Since(seedStart)
	blobs := map[v1.Hash]int64{}
	for _, im := range images {
		maps.Copy(blobs, assertComplete(b, src, src.Ref(im.ref)))
	}
	unique := totalSize(blobs)
	dir := b.TempDir()

	tools := []*batchTool{
		{
			name: "docker migrate -r", metric: "migrate", process: "docker-migrate",
			target: func(repoTag string) string { return repoTag },
			run: func(dst string, _ int) benchRun {
				return benchExec(b, cli.Env(), dockerBinary, "migrate", "-r", src.Host, dst)
			},
		},
		{
			name: "regsync once (type: registry)", metric: "regsync", process: "regsync",
			target: func(repoTag string) string { return repoTag },
			run: func(dst string, round int) benchRun {
				config := filepath.Join(dir, fmt.Sprintf("regsync-r%d.yaml", round))
				benchWriteFile(b, config, fmt.Sprintf("version: 1\ncreds:\n  - registry: %[1]s\n    tls: disabled\n  - registry: %[2]s\n    tls: disabled\nsync:\n  - source: %[1]s\n    target: %[2]s\n    type: registry\n", src.Host, dst))
				return benchExec(b, cli.Env(), regsync, "once", "-c", config)
			},
		},
	}

	// A fresh cache each run: the record of where blobs were seen would
	// otherwise find the previous round's repositories.
	table, migrateS := benchBatchRounds(b, tools, rounds, images, unique, func() { cli.env = append(cli.env, "XDG_CACHE_HOME="+b.TempDir()) })
	b.ReportMetric(migrateS, "migrate-s")
	b.Logf("%d images (%d namespaces × %d repositories × %d tags) × 2 platforms sharing a base layer: %.1f MB in %d distinct blobs, seeded in %s;\n"+
		"docker migrate -r (default flags), %s, each into a fresh registry behind a counting proxy:\n%s",
		len(images), benchRegistryNamespaces, benchRegistryRepos, benchRegistryTags, float64(unique)/1e6, len(blobs), seedTime.Round(time.Millisecond),
		benchToolVersion(regsync, "version", "--format", "{{.VCSTag}}"), table)
}

// BenchmarkRecursiveMemory is the curve of the plugin's peak RSS against the
// size of a -r run: registries of 100 and 1,000 small single-platform images
// (BENCH_MEMORY_SIZES, comma-separated, e.g. 100,1000,10000), 10 tags a
// repository, copied with `docker migrate -r` into a fresh registry. It
// reports the peak RSS and its growth per image between sizes.
//
//	make bench BENCH=RecursiveMemory
func BenchmarkRecursiveMemory(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	sizes := []int{100, 1000}
	if s := os.Getenv("BENCH_MEMORY_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("BENCH_MEMORY_SIZES %q: give image counts, e.g. 100,1000,10000", s)
			}
			sizes = append(sizes, n)
		}
	}
	cli := NewCLI(b)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "images\twall\tpeak RSS\tKiB per image since the previous size\t")
	prevN, prevKiB := 0, int64(0)
	for _, n := range sizes {
		b.StopTimer()
		src := startRegistry(b, registryOptions{})
		seedSmallRegistry(b, src, n)
		dst := startRegistry(b, registryOptions{})
		cli.env = append(cli.env, "XDG_CACHE_HOME="+b.TempDir())
		b.StartTimer()
		r := benchExec(b, cli.Env(), dockerBinary, "migrate", "-r", src.Host, dst.Host, "--progress", "quiet")
		b.StopTimer()
		if got := strings.Count(r.stdout, "\n"); got != n {
			b.Fatalf("-r of %d images printed %d results", n, got)
		}
		kib := r.peakKiB["docker-migrate"]
		per := "-"
		if prevN > 0 {
			per = fmt.Sprintf("%.1f", float64(kib-prevKiB)/float64(n-prevN))
		}
		fmt.Fprintf(tw, "%d\t%.1fs\t%.1f MB\t%s\t\n", n, r.wall.Seconds(), float64(kib)/1024, per)
		b.ReportMetric(float64(kib)/1024, fmt.Sprintf("MB-at-%d", n))
		prevN, prevKiB = n, kib
	}
	tw.Flush()
	b.Logf("docker migrate -r of registries of small single-platform images (10 tags a repository), peak RSS of the plugin:\n%s", table.String())
}

// seedSmallRegistry pushes n small single-platform images, 10 tags a
// repository, 8 pushes at once.
func seedSmallRegistry(b *testing.B, r *Registry, n int) {
	b.Helper()
	// Not checkContext: 10,000 pushes take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			ref, err := name.ParseReference(r.Ref(fmt.Sprintf("ns%d/app%04d:t%d", i/1000, i/10, i%10)))
			if err != nil {
				return err
			}
			opts := fixture.Options{LayerSize: 64, LayersPerImage: 1, Seed: int64(i)}
			_, err = fixture.PushImage(gctx, ref, opts, r.remoteOptions(gctx)...)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("seed %d images: %v", n, err)
	}
}
