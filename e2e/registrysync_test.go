package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// syncNamespaces are the namespaces of the registry-sync fixture, each with
// syncReposPer repositories holding syncTags.
var (
	syncNamespaces = []string{"alpha", "beta", "gamma"}
	syncTags       = []string{"1.0.0", "1.1.0", "2.0.0"}
)

const syncReposPer = 6

// seedRegistry pushes the fixture: 3 namespaces of 6 repositories, 3 tags
// each (54 small single-platform images sharing a base layer), plus one
// repository outside any namespace. It returns every repository path.
func seedRegistry(t testing.TB, r *Registry) []string {
	t.Helper()
	var repos []string
	for i, ns := range syncNamespaces {
		for j := range syncReposPer {
			repos = append(repos, fmt.Sprintf("%s/app%d", ns, j))
			for k, tag := range syncTags {
				opts := fixture.Options{LayerSize: 512, Seed: int64(1000*i + 10*j + k), Base: "sync-base"}
				pushFixture(t, r, r.Ref(fmt.Sprintf("%s/app%d:%s", ns, j, tag)), opts, true)
			}
		}
	}
	pushFixture(t, r, r.Ref("top:1.0.0"), fixture.Options{LayerSize: 512, Seed: 9999, Base: "sync-base"}, true)
	return append(repos, "top")
}

// TestRecursiveRegistry copies a whole registry with -r through a proxy that
// pages its catalog 4 names and its tag lists 2 tags at a time, then one
// namespace of it into another prefix: each repository keeps its path, every
// tag arrives, and a second run finds everything up to date.
func TestRecursiveRegistry(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	repos := seedRegistry(t, src)
	paged := startQuirkProxy(t, src, quirk.Options{CatalogPageSize: 4, TagPageSize: 2})
	cli := NewCLI(t)

	res := cli.RunDocker(t, "migrate", "-r", paged.Host, dst.Host+"/all", "--progress", "plain").AssertSuccess(t)
	if got, want := strings.Count(res.Stdout, "\n"), len(syncNamespaces)*syncReposPer*len(syncTags)+1; got != want {
		t.Errorf("stdout has %d lines, want one per image (%d):\n%s", got, want, res.Stdout)
	}
	for _, repo := range repos {
		want := syncTags
		if repo == "top" {
			want = []string{"1.0.0"}
		}
		if got := tagsOf(t, dst, "all/"+repo); !slices.Equal(got, want) {
			t.Errorf("all/%s has tags %v, want %v", repo, got, want)
		}
	}
	pages := 0
	for _, line := range paged.Journal() {
		if strings.Contains(line, "GET /v2/_catalog") {
			pages++
		}
	}
	if want := (len(repos) + 3) / 4; pages < want {
		t.Errorf("the catalog was read in %d pages, want at least %d (4 names a page):\n%s", pages, want, strings.Join(paged.Journal(), "\n"))
	}

	// Again: every image up to date.
	res = cli.RunDocker(t, "migrate", "-r", paged.Host, dst.Host+"/all", "--progress", "plain").AssertSuccess(t)
	if !strings.Contains(res.Stderr, fmt.Sprintf("up to date             %d", len(syncNamespaces)*syncReposPer*len(syncTags)+1)) {
		t.Errorf("a second run should find every image up to date:\n%s", res.Stderr)
	}

	// One namespace, with a tag selection, as JSON.
	res = cli.RunDocker(t, "migrate", "-r", paged.Host+"/beta", dst.Host+"/ns", "--semver", ">=1.1", "--format", "json", "--progress", "quiet").AssertSuccess(t)
	if got := strings.Count(res.Stdout, "\n"); got != syncReposPer*2 {
		t.Errorf("-r of one namespace printed %d results, want %d:\n%s", got, syncReposPer*2, res.Stdout)
	}
	for _, repo := range catalogOf(t, dst) {
		if strings.HasPrefix(repo, "ns/") && !strings.HasPrefix(repo, "ns/beta/") {
			t.Errorf("-r of beta wrote %s", repo)
		}
	}
	if got := tagsOf(t, dst, "ns/beta/app3"); !slices.Equal(got, []string{"1.1.0", "2.0.0"}) {
		t.Errorf("ns/beta/app3 has tags %v, want 1.1.0 and 2.0.0", got)
	}
}

