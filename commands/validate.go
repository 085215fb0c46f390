package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/strategy/manifest"
)

// The checks here run before anything is read or written: each bad input is
// refused with one sentence that says what is wrong and what a valid value
// looks like, and exit code 125.

// changedFlags records which flags the command line set: a flag given an
// empty value (--platform "") is set, though its value is the default's.
func changedFlags(cmd *cobra.Command) map[string]bool {
	changed := map[string]bool{}
	cmd.Flags().Visit(func(f *pflag.Flag) { changed[f.Name] = true })
	return changed
}

// checkArgs refuses, in the positional arguments, what is a flag's value
// read as an image: pflag gives a bare --insecure (or --provenance, --sbom)
// its default, so the HOST in "--insecure HOST SRC DST" becomes a SRC.
// A SRC that is a registry host alone is refused for the same reason.
func checkArgs(opts migrateOptions, args []string) error {
	bareInsecure := slices.Contains(opts.insecure, insecureAll)
	for i, a := range args {
		last := i == len(args)-1
		if !last && opts.changed["platform"] && looksLikePlatform(a) {
			// pflag reads "--platform linux/amd64 linux/arm64" as one platform
			// and an image linux/arm64:latest, which would switch to several
			// images and write under a prefix nobody asked for.
			return fmt.Errorf("%q after --platform is read as an image to copy: list platforms with commas, e.g. --platform %s (an image of that name is written docker.io/%s)",
				a, strings.Join(append(slices.Clone(opts.platforms), a), ","), a)
		}
		for _, f := range []struct {
			name, value string
		}{{"provenance", opts.buildx.provenance}, {"sbom", opts.buildx.sbom}} {
			if opts.changed[f.name] && f.value == "true" && looksLikeAttestValue(a) {
				return fmt.Errorf("%q after a bare --%s is read as an image: write --%s=%s (with '=')", a, f.name, f.name, a)
			}
		}
		if last || !location.NamesRegistry(a) || opts.sync.recursive {
			continue
		}
		if bareInsecure {
			return fmt.Errorf("%q after a bare --insecure is read as an image to copy: write --insecure=%s (with '=') to name the registry", a, a)
		}
		return fmt.Errorf("SRC %q names a registry, not an image: give a repository and tag, e.g. %s/library/nginx:1.27", a, a)
	}
	return nil
}

// platformOS and platformArch are the GOOS and GOARCH values an image index
// names; an argument made of them is a platform, not a repository.
var (
	platformOS   = []string{"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9", "wasip1", "js"}
	platformArch = []string{"amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64", "mipsle", "mips", "loong64", "wasm", "x86_64", "aarch64", "armhf", "armel", "i386"}
)

// looksLikePlatform reports an argument of the form os/arch[/variant], or
// os/arch,os/arch..., which is what the user meant as another --platform.
func looksLikePlatform(s string) bool {
	for _, one := range strings.Split(s, ",") {
		parts := strings.Split(one, "/")
		if len(parts) < 2 || len(parts) > 3 || !slices.Contains(platformOS, parts[0]) || !slices.Contains(platformArch, parts[1]) {
			return false
		}
		if len(parts) == 3 && (strings.Contains(parts[2], ":") || strings.Contains(parts[2], "@")) {
			return false
		}
	}
	return true
}

// looksLikeAttestValue reports a value of --provenance or --sbom, which no
// image reference is: true/false, or KEY=VALUE.
func looksLikeAttestValue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "1", "0":
		return true
	}
	return strings.Contains(s, "=")
}

// flagError turns pflag's parse errors into a sentence that says what the
// flag takes: "invalid --jobs "abc": give a whole number from 1 to 64".
func flagError(err error) error {
	var invalid *pflag.InvalidValueError
	if !errors.As(err, &invalid) {
		return err
	}
	f := invalid.GetFlag()
	v := invalid.GetValue()
	switch {
	case f.Name == "jobs":
		return fmt.Errorf("invalid --jobs %q: give a whole number from 1 to 64, e.g. --jobs 8", v)
	case f.Value.Type() == "bool":
		return fmt.Errorf("invalid --%s=%s: --%s is on or off; write --%s, or --%s=false", f.Name, v, f.Name, f.Name, f.Name)
	case strings.HasPrefix(f.Value.Type(), "int"):
		return fmt.Errorf("invalid --%s %q: give a whole number", f.Name, v)
	}
	return err
}

