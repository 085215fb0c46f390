package e2e

import (
	"encoding/json"
	"fmt"
	"io"
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

// TestBatchSharedLayers copies ten multi-arch images whose platforms share a
// base layer: every digest arrives equal, and the destination receives each
// unique blob's bytes exactly once (the others are mounted).
func TestBatchSharedLayers(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	counting := startQuirkProxy(t, dst, quirk.Options{})
	images := seedBatch(t, src, "team/app", 10, 64<<10)

	var lines []string
	for i, im := range images {
		if i == 3 {
			lines = append(lines, "# a comment, and a blank line", "")
		}
		lines = append(lines, src.Ref(im.ref))
	}
	list := writeList(t, "images.txt", lines...)
	cli := NewCLI(t)
	res := cli.RunDocker(t, "migrate", "--progress", "plain", "-f", list, counting.Host+"/mirror").AssertSuccess(t)

	unique := map[v1.Hash]int64{}
	for _, im := range images {
		want := fmt.Sprintf("%s/mirror/%s@%s", counting.Host, strings.Replace(src.Ref(im.ref), src.Host+"/", "", 1), im.digest)
		if !strings.Contains(res.Stdout, want+"\n") {
			t.Errorf("stdout lacks %q:\n%s", want, res.Stdout)
		}
		assertDigest(t, dst, dst.Ref("mirror/"+im.ref), im.digest)
		for d, size := range assertComplete(t, dst, dst.Ref("mirror/"+im.ref)) {
			unique[d] = size
		}
	}
	if n := strings.Count(res.Stdout, "\n"); n != len(images) {
		t.Errorf("stdout has %d lines, want one per image (%d):\n%s", n, len(images), res.Stdout)
	}
	var uniqueBytes int64
	for _, size := range unique {
		uniqueBytes += size
	}
	st := counting.Stats()
	ratio := float64(st.UploadedBytes) / float64(uniqueBytes)
	t.Logf("bytes uploaded %d ÷ unique bytes %d = %.2f; mounts %d", st.UploadedBytes, uniqueBytes, ratio, st.MountsDone)
	if st.UploadedBytes != uniqueBytes {
		t.Errorf("bytes uploaded ÷ unique bytes = %.2f, want 1.00 (the shared base layer must cross once and be mounted elsewhere)", ratio)
	}
	if n, d := st.MaxCommits(); n > 1 {
		t.Errorf("blob %s committed %d times", d, n)
	}
	for _, want := range []string{"[10/10] ", "10 image(s) in", "copied                 10"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
		}
	}

	// A second run moves nothing and says so.
	again := cli.RunDocker(t, "migrate", "--progress", "plain", "-f", list, counting.Host+"/mirror").AssertSuccess(t)
	if !strings.Contains(again.Stderr, "up to date             10") {
		t.Errorf("second run did not find all ten up to date:\n%s", again.Stderr)
	}
	if st2 := counting.Stats(); st2.UploadedBytes != st.UploadedBytes {
		t.Errorf("second run uploaded %d bytes", st2.UploadedBytes-st.UploadedBytes)
	}

	// Several SRCs on the command line, the same grammar, JSON lines out.
	js := cli.RunDocker(t, "migrate", "--format", "json", src.Ref(images[0].ref), src.Ref(images[1].ref), dst.Host+"/other").AssertSuccess(t)
	if n := assertPullableOutput(t, js, dst); n != 2 {
		t.Errorf("%d images pullable, want 2", n)
	}
	dec := json.NewDecoder(strings.NewReader(js.Stdout))
	n := 0
	for {
		var obj struct {
			Destination       string `json:"destination"`
			DestinationDigest string `json:"destinationDigest"`
		}
		if err := dec.Decode(&obj); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("stdout is not JSON lines: %v\n%s", err, js.Stdout)
		}
		n++
	}
	if n != 2 || strings.Count(js.Stdout, "\n") != 2 {
		t.Errorf("want 2 JSON lines, got:\n%s", js.Stdout)
	}
}

