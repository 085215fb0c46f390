// Package e2e holds the end-to-end tests of docker-migrate: they install the
// built plugin into a temporary DOCKER_CONFIG/cli-plugins, run the real docker
// CLI, and copy images between real distribution registries.
//
// Run them with `go test ./e2e/` from the repository root. The registry binary
// is looked up on PATH, then in the scripts/install-tools.sh cache, and
// installed there if missing.
//
// Each *_test.go file reads as the behaviour it checks; what more than one of
// them uses lives in the package's other files (as buildx's tests/ does):
//
//   - framework.go: the CLI with the plugin installed, Result, Started, tools;
//   - registry.go, engine.go, engine29.go, containerd.go, buildkit.go,
//     sshhost.go, testhost.go: the real servers a test starts, and stops when
//     it ends;
//   - proxy.go, quirkproxy.go: proxies in front of a real registry that
//     misbehave on purpose, and a raw blob client to talk to them;
//   - fixtures.go: images, lists, archives and signatures tests start from;
//   - inspect.go, pullcheck.go: what a run left at its destination, read
//     without the plugin;
//   - output.go, report.go, terminal.go: what a run printed, on stdout and
//     stderr, as --format json, and on a terminal;
//   - bench.go: what the benchmarks share.
//
// The suite needs Linux (network namespaces, dockerd) and root; its files
// build everywhere but on Windows, which has no process groups to stop.
package e2e