// checkFlagValues checks the flags whose values are otherwise looked at only
// when something has been read already, or never.
func checkFlagValues(opts migrateOptions) error {
	if opts.changed["platform"] && len(opts.platforms) == 0 {
		return errors.New(`--platform is empty: give os/arch[/variant], e.g. --platform linux/amd64, or leave it out to copy every platform`)
	}
	if err := checkInsecure(opts); err != nil {
		return err
	}
	if err := checkStrategyFlags(opts); err != nil {
		return err
	}
	if opts.changed["tag-suffix"] {
		if err := checkTagSuffix(opts.manifest.tagSuffix); err != nil {
			return err
		}
	}
	if err := checkReferrerTypes(opts); err != nil {
		return err
	}
	if err := checkSyncFlags(opts); err != nil {
		return err
	}
	for _, f := range []struct{ flag, path, example string }{
		{"metadata-file", opts.metadataFile, "result.json"},
		{"failed", opts.batch.failedFile, "failed.txt"},
		{"report", opts.batch.reportFile, "report.jsonl"},
	} {
		if err := checkOutputFile(f.flag, f.path, f.example, opts.changed[f.flag]); err != nil {
			return err
		}
	}
	return nil
}

// checkInsecure checks each --insecure=HOST: a registry host, without a
// path; "http://" and a trailing "/" are forgiven, as docker's
// insecure-registries setting forgives them.
func checkInsecure(opts migrateOptions) error {
	if opts.changed["insecure"] && len(opts.insecure) == 0 {
		return errors.New("--insecure= names no registry: write --insecure=HOST[,HOST], or a bare --insecure for the registries of SRC and DST")
	}
	for _, v := range opts.insecure {
		if v == insecureAll {
			continue
		}
		host := insecureHost(v)
		switch {
		case host == "":
			return fmt.Errorf("invalid --insecure %q: it has an empty entry; write --insecure=HOST[,HOST], e.g. --insecure=registry.lan:5000", strings.Join(opts.insecure, ","))
		case strings.Contains(host, "/"):
			h, _, _ := strings.Cut(host, "/")
			return fmt.Errorf("invalid --insecure %q: it names a repository; give the registry alone, e.g. --insecure=%s", v, h)
		}
		if err := location.CheckHost(host); err != nil {
			return fmt.Errorf("invalid --insecure %q: it has %v", v, err)
		}
		if _, err := name.NewRegistry(host, name.StrictValidation); err != nil {
			return fmt.Errorf("invalid --insecure %q: it is not a registry host; write HOST or HOST:PORT, e.g. --insecure=registry.lan:5000", v)
		}
	}
	return nil
}

// insecureHost is an --insecure value as a registry host.
func insecureHost(v string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(v, "https://"), "http://"), "/")
}

// strategyFlags are the flags only one strategy reads.
var strategyFlags = []struct{ flag, strategy, does string }{
	{"tag-suffix", migrate.StrategyManifest, "names the per-platform tags that strategy pushes"},
	{"builder", migrate.StrategyBuildx, "picks the builder of that strategy"},
	{"buildkit-addr", migrate.StrategyBuildx, "picks the BuildKit of that strategy"},
	{"provenance", migrate.StrategyBuildx, "adds attestations when that strategy rebuilds"},
	{"sbom", migrate.StrategyBuildx, "adds attestations when that strategy rebuilds"},
	{"media-types", migrate.StrategyIndex, "converts manifests as that strategy copies them"},
}