// TestBatchDryRun prints each image's plan and the unique bytes to move, and
// writes nothing.
func TestBatchDryRun(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "dry/app", 3, 4096)
	list := writeList(t, "images.txt", src.Ref(images[0].ref), src.Ref(images[1].ref), src.Ref(images[2].ref))
	res := NewCLI(t).RunDocker(t, "migrate", "--dry-run", "-f", list, dst.Host+"/mirror").AssertSuccess(t)
	if got := strings.Count(res.Stdout, "# "); got != 3 {
		t.Errorf("want a plan per image (3), got %d:\n%s", got, res.Stdout)
	}
	if !strings.Contains(res.Stderr, "would move") {
		t.Errorf("no total of unique bytes:\n%s", res.Stderr)
	}
	if repos := catalogOf(t, dst); len(repos) != 0 {
		t.Errorf("dry run wrote %v", repos)
	}
}

// slowBatch is a batch run from a slow source (every request held 25 ms),
// one image at a time with a --report, stopped part way: started, and waited
// for until the report has n lines.
type slowBatch struct {
	images []batchImage
	slow   *quirk.Proxy
	list   string
	report string
	cli    *CLI
	run    *Started
}

func startSlowBatch(t *testing.T, src, dst *Registry, prefix string, count, n int) *slowBatch {
	t.Helper()
	b := &slowBatch{images: seedBatch(t, src, prefix, count, 16<<10)}
	b.slow = startQuirkProxy(t, src, quirk.Options{Delay: 25 * time.Millisecond})
	var lines []string
	for _, im := range b.images {
		lines = append(lines, b.slow.Ref(im.ref))
	}
	b.list = writeList(t, "images.txt", lines...)
	b.report = filepath.Join(t.TempDir(), "report.jsonl")
	b.cli = NewCLI(t)
	b.run = b.cli.StartDocker(t, "migrate", "-j", "1", "--report", b.report, "-f", b.list, dst.Host+"/mirror")
	if !waitFor(30*time.Second, func() bool {
		data, _ := os.ReadFile(b.report)
		return strings.Count(string(data), "\n") >= n
	}) {
		t.Fatalf("the report never reached %d lines:\n%s", n, b.run.Stderr())
	}
	return b
}

