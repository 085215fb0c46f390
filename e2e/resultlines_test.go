package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// rawJSONEvent is the part of a BuildKit rawjson event (client.SolveStatus)
// these tests read.
type rawJSONEvent struct {
	Vertexes []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	} `json:"vertexes"`
}

// assertRawJSONStderr fails unless every line of stderr is one JSON object
// (a consumer of --progress rawjson parses them one by one), and returns the
// vertex names and errors the events carry, joined.
func assertRawJSONStderr(t *testing.T, res Result) string {
	t.Helper()
	var said strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n") {
		var ev rawJSONEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("stderr line %d is not JSON (%v): %q", i+1, err, line)
			continue
		}
		for _, v := range ev.Vertexes {
			said.WriteString(v.Name + "\n" + v.Error + "\n")
		}
	}
	return said.String()
}

// TestRawJSONOnlyJSON: with --progress rawjson, stderr holds JSON lines
// only, for one image and for a batch, after a success and after a failure;
// a failure's sentence is in the stream.
func TestRawJSONOnlyJSON(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/rawjson:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 171}, false)
	missing := src.Ref("e2e/missing:v1")
	cli := NewCLI(t)
	existing := filepath.Join(t.TempDir(), "exists.tar")
	if err := os.WriteFile(existing, []byte("not yours"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		exit int
		// want is in the stream's vertexes.
		want string
	}{
		{"one image", []string{srcRef, dst.Ref("raw/one:v1")}, 0, ""},
		{"batch", []string{srcRef, src.Ref("e2e/rawjson:v1"), dst.Host + "/raw/batch"}, 0, ""},
		{"one image fails", []string{missing, dst.Ref("raw/fail:v1")}, 1, "not found"},
		{"batch fails", []string{missing, srcRef, dst.Host + "/raw/batchfail"}, 1, "1 of 2 images did not arrive"},
		{"existing archive", []string{srcRef, "oci-archive:" + existing}, 125, "--force"},
		{"one argument", []string{srcRef}, 125, "at least 2 arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := cli.RunDocker(t, append([]string{"migrate", "--progress", "rawjson"}, tc.args...)...).AssertExit(t, tc.exit)
			said := assertRawJSONStderr(t, res)
			if tc.want != "" && !strings.Contains(said, tc.want) {
				t.Errorf("the stream does not say %q:\n%s", tc.want, res)
			}
			if tc.exit == 0 {
				assertPullableOutput(t, res, dst)
			}
		})
	}
}

// TestRawJSONDebug: with docker's -D, the plugin's debug lines are events of
// the rawjson stream too, so that stderr stays JSON lines only, after a
// success and after a failure (whose detail -D prints once the view ended).
func TestRawJSONDebug(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/rawdebug:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 173}, false)
	cli := NewCLI(t)

	for _, tc := range []struct {
		name string
		args []string
		exit int
	}{
		{"one image", []string{srcRef, dst.Ref("rawdebug/one:v1")}, 0},
		{"batch", []string{srcRef, src.Ref("e2e/rawdebug:v1"), dst.Host + "/rawdebug/batch"}, 0},
		{"one image fails", []string{src.Ref("e2e/missing:v1"), dst.Ref("rawdebug/fail:v1")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := cli.RunDocker(t, append([]string{"-D", "migrate", "--progress", "rawjson"}, tc.args...)...).AssertExit(t, tc.exit)
			said := assertRawJSONStderr(t, res)
			if !strings.Contains(said, "level=debug") {
				t.Errorf("no debug line in the stream:\n%s", res)
			}
			if tc.exit == 0 {
				assertPullableOutput(t, res, dst)
			}
		})
	}
}