// checkStrategyFlags refuses a flag of one strategy with --strategy naming
// another: it would be silently ignored. With auto, any may run.
func checkStrategyFlags(opts migrateOptions) error {
	if opts.strategy == migrate.StrategyAuto {
		return nil
	}
	for _, f := range strategyFlags {
		if opts.changed[f.flag] && opts.strategy != f.strategy {
			return fmt.Errorf("--%s is for the %s strategy (it %s), but --strategy is %s: drop --%s, or use --strategy %s or auto", f.flag, f.strategy, f.does, opts.strategy, f.flag, f.strategy)
		}
	}
	return nil
}

// suffixChars are what a tag suffix may hold: a tag's characters.
var suffixChars = regexp.MustCompile(`^[\w.-]*$`)

// checkTagSuffix runs the --tag-suffix template for a few platforms, as the
// manifest strategy will once it has pulled them, so that a mistake shows
// before anything is read.
func checkTagSuffix(s string) error {
	t, err := template.New("suffix").Option("missingkey=error").Parse(s)
	if err != nil {
		return fmt.Errorf("invalid --tag-suffix %q: %v; write a Go template over .OS, .Arch and .Variant, e.g. %q", s, strings.TrimPrefix(err.Error(), "template: suffix:"), manifest.DefaultTagSuffix)
	}
	for _, p := range []map[string]string{
		{"OS": "linux", "Arch": "amd64", "Variant": ""},
		{"OS": "linux", "Arch": "arm", "Variant": "v7"},
		{"OS": "windows", "Arch": "arm64", "Variant": "v8"},
	} {
		var b strings.Builder
		if err := t.Execute(&b, p); err != nil {
			return fmt.Errorf("invalid --tag-suffix %q: %v; it may use .OS, .Arch and .Variant, e.g. %q", s, templateError(err), manifest.DefaultTagSuffix)
		}
		if !suffixChars.MatchString(b.String()) || len(b.String()) > 100 {
			return fmt.Errorf("invalid --tag-suffix %q: it makes %q for %s/%s%s, which cannot end a tag; a tag holds letters, digits, '_', '.' and '-', e.g. %q",
				s, b.String(), p["OS"], p["Arch"], variantSuffix(p["Variant"]), manifest.DefaultTagSuffix)
		}
	}
	return nil
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

// mediaTypePattern is a media type as RFC 6838 writes one: type/subtype.
var mediaTypePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)

// checkReferrerTypes checks --referrer-type: media types, none empty.
func checkReferrerTypes(opts migrateOptions) error {
	if opts.changed["referrer-type"] && len(opts.referrers.types) == 0 {
		return errors.New("--referrer-type is empty: give an artifact type, e.g. --referrer-type application/vnd.dev.cosign.artifact.sig.v1+json, or leave it out to copy every referrer")
	}
	for _, t := range opts.referrers.types {
		if !mediaTypePattern.MatchString(t) {
			return fmt.Errorf("invalid --referrer-type %q: an artifact type is a media type, TYPE/SUBTYPE, e.g. application/vnd.dev.cosign.artifact.sig.v1+json", t)
		}
	}
	return nil
}

// checkOutputFile checks that a file a flag names can be written: its
// directory exists, and it is not a directory itself. The file is written
// at the end of the run, which is too late to find out.
func checkOutputFile(flag, path, example string, set bool) error {
	if path == "" {
		if set {
			return fmt.Errorf("--%s is empty: give a file name, e.g. --%s %s", flag, flag, example)
		}
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--%s %s is a directory: give a file name, e.g. --%s %s", flag, path, flag, filepath.Join(path, example))
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--%s %s cannot be written: the directory %s does not exist", flag, path, dir)
	}
	return nil
}

// checkMediaTypes is --media-types: docker, oci, or not given.
func checkMediaTypes(s string) error {
	switch plan.Format(s) {
	case "", plan.FormatDocker, plan.FormatOCI:
		return nil
	}
	return fmt.Errorf("invalid --media-types %q: expected docker or oci", s)
}
