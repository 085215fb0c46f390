package commands

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"gotest.tools/v3/golden"

	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/plan"
)

func hash(t *testing.T, hex string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash("sha256:" + strings.Repeat(hex, 64/len(hex)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sampleResult has every field of --format json set, so that the golden
// files show the whole shape.
func sampleResult(t *testing.T) *migrate.Result {
	verified := true
	return &migrate.Result{
		Source:            "docker.io/library/golang:1.25-alpine",
		Destination:       "registry.example.com/mirror/golang:1.25-alpine",
		SourceDigest:      hash(t, "a1").String(),
		DestinationDigest: hash(t, "b2").String(),
		DigestChanged:     true,
		DigestNote:        "platforms were filtered",
		MediaType:         "application/vnd.oci.image.index.v1+json",
		Strategy:          "index",
		Platforms: []plan.PlatformDigest{
			{Platform: "linux/amd64", SourceDigest: hash(t, "c3"), DestinationDigest: hash(t, "c3")},
			{Platform: "linux/arm64/v8", SourceDigest: hash(t, "d4"), DestinationDigest: hash(t, "d4")},
		},
		ContentVerified: &verified,
		Manifests:       migrate.ManifestCounts{Copied: 3, Skipped: 1},
		Blobs:           migrate.Counts{Copied: 4, Mounted: 1, Skipped: 2},
		Bytes:           migrate.Counts{Copied: 4096, Mounted: 1024, Skipped: 2048},
		DurationSeconds: 1.5,
		Attempts:        []migrate.Attempt{{Strategy: "index", Outcome: "succeeded"}},
		PreviousDigest:  hash(t, "e5").String(),
		Referrers:       &migrate.ReferrerCounts{},
	}
}

// TestJSONShape keeps --format json stable: a field renamed, added or
// dropped shows here first. Update with `go test ./commands -update`.
func TestJSONShape(t *testing.T) {
	ok := sampleResult(t)
	src, _ := name.ParseReference("golang:1.25-alpine")
	dst, _ := name.ParseReference("registry.example.com/mirror/golang:1.25-alpine")
	failed := migrate.Failed(&migrate.Result{SourceDigest: ok.SourceDigest, Strategy: "index", Attempts: []migrate.Attempt{
		{Strategy: "index", Outcome: "failed", Class: "fatal", Reason: "unauthorized: run 'docker login registry.example.com'"},
	}}, src, dst, "unauthorized: run 'docker login registry.example.com'")
	for _, tc := range []struct {
		name string
		res  *migrate.Result
	}{
		{"result.golden", ok},
		{"failure.golden", failed},
		{"dryrun.golden", dryRun(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p, err := newPrinter("json", &out)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.print(tc.res, "registry.example.com/mirror/golang:1.25-alpine"); err != nil {
				t.Fatal(err)
			}
			if strings.Count(out.String(), "\n") != 1 {
				t.Errorf("--format json is not one line:\n%s", out.String())
			}
			// The golden file is indented, to be read; the line is compact.
			var indented bytes.Buffer
			if err := json.Indent(&indented, out.Bytes(), "", "  "); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, indented.String(), tc.name)
		})
	}
}

// dryRun is a dry run's result: the plan, every manifest and blob.
func dryRun(t *testing.T) *migrate.Result {
	res := sampleResult(t)
	res.DryRun, res.Attempts, res.Referrers, res.PreviousDigest, res.ContentVerified = true, []migrate.Attempt{}, nil, "", nil
	res.Steps = &migrate.Steps{
		Manifests: []migrate.Step{
			{Digest: hashString("c3"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 480, Platform: "linux/amd64", Action: "copy"},
			{Digest: hashString("d4"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 480, Platform: "linux/arm64/v8", Action: "skip"},
			{Digest: hashString("b2"), MediaType: "application/vnd.oci.image.index.v1+json", Size: 520, Platform: "index", Action: "copy", Tag: "1.25-alpine"},
		},
		Blobs: []migrate.Step{
			{Digest: hashString("f6"), MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 4096, Platform: "linux/amd64", Action: "copy"},
			{Digest: hashString("07"), MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 1024, Platform: "linux/amd64", Action: "mount"},
			{Digest: hashString("18"), MediaType: "application/vnd.oci.image.config.v1+json", Size: 2048, Platform: "linux/arm64/v8", Action: "skip"},
		},
	}
	return res
}

func TestFailedNamesAreFamiliar(t *testing.T) {
	src, _ := name.ParseReference("golang:1.25")
	dst, _ := name.ParseReference("localhost:5000/golang:1.25")
	res := migrate.Failed(nil, src, dst, "boom")
	if res.Source != "docker.io/library/golang:1.25" || res.Destination != "localhost:5000/golang:1.25" {
		t.Errorf("names %q, %q", res.Source, res.Destination)
	}
	if res.Attempts == nil || res.Platforms == nil {
		t.Error("a failure has null lists; want []")
	}
}

func TestTemplateFormat(t *testing.T) {
	for _, tc := range []struct {
		format, want string
	}{
		{"{{.DestinationDigest}}", hashString("b2") + "\n"},
		{"{{.Source}} {{len .Platforms}}", "docker.io/library/golang:1.25-alpine 2\n"},
		{"{{range .Platforms}}{{.Platform}}={{.DestinationDigest}} {{end}}", "linux/amd64=" + hashString("c3") + " linux/arm64/v8=" + hashString("d4") + " \n"},
		{"{{json .Bytes}}", `{"copied":4096,"mounted":1024,"skipped":2048}` + "\n"},
		{"", "registry.example.com/mirror/golang:1.25-alpine@" + hashString("b2") + "\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var out bytes.Buffer
			p, err := newPrinter(tc.format, &out)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.print(sampleResult(t), "registry.example.com/mirror/golang:1.25-alpine"); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
	// A failure prints nothing for a template or the default, its JSON for json.
	for format, want := range map[string]bool{"": false, "{{.DestinationDigest}}": false, "json": true} {
		var out bytes.Buffer
		p, _ := newPrinter(format, &out)
		_ = p.print(&migrate.Result{Error: "boom"}, "x")
		if got := strings.Contains(out.String(), `"error":"boom"`); got != want || !want && out.Len() > 0 {
			t.Errorf("--format %q printed %q for a failure", format, out.String())
		}
	}
}

func hashString(hex string) string { return "sha256:" + strings.Repeat(hex, 64/len(hex)) }

func TestBadFormat(t *testing.T) {
	for f, want := range map[string]string{
		"{{.Nope}}":            "the fields are .Source",
		"{{.DestinationDigest": "use json or a Go template",
		"{{nosuchfunc .}}":     "use json or a Go template",
		"yaml":                 "give json, or a Go template",
		"jsno":                 "give json, or a Go template",
		"DestinationDigest":    "give json, or a Go template",
	} {
		_, err := newPrinter(f, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--format %q: %v, want an error with %q", f, err, want)
		}
	}
}

func TestMetadataFile(t *testing.T) {
	dir := t.TempDir()
	p, _ := newPrinter("", &bytes.Buffer{})
	_ = p.print(sampleResult(t), "x")
	one := filepath.Join(dir, "one.json")
	if err := p.writeMetadata(one, false); err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if b, err := os.ReadFile(one); err != nil || json.Unmarshal(b, &obj) != nil || obj["destinationDigest"] != hashString("b2") {
		t.Errorf("metadata file of one image: %v %v", err, obj)
	}
	several := filepath.Join(dir, "several.json")
	_ = p.print(&migrate.Result{Error: "boom"}, "y")
	if err := p.writeMetadata(several, true); err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if b, err := os.ReadFile(several); err != nil || json.Unmarshal(b, &arr) != nil || len(arr) != 2 || arr[1]["error"] != "boom" {
		t.Errorf("metadata file of a batch: %v %v", err, arr)
	}
	if err := p.writeMetadata(filepath.Join(dir, "missing", "x.json"), false); err == nil {
		t.Error("a metadata file in a missing directory was written")
	}
	if err := p.writeMetadata("", false); err != nil {
		t.Error(err)
	}
}

// A destination named by digest only (a digest-only SRC) loses its digest
// before DST@DIGEST is printed; nothing else is cut.
func TestWithoutDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for in, want := range map[string]string{
		"reg.lan/m/img@" + d:        "reg.lan/m/img",
		"reg.lan/m/img:v1":          "reg.lan/m/img:v1",
		"localhost:5000/img":        "localhost:5000/img",
		"oci-archive:/tmp/a@b/x:v1": "oci-archive:/tmp/a@b/x:v1",
	} {
		if got := withoutDigest(in); got != want {
			t.Errorf("withoutDigest(%q) = %q, want %q", in, got, want)
		}
	}
}