// TestDigestOnlyOutput: an image named by digest only arrives as DST@DIGEST:
// one valid reference on stdout, and the JSON, template and metadata file
// name it validly too.
func TestDigestOnlyOutput(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/pinned:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 172}, false)
	pinned := src.Ref("e2e/pinned@" + digest.String())
	cli := NewCLI(t)

	// validRef fails unless s is one reference with at most one digest.
	validRef := func(t *testing.T, what, s string) {
		t.Helper()
		if strings.Count(s, "@") > 1 {
			t.Errorf("%s %q names the digest twice", what, s)
		}
		if _, err := name.ParseReference(s, name.StrictValidation); err != nil {
			t.Errorf("%s %q is not a reference: %v", what, s, err)
		}
	}

	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		res := cli.RunDocker(t, "migrate", pinned, srcRef, dst.Host+"/plain").AssertSuccess(t)
		lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
		if len(lines) != 2 {
			t.Fatalf("want 2 lines on stdout:\n%s", res)
		}
		for _, l := range lines {
			validRef(t, "stdout line", l)
		}
		if want := dst.Ref("plain/e2e/pinned@" + digest.String()); !strings.Contains(res.Stdout, want+"\n") {
			t.Errorf("stdout lacks %s:\n%s", want, res)
		}
		assertPullableOutput(t, res, dst)
	})

	t.Run("check", func(t *testing.T) {
		t.Parallel()
		cli.RunDocker(t, "migrate", pinned, srcRef, dst.Host+"/check").AssertSuccess(t)
		res := cli.RunDocker(t, "migrate", "--check", pinned, srcRef, dst.Host+"/check").AssertSuccess(t)
		for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
			status, ref, _ := strings.Cut(l, " ")
			if status != "equal" {
				t.Errorf("--check line %q, want equal", l)
			}
			validRef(t, "--check line", ref)
		}
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		res := cli.RunDocker(t, "migrate", "--format", "json", pinned, srcRef, dst.Host+"/json").AssertSuccess(t)
		for _, r := range jsonLines(t, res) {
			validRef(t, "destination", r.Destination)
			validRef(t, "destination@destinationDigest", strings.SplitN(r.Destination, "@", 2)[0]+"@"+r.DestinationDigest)
		}
		assertPullableOutput(t, res, dst)
	})

	t.Run("template", func(t *testing.T) {
		t.Parallel()
		res := cli.RunDocker(t, "migrate", "--format", "{{.Destination}}", pinned, srcRef, dst.Host+"/template").AssertSuccess(t)
		for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
			validRef(t, "{{.Destination}}", l)
		}
	})

	t.Run("metadata file", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "meta.json")
		cli.RunDocker(t, "migrate", "--metadata-file", file, pinned, srcRef, dst.Host+"/meta").AssertSuccess(t)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var rs []jsonResult
		if err := json.Unmarshal(b, &rs); err != nil || len(rs) != 2 {
			t.Fatalf("metadata file: %v\n%s", err, b)
		}
		for _, r := range rs {
			validRef(t, "destination", r.Destination)
		}
	})
}

// TestFailureOrigin: a batch's failure line names the list file and line an
// image came from, and nothing for an argument.
func TestFailureOrigin(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	missingArg, missingListed := src.Ref("e2e/gone-arg:v1"), src.Ref("e2e/gone-listed:v1")
	list := writeList(t, "images.txt", "# one image", missingListed)
	cli := NewCLI(t)
	listed := cli.RunDocker(t, "migrate", "-f", list, dst.Host+"/origin").AssertExit(t, 1)
	argument := cli.RunDocker(t, "migrate", missingArg, srcRef(t, src), dst.Host+"/origin").AssertExit(t, 1)
	for _, c := range []struct {
		res  Result
		want string
	}{
		{listed, "failed " + missingListed + " (" + list + " line 2): "},
		{argument, "failed " + missingArg + ": "},
	} {
		if !strings.Contains(c.res.Stderr, c.want) {
			t.Errorf("stderr lacks %q:\n%s", c.want, c.res)
		}
		if strings.Contains(c.res.Stderr, "(argument)") {
			t.Errorf("a failure line says (argument):\n%s", c.res)
		}
	}
}

// srcRef pushes a small image to r for a batch to copy beside one that fails.
func srcRef(t *testing.T, r *Registry) string {
	ref := r.Ref("e2e/there:v1")
	pushFixture(t, r, ref, fixture.Options{LayerSize: tinyLayer, Seed: 173}, true)
	return ref
}