// TestBatchResume kills a run part way (SIGKILL), then runs it again with the
// same --report: everything arrives, and what the first run finished is
// neither read from the source nor uploaded again.
func TestBatchResume(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	b := startSlowBatch(t, src, dst, "resume/app", 10, 3)
	images, slow, list, report, cli, run := b.images, b.slow, b.list, b.report, b.cli, b.run
	if err := syscall.Kill(-run.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run.Wait(t, 10*time.Second)
	first := reportRecords(t, report) // valid JSON lines, whatever the moment
	done := map[string]bool{}
	for _, rec := range first {
		if rec["outcome"] == "copied" {
			done[rec["source"]] = true
		}
	}
	if len(done) == 0 || len(done) == len(images) {
		t.Fatalf("the kill should come part way: %d of %d done", len(done), len(images))
	}

	slow.Set(quirk.Options{}) // counters start again
	res := cli.RunDocker(t, "migrate", "--progress", "plain", "--report", report, "-f", list, dst.Host+"/mirror").AssertSuccess(t)
	for _, im := range images {
		assertDigest(t, dst, dst.Ref("mirror/"+im.ref), im.digest)
	}
	st := slow.Stats()
	for path := range st.Gets {
		for src := range done {
			repo := strings.SplitN(strings.TrimPrefix(src, slow.Host+"/"), ":", 2)[0]
			if strings.HasPrefix(path, "/v2/"+repo+"/") {
				t.Errorf("the re-run read %s, which the first run finished", path)
			}
		}
	}
	if got := strings.Count(res.Stderr, "… done in an earlier run"); got != len(done) {
		t.Errorf("%d images reported done earlier, want %d:\n%s", got, len(done), res.Stderr)
	}
}

// TestBatchTagSelection selects tags of a repository of 34 tags with a YAML
// sync file: allow, deny, a semver range, and every tag, with the registry
// paginating its tag list.
func TestBatchTagSelection(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	var tags []string
	for minor := 6; minor <= 9; minor++ {
		for patch := range 7 {
			tags = append(tags, fmt.Sprintf("1.%d.%d", minor, patch))
		}
	}
	tags = append(tags, "2.0.0", "2.1.0-rc1", "latest", "v1.8.10", "edge", "1.9.0-alpine")
	opts := fixture.Options{LayerSize: 1024, Seed: 7}
	for _, tag := range tags {
		pushFixture(t, src, src.Ref("lib/tool:"+tag), opts, true)
	}
	// Five tags a page: the client must follow Link.
	paged := startQuirkProxy(t, src, quirk.Options{TagPageSize: 5})
	sync := writeList(t, "sync.yaml", fmt.Sprintf(`version: 1
sync:
  - source: %[1]s/lib/tool
    target: %[2]s/semver/tool
    type: repository
    tags:
      semverRange: ">=1.8 <2"
      deny: ["alpine"]
  - source: %[1]s/lib/tool
    target: %[2]s/allow/tool
    type: repository
    tags:
      allow: ["^1\\.9\\.", "^latest$"]
      deny: ["-alpine$"]
  - source: %[1]s/lib/tool
    target: %[2]s/all/tool
    type: repository
`, paged.Host, dst.Host))
	NewCLI(t).RunDocker(t, "migrate", "-f", sync, dst.Host+"/unused").AssertSuccess(t)

	want := func(keep func(string) bool) []string {
		var out []string
		for _, tag := range tags {
			if keep(tag) {
				out = append(out, tag)
			}
		}
		slices.Sort(out)
		return out
	}
	semver := want(func(tag string) bool {
		return (strings.HasPrefix(tag, "1.8.") || strings.HasPrefix(tag, "1.9.") || tag == "v1.8.10") && !strings.Contains(tag, "-")
	})
	allow := want(func(tag string) bool {
		return (strings.HasPrefix(tag, "1.9.") && !strings.HasSuffix(tag, "-alpine")) || tag == "latest"
	})
	all := want(func(string) bool { return true })
	for _, c := range []struct {
		repo string
		want []string
	}{{"semver/tool", semver}, {"allow/tool", allow}, {"all/tool", all}} {
		if got := tagsOf(t, dst, c.repo); !slices.Equal(got, c.want) {
			t.Errorf("%s has tags %v, want %v", c.repo, got, c.want)
		}
	}
}

// TestBatchShards runs shards 1/3, 2/3 and 3/3 of one list as three processes
// at once: together they copy every image once.
func TestBatchShards(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "shard/app", 12, 1024)
	var lines []string
	for _, im := range images {
		lines = append(lines, src.Ref(im.ref))
	}
	list := writeList(t, "images.txt", lines...)
	cli := NewCLI(t)
	dir := t.TempDir()
	var runs []*Started
	for i := 1; i <= 3; i++ {
		runs = append(runs, cli.StartDocker(t, "migrate", "--shard", fmt.Sprintf("%d/3", i), "--report", filepath.Join(dir, fmt.Sprintf("r%d", i)), "-f", list, dst.Host+"/mirror"))
	}
	seen := map[string]int{}
	for i, r := range runs {
		res := r.Wait(t, 60*time.Second).AssertSuccess(t)
		recs := reportRecords(t, filepath.Join(dir, fmt.Sprintf("r%d", i+1)))
		if len(recs) == 0 {
			t.Errorf("shard %d/3 copied nothing: the shares are uneven\n%s", i+1, res)
		}
		for _, rec := range recs {
			seen[rec["source"]]++
		}
	}
	for _, im := range images {
		if n := seen[src.Ref(im.ref)]; n != 1 {
			t.Errorf("%s copied by %d shards, want exactly 1", im.ref, n)
		}
		assertDigest(t, dst, dst.Ref("mirror/"+im.ref), im.digest)
	}
}