// TestAllTags copies every tag of one repository with -a, then only the
// newest by version with --latest.
func TestAllTags(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	tags := []string{"1.2.0", "1.10.0", "1.9.1", "v2.0.0", "2.0.0-rc1"}
	for i, tag := range tags {
		pushFixture(t, src, src.Ref("lib/tool:"+tag), fixture.Options{LayerSize: 512, Seed: int64(i)}, true)
	}
	paged := startQuirkProxy(t, src, quirk.Options{TagPageSize: 2})
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", "-a", paged.Ref("lib/tool"), dst.Host+"/every", "--progress", "quiet").AssertSuccess(t)
	want := slices.Clone(tags)
	slices.Sort(want)
	if got := tagsOf(t, dst, "every/lib/tool"); !slices.Equal(got, want) {
		t.Errorf("-a copied %v, want %v", got, want)
	}
	cli.RunDocker(t, "migrate", "-a", paged.Ref("lib/tool"), dst.Host+"/newest", "--latest", "2", "--exclude-tag", "-rc", "--progress", "quiet").AssertSuccess(t)
	if got := tagsOf(t, dst, "newest/lib/tool"); !slices.Equal(got, []string{"1.10.0", "v2.0.0"}) {
		t.Errorf("--latest 2 copied %v, want 1.10.0 and v2.0.0 (version order, not the listing's)", got)
	}
}

// TestRegistrySyncFile copies a type: registry entry with repos allow and
// deny and tags.latest.
func TestRegistrySyncFile(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	seedRegistry(t, src)
	paged := startQuirkProxy(t, src, quirk.Options{CatalogPageSize: 5})
	sync := writeList(t, "sync.yaml", fmt.Sprintf(`version: 1
sync:
  - source: %s
    target: %s/mirror
    type: registry
    repos:
      allow: ["alpha/.*", "gamma/app[0-2]"]
      deny: ["alpha/app[45]"]
    tags:
      latest: 1
`, paged.Host, dst.Host))
	NewCLI(t).RunDocker(t, "migrate", "-f", sync, dst.Host+"/unused", "--progress", "quiet").AssertSuccess(t)
	var got []string
	for _, repo := range catalogOf(t, dst) {
		got = append(got, repo+":"+strings.Join(tagsOf(t, dst, repo), ","))
	}
	want := []string{
		"mirror/alpha/app0:2.0.0", "mirror/alpha/app1:2.0.0", "mirror/alpha/app2:2.0.0", "mirror/alpha/app3:2.0.0",
		"mirror/gamma/app0:2.0.0", "mirror/gamma/app1:2.0.0", "mirror/gamma/app2:2.0.0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the destination holds\n%v\nwant\n%v", got, want)
	}
}

