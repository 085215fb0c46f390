package buildx

import (
	"bytes"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/progress"
)

// rawjson is a trimmed stream from buildx v0.26.1 --progress rawjson, with a
// failure at the end.
const rawjson = `{"vertexes":[{"digest":"sha256:6650","name":"[internal] load build definition from Dockerfile","started":"2026-11-22T07:40:30Z"}]}
{"vertexes":[{"digest":"sha256:6650","name":"[internal] load build definition from Dockerfile","started":"2026-11-22T07:40:30Z","completed":"2026-11-22T07:40:30Z"}]}
{"vertexes":[{"digest":"sha256:140f","name":"[linux/amd64 internal] load metadata for 127.0.0.1:5000/e2e/multi@sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2","started":"2026-11-22T07:40:30Z"}]}
{"vertexes":[{"digest":"sha256:c019","name":"[linux/arm64 1/1] FROM 127.0.0.1:5000/e2e/multi@sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2","started":"2026-11-22T07:40:30Z","completed":"2026-11-22T07:40:31Z","cached":true}]}
{"statuses":[{"id":"sha256:bd6fc6e31f3bd77f18b01b6e1742106de65756ea6bdc6c742e8926a91c6f7541","vertex":"sha256:c019","total":2048,"current":1024}]}
{"statuses":[{"id":"sha256:bd6fc6e31f3bd77f18b01b6e1742106de65756ea6bdc6c742e8926a91c6f7541","vertex":"sha256:c019","total":2048,"current":2048,"completed":"2026-11-22T07:40:31Z"}]}
{"vertexes":[{"digest":"sha256:0a16","name":"exporting to image","started":"2026-11-22T07:40:31Z"}],"statuses":[{"id":"exporting layers","vertex":"sha256:0a16","current":0,"completed":"2026-11-22T07:40:31Z"},{"id":"pushing layers","vertex":"sha256:0a16","current":0}]}
{"vertexes":[{"digest":"sha256:0a16","name":"exporting to image","started":"2026-11-22T07:40:31Z","completed":"2026-11-22T07:40:32Z","error":"failed to push 127.0.0.1:6000/x: 401 Unauthorized"}],"warnings":[{"short":"VGhpbmcgbm90ZWQ="}]}
Dockerfile:1
--------------------
   1 | >>> FROM 127.0.0.1:5000/e2e/multi@sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2
--------------------
ERROR: failed to build: failed to solve: failed to push 127.0.0.1:6000/x: 401 Unauthorized
`

func TestBuildDisplayPlain(t *testing.T) {
	var out bytes.Buffer
	pw := progress.New(&out, progress.Plain)
	var debug []string
	d := newBuildDisplay(pw, func(f string, args ...any) { debug = append(debug, f) }, []string{"linux/amd64", "linux/arm64"})
	if err := d.consume(strings.NewReader(rawjson)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	got := out.String()
	for _, want := range []string{
		"build: load build definition from Dockerfile done\n",
		"linux/arm64: FROM 127.0.0.1:5000/e2e/multi@sha256:f515faf72243 cached\n",
		"linux/arm64: sha256:bd6fc6e31f3b done (2.048kB)\n",
		"export: exporting to image failed\n",
		"warning from BuildKit: Thing noted\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// Steps not finished are not shown as finished; bookkeeping is not shown.
	for _, unwanted := range []string{"load metadata", "exporting layers", "ERROR"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output shows %q:\n%s", unwanted, got)
		}
	}
	if want := "failed to build: failed to solve: failed to push 127.0.0.1:6000/x: 401 Unauthorized"; d.errorText() != want {
		t.Errorf("errorText %q, want %q", d.errorText(), want)
	}
	if len(debug) == 0 {
		t.Error("buildx's own lines were not passed to debugf")
	}
}

func TestBuildDisplayQuiet(t *testing.T) {
	var out bytes.Buffer
	pw := progress.New(&out, progress.Quiet)
	d := newBuildDisplay(pw, func(string, ...any) {}, nil)
	if err := d.consume(strings.NewReader(rawjson)); err != nil {
		t.Fatal(err)
	}
	d.finish()
	pw.Close()
	if out.Len() != 0 {
		t.Errorf("quiet mode wrote %q", out.String())
	}
}

func TestErrorTextWithoutErrorLine(t *testing.T) {
	d := newBuildDisplay(progress.Discard(), func(string, ...any) {}, nil)
	d.line([]byte(`{"vertexes":[{"digest":"sha256:1","name":"x","started":"2026-11-22T07:40:31Z","completed":"2026-11-22T07:40:31Z","error":"step failed"}]}`))
	if got := d.errorText(); got != "step failed" {
		t.Errorf("errorText %q, want the step's error", got)
	}
}

func TestSplitVertexName(t *testing.T) {
	for _, tc := range []struct{ name, group, step string }{
		{"[linux/arm/v7 1/1] FROM a@sha256:f515faf722438b08d57eef52fedb264538d8deb22474c44bf0f1fa19d50a8ec2", "linux/arm/v7", "FROM a@sha256:f515faf72243"},
		{"[linux/amd64 internal] load metadata for a", "linux/amd64", "load metadata for a"},
		{"[internal] load .dockerignore", "build", "load .dockerignore"},
		{"exporting to image", "export", "exporting to image"},
		{"resolving provenance for metadata file", "build", "resolving provenance for metadata file"},
		{"[1/1] FROM a", "", "FROM a"},
	} {
		if g, s := splitVertexName(tc.name); g != tc.group || s != tc.step {
			t.Errorf("splitVertexName(%q) = %q, %q; want %q, %q", tc.name, g, s, tc.group, tc.step)
		}
	}
}

func TestBuildDisplayOnePlatform(t *testing.T) {
	var out bytes.Buffer
	pw := progress.New(&out, progress.Plain)
	d := newBuildDisplay(pw, func(string, ...any) {}, []string{"linux/s390x"})
	d.line([]byte(`{"vertexes":[{"digest":"sha256:1","name":"[1/1] FROM a","started":"2026-11-22T07:40:31Z","completed":"2026-11-22T07:40:31Z"}]}`))
	pw.Close()
	if want := "linux/s390x: FROM a done\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
