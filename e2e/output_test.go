package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// TestScriptOutput checks what scripts read: --format json and Go templates
// on stdout, --metadata-file, a failure's JSON, and -n/--no-clobber.
func TestScriptOutput(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/out:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 51}, false)
	refusing := startQuirkProxy(t, dst, quirk.Options{NoIndex: true})
	cli := NewCLI(t)

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("out/json:v1")
		res := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
		r := jsonLines(t, res)
		if len(r) != 1 || r[0].DestinationDigest != digest.String() || r[0].Source != srcRef || r[0].Destination != dstRef || r[0].Error != "" {
			t.Errorf("--format json: %+v", r)
		}
	})

	t.Run("template", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("out/template:v1")
		res := cli.RunDocker(t, "migrate", "--format", "{{.DestinationDigest}} {{len .Platforms}}", srcRef, dstRef).AssertSuccess(t)
		if want := digest.String() + " 2\n"; res.Stdout != want {
			t.Errorf("stdout %q, want %q", res.Stdout, want)
		}
		bad := cli.RunDocker(t, "migrate", "--format", "{{.NoSuchField}}", srcRef, dstRef).AssertExit(t, 125)
		if !strings.Contains(bad.Stderr, "NoSuchField") {
			t.Errorf("a bad template is not named:\n%s", bad)
		}
	})

	t.Run("metadata file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ok := filepath.Join(dir, "ok.json")
		dstRef := dst.Ref("out/metadata:v1")
		cli.RunDocker(t, "migrate", "--metadata-file", ok, srcRef, dstRef).AssertSuccess(t)
		var r jsonResult
		if b, err := os.ReadFile(ok); err != nil || json.Unmarshal(b, &r) != nil || r.DestinationDigest != digest.String() {
			t.Errorf("metadata file after a success: %v %+v", err, r)
		}
		failed := filepath.Join(dir, "failed.json")
		cli.RunDocker(t, "migrate", "--metadata-file", failed, src.Ref("e2e/missing:v1"), dst.Ref("out/missing:v1")).AssertExit(t, 1)
		r = jsonResult{}
		if b, err := os.ReadFile(failed); err != nil || json.Unmarshal(b, &r) != nil || r.Error == "" || r.DestinationDigest != "" {
			t.Errorf("metadata file after a failure: %v %+v", err, r)
		}
	})

	t.Run("failure prints its JSON", func(t *testing.T) {
		t.Parallel()
		res := cli.RunDocker(t, "migrate", "--format", "json", "--strategy", "index", srcRef, refusing.Ref("out/refused:v1")).AssertExit(t, 1)
		r := jsonLines(t, res)
		if len(r) != 1 || r[0].Error == "" || r[0].DestinationDigest != "" || r[0].SourceDigest != digest.String() {
			t.Fatalf("failure JSON: %+v", r)
		}
		if len(r[0].Attempts) != 1 || r[0].Attempts[0].Strategy != "index" || r[0].Attempts[0].Outcome != "failed" || r[0].Attempts[0].Reason == "" {
			t.Errorf("failure JSON attempts: %+v", r[0].Attempts)
		}
		// The sentence on stderr is the one in the JSON.
		if !strings.Contains(res.Stderr, r[0].Error) {
			t.Errorf("stderr lacks the JSON's error %q:\n%s", r[0].Error, res)
		}
	})

	t.Run("dry run plan", func(t *testing.T) {
		t.Parallel()
		// A CLI of its own: the others copy the same blobs into dst, and the
		// shared cache's record of where blobs were seen would plan mounts.
		cli := NewCLI(t)
		dstRef := dst.Ref("out/plan:v1")
		res := cli.RunDocker(t, "migrate", "--dry-run", "--format", "json", srcRef, dstRef).AssertSuccess(t)
		r := jsonLines(t, res)
		if len(r) != 1 || !r[0].DryRun || r[0].Plan == nil {
			t.Fatalf("dry run JSON: %s", res.Stdout)
		}
		p := r[0].Plan
		// 2 platforms: 2 configs and 2×2 layers (one shared: 3 distinct); 2 manifests and the index.
		if len(p.Manifests) != 3 || p.Manifests[2].Tag != "v1" || p.Manifests[2].Digest != digest.String() {
			t.Errorf("plan manifests %+v", p.Manifests)
		}
		if len(p.Blobs) == 0 {
			t.Fatal("plan has no blobs")
		}
		for _, b := range p.Blobs {
			if b.Action != "copy" || b.Size <= 0 || b.Platform == "" || !strings.HasPrefix(b.Digest, "sha256:") {
				t.Errorf("plan blob %+v", b)
			}
		}
		assertAbsent(t, dst, dstRef)
	})

	t.Run("no clobber", func(t *testing.T) {
		t.Parallel()
		dstRef := dst.Ref("out/clobber:v1")
		other := pushFixture(t, dst, dstRef, fixture.Options{LayerSize: tinyLayer, Seed: 52}, true)
		res := cli.RunDocker(t, "migrate", "-n", srcRef, dstRef).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "--no-clobber") || !strings.Contains(res.Stderr, other.String()) {
			t.Errorf("-n does not say what it refused:\n%s", res)
		}
		assertDigest(t, dst, dstRef, other)
		// A dry run says what it would do, in the conditional.
		res = cli.RunDocker(t, "migrate", "--dry-run", srcRef, dstRef).AssertSuccess(t)
		if want := "would replace " + dstRef + " (now " + other.String() + ")"; !strings.Contains(res.Stderr, want) || strings.Contains(res.Stderr, "replacing") {
			t.Errorf("--dry-run: stderr lacks %q, or says it is replacing:\n%s", want, res)
		}
		assertDigest(t, dst, dstRef, other)
		res = cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
		if want := "replacing " + dstRef + " (was " + other.String() + ")"; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		if r := jsonLines(t, res); r[0].PreviousDigest != other.String() {
			t.Errorf("previousDigest %q, want %q", r[0].PreviousDigest, other)
		}
		assertDigest(t, dst, dstRef, digest)
		// Up to date now: nothing is replaced, and -n has nothing to refuse.
		res = cli.RunDocker(t, "migrate", "-n", srcRef, dstRef).AssertSuccess(t)
		if strings.Contains(res.Stderr, "replacing") {
			t.Errorf("an up-to-date tag is said to be replaced:\n%s", res)
		}
	})

	t.Run("batch json and metadata", func(t *testing.T) {
		t.Parallel()
		meta := filepath.Join(t.TempDir(), "batch.json")
		res := cli.RunDocker(t, "migrate", "--format", "json", "--metadata-file", meta, srcRef, src.Ref("e2e/absent:v1"), dst.Ref("outbatch")).AssertExit(t, 1)
		r := jsonLines(t, res)
		if len(r) != 2 {
			t.Fatalf("%d JSON lines for 2 images, want 2:\n%s", len(r), res)
		}
		var failed, copied int
		for _, x := range r {
			if x.Error != "" {
				failed++
			} else if x.DestinationDigest == digest.String() {
				copied++
			}
		}
		if failed != 1 || copied != 1 {
			t.Errorf("JSON lines: %+v", r)
		}
		var all []jsonResult
		if b, err := os.ReadFile(meta); err != nil || json.Unmarshal(b, &all) != nil || len(all) != 2 {
			t.Errorf("metadata file of a batch: %v %+v", err, all)
		}
	})

	t.Run("plain progress says what started", func(t *testing.T) {
		t.Parallel()
		// Longer than plain mode waits before it says a transfer started.
		slow := startQuirkProxy(t, src, quirk.Options{Delay: 1500 * time.Millisecond})
		cli := NewCLI(t) // as above: blobs copied, not mounted from where the others put them
		res := cli.RunDocker(t, "migrate", "--progress", "plain", slow.Ref("e2e/out:v1"), dst.Ref("out/plain:v1")).AssertSuccess(t)
		lines := stderrLines(res)
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "planning the copy of ") {
			t.Errorf("plain progress does not start with the plan:\n%s", res)
		}
		started, done := -1, -1
		for i, l := range lines {
			if started < 0 && strings.Contains(l, " started (") {
				started = i
			}
			if done < 0 && regexp.MustCompile(`: blob [0-9a-f]{12} copied \(.*s\)$`).MatchString(l) {
				done = i
			}
		}
		if started < 0 || done < 0 || started > done {
			t.Errorf("want a start line before the first blob ends, with its duration:\n%s", res)
		}
	})
}

