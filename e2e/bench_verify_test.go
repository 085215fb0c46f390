package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"
)

// BenchmarkVerifyKey measures what --verify-key costs: docker migrate with and
// without it, and what a careful user scripts today (`cosign verify --key`,
// then `crane copy`), on the ~200 MB 8-platform fixture signed by cosign, each
// cold (into a fresh repository) and as a no-op (into one that has it).
// Verifying reads the signature tag, the referrers (API or fallback tag), and
// a manifest and a blob per signature: a few round trips, whatever the size.
//
//	make bench BENCH=VerifyKey
func BenchmarkVerifyKey(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	crane := benchCrane(b)
	c := newCosignDir(b)
	pub := c.keyPair(b, "publisher")
	src := startRegistry(b, registryOptions{})
	dst := startRegistry(b, registryOptions{})
	cli := NewCLI(b)

	srcRef := src.Ref("bench/fixture:v1")
	digest := pushFixture(b, src, srcRef, benchFixture(), false)
	c.sign(b, pub, src.Ref("bench/fixture@"+digest.String()))
	cosignEnv := append(os.Environ(), "HOME="+string(c), "DOCKER_CONFIG="+filepath.Join(string(c), "docker"), "TUF_ROOT="+filepath.Join(string(c), "tuf"))

	type tool struct {
		name, repo string
		run        func(dstRef string) time.Duration
	}
	migrate := func(extra ...string) func(string) time.Duration {
		return func(dstRef string) time.Duration {
			args := append([]string{"migrate", "--progress", "quiet"}, extra...)
			return benchExec(b, cli.Env(), dockerBinary, append(args, srcRef, dstRef)...).wall
		}
	}
	tools := []tool{
		{"docker migrate", "plain", migrate()},
		{"docker migrate --verify-key", "verified", migrate("--verify-key", pub)},
		{"cosign verify && crane copy", "crane", func(dstRef string) time.Duration {
			v := benchExec(b, cosignEnv, "cosign", "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", srcRef)
			cp := benchExec(b, cli.Env(), crane, "copy", srcRef, dstRef)
			return v.wall + cp.wall
		}},
		{"cosign verify alone", "", func(string) time.Duration {
			return benchExec(b, cosignEnv, "cosign", "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", srcRef).wall
		}},
	}
	cold := map[string][]float64{}
	noop := map[string][]float64{}
	b.ResetTimer()
	for round := range rounds {
		for _, t := range benchOrder(tools, round) {
			dstRef := dst.Ref(fmt.Sprintf("%s/r%d:v1", t.repo, round))
			cold[t.name] = append(cold[t.name], t.run(dstRef).Seconds())
			noop[t.name] = append(noop[t.name], t.run(dstRef).Seconds())
			if t.repo != "" {
				benchCheckCopy(b, dst, dstRef, digest)
			}
		}
	}
	b.StopTimer()

	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "median of rounds\tcold copy\tno-op\t")
	for _, t := range tools {
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t\n", t.name, benchMedian(cold[t.name]), benchMedian(noop[t.name]))
	}
	tw.Flush()
	b.ReportMetric(benchMedian(cold["docker migrate --verify-key"])-benchMedian(cold["docker migrate"]), "verify-cold-s")
	b.ReportMetric(benchMedian(noop["docker migrate --verify-key"])-benchMedian(noop["docker migrate"]), "verify-noop-s")
	b.ReportMetric(benchMedian(cold["cosign verify && crane copy"]), "cosign+crane-cold-s")
	b.Logf("%d rounds, ~200 MB 8-platform index with attestations signed by cosign (%s), registry to registry on loopback:\n%s",
		rounds, digest, table.String())
}