// TestBatchRateLimit: one source registry answers 429 with a wait far longer
// than a run sits out. The other registry's images arrive, the rest are
// reported not done (in the report and in --failed), and a re-run completes.
func TestBatchRateLimit(t *testing.T) {
	hub := startRegistry(t, registryOptions{})
	other := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	hubImages := seedBatch(t, hub, "hub/app", 3, 1024)
	otherImages := seedBatch(t, other, "other/app", 3, 1024)
	limited := startQuirkProxy(t, hub, quirk.Options{RateLimit: 1 << 30, RateLimitManifests: true, RetryAfter: time.Hour})
	counted := startQuirkProxy(t, other, quirk.Options{RateLimitHeaders: true})

	var lines []string
	for i := range 3 {
		lines = append(lines, limited.Ref(hubImages[i].ref), counted.Ref(otherImages[i].ref))
	}
	list := writeList(t, "images.txt", lines...)
	dir := t.TempDir()
	report, failed := filepath.Join(dir, "report.jsonl"), filepath.Join(dir, "failed.txt")
	cli := NewCLI(t)
	res := cli.RunDocker(t, "migrate", "--progress", "plain", "--report", report, "--failed", failed, "-f", list, dst.Host+"/mirror").AssertExit(t, 1)
	for _, im := range otherImages {
		assertDigest(t, dst, dst.Ref("mirror/"+im.ref), im.digest)
	}
	for _, im := range hubImages {
		assertAbsent(t, dst, dst.Ref("mirror/"+im.ref))
	}
	if limited.Stats().RateLimited > 3 {
		t.Errorf("the limited registry was asked %d times; after its first 429 no image should start there", limited.Stats().RateLimited)
	}
	if !strings.Contains(res.Stderr, "pulls left") {
		t.Errorf("progress does not show the pulls left:\n%s", res.Stderr)
	}
	if !strings.Contains(res.Stderr, "not done (run again)   3") {
		t.Errorf("summary does not count 3 not done:\n%s", res.Stderr)
	}
	notDone := 0
	for _, rec := range reportRecords(t, report) {
		if rec["outcome"] == "not-done" {
			notDone++
		}
	}
	if notDone != 3 {
		t.Errorf("report marks %d images not done, want 3", notDone)
	}
	data, err := os.ReadFile(failed)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range hubImages {
		if !strings.Contains(string(data), limited.Ref(im.ref)+"\n") {
			t.Errorf("--failed lacks %s:\n%s", im.ref, data)
		}
	}

	// The limit is over: the re-run completes, from the report or from --failed.
	limited.Set(quirk.Options{})
	again := cli.RunDocker(t, "migrate", "--progress", "plain", "--report", report, "--failed", failed, "-f", list, dst.Host+"/mirror").AssertSuccess(t)
	for _, im := range hubImages {
		assertDigest(t, dst, dst.Ref("mirror/"+im.ref), im.digest)
	}
	if got := strings.Count(again.Stderr, "… done in an earlier run"); got != 3 {
		t.Errorf("the re-run should skip the 3 done images:\n%s", again.Stderr)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("--failed file left behind after every image arrived: %v", err)
	}
}

// TestBatchFailFast: one image fails (it does not exist); without --fail-fast
// the others arrive and the exit is 1; with it, the run stops.
func TestBatchFailFast(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "ff/app", 2, 1024)
	list := writeList(t, "images.txt", src.Ref("ff/missing:v1"), src.Ref(images[0].ref), src.Ref(images[1].ref))
	cli := NewCLI(t)
	res := cli.RunDocker(t, "migrate", "-j", "1", "-f", list, dst.Host+"/keep").AssertExit(t, 1)
	assertDigest(t, dst, dst.Ref("keep/"+images[1].ref), images[1].digest)
	if !strings.Contains(res.Stderr, "ff/missing:v1") || !strings.Contains(res.Stderr, "line 1") {
		t.Errorf("the failure is not named with its list line:\n%s", res.Stderr)
	}
	ff := cli.RunDocker(t, "migrate", "-j", "1", "--fail-fast", "-f", list, dst.Host+"/stop").AssertExit(t, 1)
	assertAbsent(t, dst, dst.Ref("stop/"+images[1].ref))
	if !strings.Contains(ff.Stderr, "--fail-fast") {
		t.Errorf("the images not started do not say why:\n%s", ff.Stderr)
	}
}