// TestVersion checks `docker migrate version` and the metadata's version:
// semver, v0.1.0-dev(+COMMIT) between releases.
func TestVersion(t *testing.T) {
	t.Parallel()
	cli := NewCLI(t)
	semver := regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	res := cli.RunDocker(t, "migrate", "version", "--short").AssertSuccess(t)
	v := strings.TrimSpace(res.Stdout)
	if !semver.MatchString(v) {
		t.Errorf("version %q is not semver", v)
	}
	if long := cli.RunDocker(t, "migrate", "version").AssertSuccess(t); !strings.HasPrefix(long.Stdout, "docker-migrate "+v+" ") {
		t.Errorf("docker migrate version: %q", long.Stdout)
	}
	// The version subcommand does not turn the usage line into "COMMAND".
	if help := cli.RunDocker(t, "migrate", "--help").AssertSuccess(t); !strings.HasPrefix(help.Stdout, "Usage:  docker migrate [OPTIONS] SRC [SRC...] DST") {
		t.Errorf("docker migrate --help starts %q", strings.SplitN(help.Stdout, "\n", 2)[0])
	}
	var md struct{ Version string }
	meta := cli.RunPlugin(t, "docker-cli-plugin-metadata").AssertSuccess(t)
	if err := json.Unmarshal([]byte(meta.Stdout), &md); err != nil || md.Version != v {
		t.Errorf("metadata version %q (%v), want %q", md.Version, err, v)
	}
}