// untagAtSource removes a tag from a distribution registry's storage, as a
// registry's tag deletion would (distribution deletes by digest only, with
// every tag on it).
func untagAtSource(t testing.TB, r *Registry, repo, tag string) {
	t.Helper()
	dir := filepath.Join(filepath.Dir(r.logFile), "storage", "docker", "registry", "v2", "repositories", repo, "_manifests", "tags", tag)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("tag %s:%s is not in the registry's storage: %v", repo, tag, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

// TestPrune deletes at the mirror the tags gone at the source: a dry run
// lists what would go and deletes nothing; the run deletes the tag whose
// manifest no kept tag shares, and leaves (and names) the one that shares
// the manifest of a kept tag.
func TestPrune(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	a := fixture.Options{LayerSize: 512, Seed: 1}
	b := fixture.Options{LayerSize: 512, Seed: 2}
	pushFixture(t, src, src.Ref("team/app:1.0"), a, true)
	pushFixture(t, src, src.Ref("team/app:1.1"), b, true)
	pushFixture(t, src, src.Ref("team/app:edge"), b, true)
	pushFixture(t, src, src.Ref("team/other:1.0"), a, true)
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", "-r", src.Host+"/team", dst.Host, "--progress", "quiet").AssertSuccess(t)
	// A tag at the mirror that the selection never takes stays whatever happens.
	pushFixture(t, dst, dst.Ref("team/app:local-only"), fixture.Options{LayerSize: 512, Seed: 3}, true)

	untagAtSource(t, src, "team/app", "1.0")
	untagAtSource(t, src, "team/app", "edge")

	args := []string{"migrate", "-r", src.Host + "/team", dst.Host, "--exclude-tag", "^local", "--prune", "--progress", "plain"}
	res := cli.RunDocker(t, append(args, "--dry-run", "--format", "json")...).AssertSuccess(t)
	var pruned []string
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		var p struct{ Action, Destination string }
		if json.Unmarshal([]byte(line), &p) == nil && p.Action != "" {
			pruned = append(pruned, p.Action+" "+p.Destination)
		}
	}
	if want := []string{"would-prune " + dst.Host + "/team/app:1.0"}; !slices.Equal(pruned, want) {
		t.Errorf("the dry run lists %v, want %v\n%s", pruned, want, res)
	}
	if got := tagsOf(t, dst, "team/app"); !slices.Equal(got, []string{"1.0", "1.1", "edge", "local-only"}) {
		t.Fatalf("the dry run changed the mirror: %v", got)
	}

	res = cli.RunDocker(t, args...).AssertSuccess(t)
	if got := tagsOf(t, dst, "team/app"); !slices.Equal(got, []string{"1.1", "edge", "local-only"}) {
		t.Errorf("after --prune the mirror has %v, want 1.1, edge (shares 1.1's manifest) and local-only (never selected)", got)
	}
	for _, want := range []string{"deleted 1 tag", "team/app:edge stays: " + dst.Host + "/team/app:1.1 points at the same manifest"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, res.Stderr)
		}
	}
	if got := tagsOf(t, dst, "team/other"); !slices.Equal(got, []string{"1.0"}) {
		t.Errorf("team/other (which shares 1.0's manifest in another repository) has %v", got)
	}
}

// TestRefusedCatalog: a registry that refuses its catalog (as Harbor does to
// anyone but an administrator) is one sentence that says what to do instead,
// exit 1, and nothing written.
func TestRefusedCatalog(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	pushFixture(t, src, src.Ref("team/app:1.0"), fixture.Options{LayerSize: 512}, true)
	for _, status := range []int{401, 404} {
		refusing := startQuirkProxy(t, src, quirk.Options{CatalogRefused: status})
		res := NewCLI(t).RunDocker(t, "migrate", "-r", refusing.Host, dst.Host).AssertExit(t, 1)
		want := fmt.Sprintf("%s does not list its repositories (GET /v2/_catalog answered %d", refusing.Host, status)
		if !strings.Contains(res.Stderr, want) || !strings.Contains(res.Stderr, "or copy each with -a REPOSITORY") {
			t.Errorf("stderr does not say %q and what to do:\n%s", want, res.Stderr)
		}
		if repos := catalogOf(t, dst); len(repos) != 0 {
			t.Errorf("a refused catalog wrote %v", repos)
		}
	}
}

