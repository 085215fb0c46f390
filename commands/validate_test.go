package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestCheckArgs(t *testing.T) {
	bare := migrateOptions{insecure: []string{insecureAll}, changed: map[string]bool{"insecure": true}}
	for _, tc := range []struct {
		name string
		opts migrateOptions
		args []string
		want string // "" when accepted
	}{
		{"bare --insecure, SRC DST", bare, []string{"localhost:5000/a:1", "localhost:5000/b"}, ""},
		{"bare --insecure, HOST SRC DST", bare, []string{"registry.lan:5000", "alpine", "registry.lan:5000/alpine"}, "write --insecure=registry.lan:5000"},
		{"bare --insecure, a root DST", bare, []string{"alpine", "localhost:5000"}, ""},
		{"bare --insecure, a Docker Hub SRC with a numeric tag", bare, []string{"redis:7", "localhost:5000/redis"}, ""},
		{"a registry as SRC", migrateOptions{}, []string{"localhost:5000", "localhost:5000/x"}, "names a registry"},
		{"bare --provenance, its value", migrateOptions{buildx: buildxOptions{provenance: "true"}, changed: map[string]bool{"provenance": true}}, []string{"mode=max", "a", "b"}, "--provenance=mode=max"},
		{"--platform with a space, not a comma", migrateOptions{platforms: []string{"linux/amd64"}, changed: map[string]bool{"platform": true}}, []string{"linux/arm64", "alpine", "localhost:5000/alpine"}, "--platform linux/amd64,linux/arm64"},
		{"--platform with a space, a variant", migrateOptions{platforms: []string{"linux/amd64"}, changed: map[string]bool{"platform": true}}, []string{"linux/arm/v7", "alpine", "localhost:5000/alpine"}, "--platform linux/amd64,linux/arm/v7"},
		{"--platform, an image with a tag under linux/", migrateOptions{platforms: []string{"linux/amd64"}, changed: map[string]bool{"platform": true}}, []string{"linux/arm64:1", "localhost:5000/x"}, ""},
		{"--platform, a repository named like a platform is the DST", migrateOptions{platforms: []string{"linux/amd64"}, changed: map[string]bool{"platform": true}}, []string{"alpine", "linux/arm64"}, ""},
		{"no --platform, linux/arm64 is an image", migrateOptions{}, []string{"linux/arm64", "localhost:5000/x"}, ""},
		{"--provenance=true, images", migrateOptions{buildx: buildxOptions{provenance: "true"}, changed: map[string]bool{"provenance": true}}, []string{"a", "b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkArgs(tc.opts, tc.args)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFlagError(t *testing.T) {
	fs := pflag.NewFlagSet("migrate", pflag.ContinueOnError)
	fs.IntP("jobs", "j", 8, "")
	fs.Bool("dry-run", false, "")
	for args, want := range map[string]string{
		"--jobs=abc":      `invalid --jobs "abc": give a whole number from 1 to 64`,
		"--dry-run=maybe": "--dry-run is on or off",
	} {
		err := fs.Parse([]string{args})
		if got := flagError(err); got == nil || !strings.Contains(got.Error(), want) {
			t.Errorf("%s: %v, want %q", args, got, want)
		}
	}
	other := errors.New("unknown flag: --bogus")
	if flagError(other) != other {
		t.Error("flagError changed an error it does not know")
	}
}

func TestCheckTagSuffix(t *testing.T) {
	for s, want := range map[string]string{
		"-{{.Arch}}{{.Variant}}": "",
		"_{{.OS}}-{{.Arch}}":     "",
		"-x":                     "",
		"-{{.Arch":               "Go template",
		"-{{.CPU}}":              `"CPU"`,
		"/{{.Arch}}":             "cannot end a tag",
		"{{.OS}} {{.Arch}}":      "cannot end a tag",
	} {
		err := checkTagSuffix(s)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q refused: %v", s, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an error with %q", s, err, want)
		}
	}
}
