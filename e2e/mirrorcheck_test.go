package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestCheck proves mirrors with --check: it writes nothing, and says per image
// equal, same content under another digest, missing (and what), or different
// (and where), with exit 0 only when every image is usable.
func TestCheck(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	opts := fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Seed: 71}
	srcRef := src.Ref("chk/app:v1")
	digest := pushFixture(t, src, srcRef, opts, false)
	srcIndex := readIndex(t, src, srcRef)
	other := src.Ref("chk/other:v1")
	pushFixture(t, src, other, fixture.Options{Platforms: opts.Platforms, LayerSize: tinyLayer, Seed: 72}, false)
	cli := NewCLI(t)
	check := func(args ...string) Result {
		t.Helper()
		return cli.RunDocker(t, append([]string{"migrate", "--check", "--progress", "quiet"}, args...)...)
	}

	t.Run("missing tag", func(t *testing.T) {
		res := check(srcRef, dst.Ref("chk/none:v1")).AssertExit(t, 1)
		if !strings.HasPrefix(res.Stdout, "missing ") || !strings.Contains(res.Stderr, "does not exist") {
			t.Errorf("want missing, and why:\n%s", res)
		}
		// No digest to name: the reference alone, and the copy to run.
		if want := "missing " + dst.Ref("chk/none:v1") + "\n"; res.Stdout != want {
			t.Errorf("stdout %q, want %q", res.Stdout, want)
		}
		if !strings.Contains(res.Stderr, "without --check") || strings.Contains(res.Stderr, "run the same command again") {
			t.Errorf("a failed check does not say which command copies what is missing:\n%s", res.Stderr)
		}
		if repos := catalogOf(t, dst); len(repos) != 0 {
			t.Errorf("--check wrote %v", repos)
		}
	})

	cli.RunDocker(t, "migrate", srcRef, dst.Ref("chk/app:v1")).AssertSuccess(t)
	t.Run("equal", func(t *testing.T) {
		res := check(srcRef, dst.Ref("chk/app:v1")).AssertSuccess(t)
		if want := "equal " + dst.Ref("chk/app:v1") + "@" + digest.String() + "\n"; res.Stdout != want {
			t.Errorf("stdout %q, want %q", res.Stdout, want)
		}
		js := cli.RunDocker(t, "migrate", "--check", "--format", "json", srcRef, dst.Ref("chk/app:v1")).AssertSuccess(t)
		var r struct {
			Status   string   `json:"status"`
			Problems []string `json:"problems"`
		}
		if err := json.Unmarshal([]byte(js.Stdout), &r); err != nil || r.Status != "equal" || len(r.Problems) != 0 {
			t.Errorf("JSON %q (%v)", js.Stdout, err)
		}
		meta := filepath.Join(t.TempDir(), "check.json")
		cli.RunDocker(t, "migrate", "--check", "--metadata-file", meta, srcRef, dst.Ref("chk/app:v1")).AssertSuccess(t)
		var verdicts []struct {
			Status      string `json:"status"`
			Destination string `json:"destination"`
		}
		if data, err := os.ReadFile(meta); err != nil || json.Unmarshal(data, &verdicts) != nil || len(verdicts) != 1 || verdicts[0].Status != "equal" {
			t.Errorf("--metadata-file with --check: %s (%v)", data, err)
		}
	})

	t.Run("same content", func(t *testing.T) {
		cli.RunDocker(t, "migrate", "--media-types", "docker", srcRef, dst.Ref("chk/docker:v1")).AssertSuccess(t)
		res := check(srcRef, dst.Ref("chk/docker:v1")).AssertSuccess(t)
		if !strings.HasPrefix(res.Stdout, "same-content ") {
			t.Errorf("want same-content:\n%s", res)
		}
		cli.RunDocker(t, "migrate", "--platform", "linux/amd64", srcRef, dst.Ref("chk/amd64:v1")).AssertSuccess(t)
		check("--platform", "linux/amd64", srcRef, dst.Ref("chk/amd64:v1")).AssertSuccess(t)
		res = check(srcRef, dst.Ref("chk/amd64:v1")).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "platform linux/arm64/v8 is not in") {
			t.Errorf("the platforms the subset lacks are not named:\n%s", res.Stderr)
		}
	})

	t.Run("different", func(t *testing.T) {
		cli.RunDocker(t, "migrate", other, dst.Ref("chk/swapped:v1")).AssertSuccess(t)
		res := check(srcRef, dst.Ref("chk/swapped:v1")).AssertExit(t, 1)
		if !strings.HasPrefix(res.Stdout, "different ") || !strings.Contains(res.Stderr, "rootfs.diff_ids differ") {
			t.Errorf("want different, and where:\n%s", res)
		}
	})

	t.Run("missing blob and manifest", func(t *testing.T) {
		cli.RunDocker(t, "migrate", srcRef, dst.Ref("chk/holes:v1")).AssertSuccess(t)
		arm := srcIndex.Images["linux/arm/v7"]
		deleteAt(t, dst, "chk/holes/manifests/"+arm.String())
		// A layer of the amd64 image, whose manifest stays: the check finds
		// the blob missing below it.
		amd64 := srcIndex.Images["linux/amd64"]
		var layer string
		for d, size := range assertComplete(t, src, src.Ref("chk/app@"+amd64.String())) {
			if size > tinyLayer {
				layer = d.String()
				break
			}
		}
		deleteAt(t, dst, "chk/holes/blobs/"+layer)
		res := check(srcRef, dst.Ref("chk/holes:v1")).AssertExit(t, 1)
		for _, want := range []string{"linux/arm/v7 (" + arm.String() + ") is not in", "blob " + layer} {
			if !strings.Contains(res.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
			}
		}
	})

	t.Run("list and archive", func(t *testing.T) {
		list := writeList(t, "images.txt", srcRef, other)
		res := cli.RunDocker(t, "migrate", "--check", "-f", list, dst.Host+"/mirror").AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "missing                2") {
			t.Errorf("summary does not count 2 missing:\n%s", res.Stderr)
		}
		if !strings.Contains(res.Stderr, "run the same command without --check") || strings.Contains(res.Stdout, "(none)") {
			t.Errorf("a failed check does not say which command copies what is missing, or prints (none):\n%s", res)
		}
		archive := filepath.Join(t.TempDir(), "a.tar")
		cli.RunDocker(t, "migrate", srcRef, "oci-archive:"+archive).AssertSuccess(t)
		ok := cli.RunDocker(t, "migrate", "--check", srcRef, "oci-archive:"+archive).AssertSuccess(t)
		if !strings.HasPrefix(ok.Stdout, "equal ") {
			t.Errorf("the archive is not equal:\n%s", ok)
		}
	})
}