// TestBatchBadInput: each bad list, sync file or flag is one sentence naming
// the file and line, exit 125, and nothing written.
func TestBatchBadInput(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "bad/app", 2, 1024)
	good := src.Ref(images[0].ref)
	other := src.Ref(images[1].ref)
	cli := NewCLI(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		want []string // each must be in stderr
	}{
		{"missing file", []string{"-f", filepath.Join(dir, "nope.txt"), dst.Host + "/m"}, []string{"nope.txt"}},
		{"malformed reference", []string{"-f", file("bad-ref.txt", good+"\n\nUPPER/Case:tag\n"), dst.Host + "/m"}, []string{"bad-ref.txt line 3"}},
		{"three fields", []string{"-f", file("three.txt", good+" a b\n"), dst.Host + "/m"}, []string{"three.txt line 1"}},
		{"yaml syntax", []string{"-f", file("syntax.yaml", "sync:\n  - source: [a\n"), dst.Host + "/m"}, []string{"syntax.yaml"}},
		{"yaml unknown key", []string{"-f", file("key.yaml", "sync:\n  - source: "+good+"\n    sauce: x\n"), dst.Host + "/m"}, []string{"key.yaml line 3", "sauce"}},
		{"yaml wrong type", []string{"-f", file("type.yaml", "sync:\n  - source: "+good+"\n    tags: 5\n"), dst.Host + "/m"}, []string{"type.yaml line 3"}},
		{"yaml credentials", []string{"-f", file("creds.yaml", "creds:\n  - registry: x\nsync:\n  - source: "+good+"\n"), dst.Host + "/m"}, []string{"creds.yaml line 1", "docker login"}},
		{"invalid regex", []string{"-f", file("regex.yaml", "sync:\n  - source: "+src.Host+"/bad/app00\n    type: repository\n    tags:\n      allow: [\"(\"]\n"), dst.Host + "/m"}, []string{"regex.yaml line 5"}},
		{"invalid semver", []string{"-f", file("semver.yaml", "sync:\n  - source: "+src.Host+"/bad/app00\n    type: repository\n    tags:\n      semverRange: \">>1\"\n"), dst.Host + "/m"}, []string{"semver.yaml line 5"}},
		{"same destination", []string{"-f", file("dup.txt", good+" same/name\n"+other+" same/name\n"), dst.Host + "/m"}, []string{"dup.txt line 1", "dup.txt line 2", "would both write"}},
		{"shard zero", []string{"--shard", "0/3", good, other, dst.Host + "/m"}, []string{"--shard"}},
		{"shard past n", []string{"--shard", "4/3", good, other, dst.Host + "/m"}, []string{"--shard"}},
		{"shard words", []string{"--shard", "one/three", good, other, dst.Host + "/m"}, []string{"--shard"}},
		{"full tag for several", []string{good, other, dst.Host + "/m/x:v1"}, []string{"full tag", "prefix"}},
		{"-f with SRC", []string{"-f", file("ok.txt", good+"\n"), good, dst.Host + "/m"}, []string{"with -f"}},
		{"empty list", []string{"-f", file("empty.txt", "# nothing\n\n"), dst.Host + "/m"}, []string{"empty.txt"}},
		{"bad report", []string{"--report", file("report.jsonl", "not json\n{}\n"), good, other, dst.Host + "/m"}, []string{"report.jsonl line 1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := cli.RunDocker(t, append([]string{"migrate"}, c.args...)...).AssertExit(t, 125)
			for _, w := range c.want {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
				}
			}
			if lines := strings.Count(strings.TrimSpace(res.Stderr), "\n"); lines > 1 {
				t.Errorf("want one sentence (and the --help hint at most), got %d lines:\n%s", lines+1, res.Stderr)
			}
			if res.Stdout != "" {
				t.Errorf("stdout is not empty: %q", res.Stdout)
			}
		})
	}
	if repos := catalogOf(t, dst); len(repos) != 0 {
		t.Errorf("bad input wrote %v", repos)
	}

	// A tag selection that matches nothing is a warning, not an error.
	nothing := file("nothing.yaml", "sync:\n  - source: "+src.Host+"/bad/app00\n    type: repository\n    tags:\n      allow: [\"^9\"]\n  - source: "+good+"\n")
	res := cli.RunDocker(t, "migrate", "-f", nothing, dst.Host+"/w").AssertSuccess(t)
	if !strings.Contains(res.Stderr, "nothing.yaml line 2") || !strings.Contains(res.Stderr, "matched none") {
		t.Errorf("no warning for the selection that matched nothing:\n%s", res.Stderr)
	}
}