// TestRegistrySyncBadInput: each is refused before anything is read, in one
// sentence, with exit 125.
func TestRegistrySyncBadInput(t *testing.T) {
	dst := startRegistry(t, registryOptions{})
	badRepos := writeList(t, "repos.yaml", "sync:\n  - source: old.lan:5000\n    type: registry\n    repos:\n      allow: [\"(team\"]\n")
	taggedRegistry := writeList(t, "tagged.yaml", "sync:\n  - source: old.lan:5000/team/app:1.0\n    type: registry\n")
	latestZero := writeList(t, "latest.yaml", "sync:\n  - source: old.lan:5000/app\n    type: repository\n    tags: {latest: 0}\n")
	images := writeList(t, "images.txt", "old.lan:5000/app:1.0")
	cli := NewCLI(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"-a with a tag", []string{"-a", "old.lan:5000/app:1.0", dst.Host}, "has a tag, but -a copies every tag"},
		{"-a with a digest", []string{"-a", "old.lan:5000/app@sha256:" + strings.Repeat("a", 64), dst.Host}, "is pinned by digest, but -a copies every tag"},
		{"-r with a tag", []string{"-r", "old.lan:5000/app:1.0", dst.Host}, "has a tag, but a registry source copies every repository"},
		{"-a and -r", []string{"-a", "-r", "old.lan:5000/app", dst.Host}, "-a and -r cannot go together"},
		{"-r into one tag", []string{"-r", "old.lan:5000", "new.lan:5000", dst.Host + "/x:1.0"}, "is a full tag, but several images go there"},
		{"--prune without -a or -r", []string{"--prune", "old.lan:5000/app:1.0", dst.Host + "/x"}, "--prune needs a selection of tags to keep"},
		{"--prune with a list of images", []string{"--prune", "-f", images, dst.Host}, "--prune needs a selection of tags to keep"},
		{"--prune into an archive", []string{"--prune", "-a", "old.lan:5000/app", "oci-archive:" + filepath.Join(t.TempDir(), "x.tar")}, "--prune deletes tags at a registry, and DST"},
		{"--latest 0", []string{"-a", "old.lan:5000/app", "--latest", "0", dst.Host}, "invalid --latest 0"},
		{"--latest -1", []string{"-a", "old.lan:5000/app", "--latest", "-1", dst.Host}, "invalid --latest -1"},
		{"--latest x", []string{"-a", "old.lan:5000/app", "--latest", "x", dst.Host}, `invalid --latest "x"`},
		{"latest: 0 in a file", []string{"-f", latestZero, dst.Host}, `line 4: latest "0" is not a whole number`},
		{"invalid repos regex", []string{"-f", badRepos, dst.Host}, "line 5: repos allow pattern \"(team\" is not a valid regular expression"},
		{"invalid --include-repo", []string{"-r", "old.lan:5000", "--include-repo", "(x", dst.Host}, "is not a valid regular expression"},
		{"type: registry with a tag", []string{"-f", taggedRegistry, dst.Host}, "line 2: source of a registry entry"},
		{"--include-tag without -a", []string{"--include-tag", "x", "old.lan:5000/app:1.0", dst.Host + "/x"}, "--include-tag selects the tags of -a or -r"},
		{"--include-repo without -r", []string{"-a", "--include-repo", "x", "old.lan:5000/app", dst.Host}, "--include-repo selects the repositories of -r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := cli.RunDocker(t, append([]string{"migrate"}, tc.args...)...).AssertExit(t, 125)
			if !strings.Contains(res.Stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, res.Stderr)
			}
		})
	}
	if repos := catalogOf(t, dst); len(repos) != 0 {
		t.Errorf("bad input wrote %v", repos)
	}
}

// TestPruneRefused: a registry that does not delete (distribution without
// delete enabled) gets one sentence, and the copy still counts as done.
func TestPruneRefused(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{noDelete: true})
	pushFixture(t, src, src.Ref("team/app:1.0"), fixture.Options{LayerSize: 512, Seed: 1}, true)
	pushFixture(t, src, src.Ref("team/app:1.1"), fixture.Options{LayerSize: 512, Seed: 2}, true)
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", "-a", src.Ref("team/app"), dst.Host, "--progress", "quiet").AssertSuccess(t)
	untagAtSource(t, src, "team/app", "1.0")
	res := cli.RunDocker(t, "migrate", "-a", src.Ref("team/app"), dst.Host, "--prune", "--progress", "quiet").AssertSuccess(t)
	if want := dst.Host + " does not delete manifests, so nothing was pruned there"; !strings.Contains(res.Stderr, want) || strings.Count(res.Stderr, "\n") != 1 {
		t.Errorf("stderr should be the one sentence %q:\n%s", want, res.Stderr)
	}
	if got := tagsOf(t, dst, "team/app"); !slices.Equal(got, []string{"1.0", "1.1"}) {
		t.Errorf("the mirror has %v", got)
	}
}

