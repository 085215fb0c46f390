package e2e

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