// TestBatchStdin reads the list from stdin with -f -.
func TestBatchStdin(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	images := seedBatch(t, src, "stdin/app", 2, 1024)
	res := NewCLI(t).RunDockerStdin(t, src.Ref(images[0].ref)+"\n"+src.Ref(images[1].ref)+" renamed/one\n", "migrate", "-f", "-", dst.Host).AssertSuccess(t)
	assertDigest(t, dst, dst.Ref(images[0].ref), images[0].digest)
	assertDigest(t, dst, dst.Ref("renamed/one:v1"), images[1].digest)
	assertPullableOutput(t, res, dst)
	if strings.Count(res.Stdout, "\n") != 2 {
		t.Errorf("want 2 result lines:\n%s", res.Stdout)
	}
}

// TestBatchInterrupt: Ctrl-C part way through a batch exits 130, leaves the
// report whole, writes no tag of an image that did not finish, and the same
// command then completes the batch.
func TestBatchInterrupt(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	b := startSlowBatch(t, src, dst, "int/app", 8, 2)
	images, slow, list, report, cli, run := b.images, b.slow, b.list, b.report, b.cli, b.run
	if err := syscall.Kill(run.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	res := run.Wait(t, 30*time.Second).AssertExit(t, 130)
	if !strings.Contains(res.Stderr, "interrupted") {
		t.Errorf("no interrupted sentence:\n%s", res.Stderr)
	}
	finished := map[string]bool{}
	// The images under way when the interrupt came are said to be so,
	// with what it had moved; the ones after it did not start.
	underWay, notStarted := 0, 0
	for _, rec := range reportRecords(t, report) {
		switch {
		case rec["outcome"] == "copied":
			finished[rec["source"]] = true
		case strings.HasPrefix(rec["error"], "interrupted while"):
			underWay++
		case rec["error"] == "not started: the run was interrupted":
			notStarted++
		default:
			t.Errorf("report line says neither under way nor not started: %v", rec)
		}
	}
	if underWay == 0 || notStarted == 0 {
		t.Errorf("report: %d under way, %d not started (want some of each)", underWay, notStarted)
	}
	if !strings.Contains(res.Stderr, "interrupted while") || !strings.Contains(res.Stderr, "moved; the tag was not written") && !strings.Contains(res.Stderr, "being planned") {
		t.Errorf("the summary does not say which image was under way:\n%s", res.Stderr)
	}
	for _, im := range images {
		if !finished[slow.Ref(im.ref)] {
			assertAbsent(t, dst, dst.Ref("mirror/"+im.ref))
		}
	}
	cli.RunDocker(t, "migrate", "--report", report, "-f", list, dst.Host+"/mirror").AssertSuccess(t)
	for _, im := range images {
		assertDigest(t, dst, dst.Ref("mirror/"+im.ref), im.digest)
	}
}