// TestRecursiveResume: a -r run interrupted part way, then run again with the
// same --report, finishes without copying again what arrived; shards of -r
// split its images; --check of -r compares every image.
func TestRecursiveResume(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	repos := seedRegistry(t, src)
	total := len(syncNamespaces)*syncReposPer*len(syncTags) + 1
	slow := startQuirkProxy(t, src, quirk.Options{Delay: 20 * time.Millisecond, CatalogPageSize: 5})
	report := filepath.Join(t.TempDir(), "report.jsonl")
	cli := NewCLI(t)
	run := cli.StartDocker(t, "migrate", "-r", slow.Host, dst.Host+"/m", "-j", "1", "--report", report)
	if !waitFor(60*time.Second, func() bool {
		data, _ := os.ReadFile(report)
		return strings.Count(string(data), "\n") >= 5
	}) {
		t.Fatalf("the report never reached 5 lines:\n%s", run.Stderr())
	}
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	run.Wait(t, 30*time.Second).AssertExit(t, 130)
	done := 0
	for _, rec := range reportRecords(t, report) {
		if rec["outcome"] == "copied" {
			done++
		}
	}
	if done == 0 || done == total {
		t.Fatalf("the interrupt should come part way: %d of %d done", done, total)
	}
	slow.Set(quirk.Options{CatalogPageSize: 5})
	res := cli.RunDocker(t, "migrate", "-r", slow.Host, dst.Host+"/m", "--report", report, "--progress", "plain").AssertSuccess(t)
	if got := strings.Count(res.Stderr, "… done in an earlier run"); got != done {
		t.Errorf("%d images reported done earlier, want %d", got, done)
	}
	for _, repo := range repos[:3] {
		if got := tagsOf(t, dst, "m/"+repo); !slices.Equal(got, syncTags) {
			t.Errorf("m/%s has %v", repo, got)
		}
	}

	// Two shards of -r into another prefix: together every image, once.
	shardOut := map[string]int{}
	for _, shard := range []string{"1/2", "2/2"} {
		res := cli.RunDocker(t, "migrate", "-r", src.Host, dst.Host+"/s", "--shard", shard, "--progress", "quiet").AssertSuccess(t)
		for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
			shardOut[line]++
		}
	}
	if len(shardOut) != total {
		t.Errorf("the shards copied %d images, want %d", len(shardOut), total)
	}

	// --check of -r: every image equal.
	res = cli.RunDocker(t, "migrate", "-r", src.Host+"/gamma", dst.Host+"/m", "--check", "--progress", "plain").AssertSuccess(t)
	if !strings.Contains(res.Stderr, fmt.Sprintf("equal                  %d", syncReposPer*len(syncTags))) {
		t.Errorf("--check of -r should find every gamma image equal:\n%s", res.Stderr)
	}
}

