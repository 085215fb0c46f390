package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// BenchmarkDaemon loads a ~120 MB single-platform image (4 layers of random
// bytes, so compression gains nothing) from a loopback registry into engines:
//
//   - far: into an engine reached only through an ssh docker context, with
//     docker migrate SRC docker-daemon@edge: against the seeds' recipe,
//     docker pull SRC then docker save SRC | docker --context edge load
//     (the two steps timed together);
//   - local: into the run's own engine, with docker migrate SRC
//     docker-daemon: against skopeo copy docker://SRC docker-daemon:NAME
//     (Debian's skopeo) and docker pull;
//   - out: from the run's engine into a loopback registry, with docker
//     migrate docker-daemon:SRC DST against docker push and skopeo copy
//     docker-daemon:SRC docker://DST.
//
// Both engines are Debian's dockerd 20.10 (the classic image store); before
// every run the image is removed from both, so every run loads every layer.
// Each of BENCH_ROUNDS rounds (default 3) runs every tool once, in an order
// reversed every other round; the medians are reported.
//
//	go test -run '^$' -bench BenchmarkDaemon -benchtime 1x ./e2e/
func BenchmarkDaemon(b *testing.B) {
	if pluginBuildErr != nil {
		b.Fatalf("plugin not built: %v", pluginBuildErr)
	}
	rounds := benchRounds(b)
	skopeo := benchSkopeo(b)
	reg := startRegistry(b, registryOptions{})
	ref := reg.Ref("bench/daemon:v1")
	pushFixture(b, reg, ref, fixture.Options{
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}}, LayersPerImage: 4, LayerSize: 30_000_000, Seed: 2105,
	}, true)
	host := startSSHHost(b)
	farSock := startEngineBinary(b, "dockerd")
	localHost := startEngine(b)
	cli := NewCLI(b).WithEngine(localHost)
	cli.UseSSH(host)
	cli.RunDocker(b, "context", "create", "edge", "--docker", fmt.Sprintf("host=ssh://root@127.0.0.1:%d%s", host.Port, farSock)).AssertSuccess(b)
	env := cli.Env()

	clean := func() {
		for _, ctx := range []string{"default", "edge"} {
			_ = cli.RunDocker(b, "--context", ctx, "image", "rm", "-f", ref, "bench-daemon:v1")
		}
	}
	type tool struct {
		name, group string
		run         func() float64
		times       []float64
	}
	tools := []*tool{
		{name: "docker migrate SRC docker-daemon@edge:", group: "far", run: func() float64 {
			return benchExec(b, env, dockerBinary, "migrate", "--progress", "quiet", ref, "docker-daemon@edge:").wall.Seconds()
		}},
		{name: "docker pull + docker save | docker --context edge load", group: "far", run: func() float64 {
			pull := benchExec(b, env, dockerBinary, "pull", "-q", ref)
			load := benchExec(b, env, "/bin/sh", "-c", fmt.Sprintf("%s save %s | %s --context edge load -q", dockerBinary, ref, dockerBinary))
			return pull.wall.Seconds() + load.wall.Seconds()
		}},
		{name: "docker migrate SRC docker-daemon:", group: "local", run: func() float64 {
			return benchExec(b, env, dockerBinary, "migrate", "--progress", "quiet", ref, "docker-daemon:").wall.Seconds()
		}},
		{name: "skopeo copy docker://SRC docker-daemon:NAME", group: "local", run: func() float64 {
			return benchExec(b, env, skopeo, "copy", "-q", "--src-tls-verify=false", "--dest-daemon-host", localHost,
				"docker://"+ref, "docker-daemon:bench-daemon:v1").wall.Seconds()
		}},
		{name: "docker pull", group: "local", run: func() float64 {
			return benchExec(b, env, dockerBinary, "pull", "-q", ref).wall.Seconds()
		}},
	}
	for round := range rounds {
		for _, t := range benchOrder(tools, round) {
			clean()
			t.times = append(t.times, t.run())
		}
	}
	clean()

	// Out of the local engine into a registry, a fresh one each round.
	cli.RunDocker(b, "pull", "-q", ref).AssertSuccess(b)
	var out *Registry
	outTools := []*tool{
		{name: "docker migrate docker-daemon:SRC DST", group: "out", run: func() float64 {
			return benchExec(b, env, dockerBinary, "migrate", "--progress", "quiet", "docker-daemon:"+ref, out.Ref("out/migrate:v1")).wall.Seconds()
		}},
		{name: "docker tag + docker push", group: "out", run: func() float64 {
			cli.RunDocker(b, "tag", ref, out.Ref("out/push:v1")).AssertSuccess(b)
			return benchExec(b, env, dockerBinary, "push", "-q", out.Ref("out/push:v1")).wall.Seconds()
		}},
		{name: "skopeo copy docker-daemon:SRC docker://DST", group: "out", run: func() float64 {
			return benchExec(b, env, skopeo, "copy", "-q", "--dest-tls-verify=false", "--src-daemon-host", localHost,
				"docker-daemon:"+ref, "docker://"+out.Ref("out/skopeo:v1")).wall.Seconds()
		}},
	}
	for round := range rounds {
		out = startRegistry(b, registryOptions{})
		for _, t := range benchOrder(outTools, round) {
			t.times = append(t.times, t.run())
		}
	}
	tools = append(tools, outTools...)
	_ = cli.RunDocker(b, "image", "rm", "-f", ref)
	base := map[string]float64{"far": benchMedian(tools[1].times), "local": benchMedian(tools[3].times), "out": benchMedian(tools[6].times)}
	w := tabwriter.NewWriter(os.Stderr, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nBenchmarkDaemon: a 120 MB image (4 layers) from a loopback registry, %d rounds, GOMAXPROCS=%s\n", rounds, benchGOMAXPROCS())
	fmt.Fprintln(w, "engine\ttool\tmedian\tratio\truns")
	for _, t := range tools {
		var runs []string
		for _, s := range t.times {
			runs = append(runs, fmt.Sprintf("%.2f", s))
		}
		m := benchMedian(t.times)
		fmt.Fprintf(w, "%s\t%s\t%.2f s\t%.2f×\t%s\n", t.group, t.name, m, m/base[t.group], strings.Join(runs, " "))
	}
	w.Flush()
	b.ReportMetric(benchMedian(tools[0].times)/base["far"], "far-ratio")
	b.ReportMetric(benchMedian(tools[2].times)/base["local"], "local-ratio")
}