// TestCrossRunMount measures the persistent record of where blobs were seen:
// image A goes into DST/x in one run, then image B, which shares A's base
// layer, into DST/y in a second run: the second run uploads only B's own
// layer and config, and mounts the base from x. A stale record (the blob gone
// from the repositories it names) costs one refused mount each, and the
// copy uploads as it would have.
func TestCrossRunMount(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	const layer = 256 << 10
	a := pushFixture(t, src, src.Ref("lib/a:1"), fixture.Options{LayerSize: layer, Seed: 1, Base: "cross-run-base"}, true)
	b := pushFixture(t, src, src.Ref("lib/b:1"), fixture.Options{LayerSize: layer, Seed: 2, Base: "cross-run-base"}, true)
	c := pushFixture(t, src, src.Ref("lib/c:1"), fixture.Options{LayerSize: layer, Seed: 3, Base: "cross-run-base"}, true)
	counting := startQuirkProxy(t, dst, quirk.Options{})
	cli := NewCLI(t)

	cli.RunDocker(t, "migrate", src.Ref("lib/a:1"), counting.Ref("x/a:1"), "--progress", "quiet").AssertSuccess(t)
	first := counting.Stats().UploadedBytes

	res := cli.RunDocker(t, "migrate", "--dry-run", src.Ref("lib/b:1"), counting.Ref("y/b:1")).AssertSuccess(t)
	if !strings.Contains(res.Stdout, "mount from x/a (seen there before)") {
		t.Errorf("the dry run does not show the base as a mount from x/a:\n%s", res.Stdout)
	}
	counting.Set(quirk.Options{})
	cli.RunDocker(t, "migrate", src.Ref("lib/b:1"), counting.Ref("y/b:1"), "--progress", "quiet").AssertSuccess(t)
	st := counting.Stats()
	second := st.UploadedBytes
	t.Logf("run 1 (A into x) uploaded %d bytes; run 2 (B into y, same base) uploaded %d bytes, %d mount(s)", first, second, st.MountsDone)
	if st.MountsDone != 1 || second > first/2+4096 {
		t.Errorf("run 2 uploaded %d bytes (run 1: %d) with %d mounts: want only B's own layer and config, the base mounted", second, first, st.MountsDone)
	}
	assertDigest(t, dst, dst.Ref("y/b:1"), b)
	assertDigest(t, dst, dst.Ref("x/a:1"), a)

	// Stale: the base's links gone from x and y, as after a garbage collection.
	for _, repo := range []string{"x/a", "y/b"} {
		link := filepath.Join(filepath.Dir(dst.logFile), "storage", "docker", "registry", "v2", "repositories", repo, "_layers")
		if err := os.RemoveAll(link); err != nil {
			t.Fatal(err)
		}
	}
	counting.Set(quirk.Options{})
	cli.RunDocker(t, "migrate", src.Ref("lib/c:1"), counting.Ref("z/c:1"), "--progress", "quiet").AssertSuccess(t)
	st = counting.Stats()
	if st.Mounts != 2 || st.MountsDone != 0 {
		t.Errorf("with a stale record: %d mounts asked, %d done; want 2 refused (y, x), then the upload", st.Mounts, st.MountsDone)
	}
	assertDigest(t, dst, dst.Ref("z/c:1"), c)
}

// TestRecursiveFailures: an image of a -r run that cannot be read is one
// failure that names it; --failed writes it as a list -f takes back, the
// others arrive; with --fail-fast the images after it are not started.
func TestRecursiveFailures(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	pushFixture(t, src, src.Ref("aaa/broken:v1"), fixture.Options{LayerSize: 4096, Seed: 1}, true)
	good := pushFixture(t, src, src.Ref("team/app:v1"), fixture.Options{LayerSize: 4096, Seed: 2}, true)
	// The broken image's largest blob (its layer) loses its data.
	var layer v1.Hash
	var size int64
	for d, n := range assertComplete(t, src, src.Ref("aaa/broken:v1")) {
		if n > size {
			layer, size = d, n
		}
	}
	data := filepath.Join(filepath.Dir(src.logFile), "storage", "docker", "registry", "v2", "blobs", "sha256", layer.Hex[:2], layer.Hex, "data")
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	cli := NewCLI(t)
	failed := filepath.Join(t.TempDir(), "failed.txt")
	res := cli.RunDocker(t, "migrate", "-r", src.Host, dst.Host+"/all", "-j", "1", "--failed", failed).AssertExit(t, 1)
	if !strings.Contains(res.Stderr, "aaa/broken:v1") {
		t.Errorf("the failure does not name the image:\n%s", res.Stderr)
	}
	assertDigest(t, dst, dst.Ref("all/team/app:v1"), good)
	list, err := os.ReadFile(failed)
	if err != nil || !strings.Contains(string(list), src.Ref("aaa/broken:v1")) || strings.Contains(string(list), "team/app") {
		t.Errorf("--failed wrote %q (%v), want the broken image alone", list, err)
	}

	ff := cli.RunDocker(t, "migrate", "-r", src.Host, dst.Host+"/stop", "-j", "1", "--fail-fast").AssertExit(t, 1)
	assertAbsent(t, dst, dst.Ref("stop/team/app:v1"))
	if !strings.Contains(ff.Stderr, "--fail-fast") {
		t.Errorf("the images not started do not say why:\n%s", ff.Stderr)
	}
}
