package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBadInput is every bad input the project knows, through the real docker
// CLI: each is refused before anything is read or written, with exit code
// 125 and one sentence on stderr (and docker's "See 'docker migrate --help'."
// line at most) that says what is wrong and what a valid one looks like;
// stdout stays empty, and after all of them the destination registry holds
// nothing and the working directory no new file.
//
// Bad input tested elsewhere, and not repeated here:
//   - TestBatchBadInput (batch_test.go): lists and YAML sync files (missing
//     file, malformed line, three fields, YAML syntax, unknown key, wrong
//     type, credentials, bad regex and semver range, two sources one
//     destination, empty list, bad --report), --shard, a full tag or -f with
//     SRC for several images;
//   - TestArchiveBadInput (archive_test.go): a missing, truncated, non-tar or
//     xz archive, a target directory that does not exist, a target that
//     exists, SRC and DST the same file;
//   - TestFailures (failure_test.go): a malformed reference, --progress bogus;
//   - TestOutput* (output_test.go): --format with a field that does not exist;
//   - auto_test.go: --media-types bogus.
func TestBadInput(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("bad/multi:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	other := src.Ref("bad/other:v1")
	pushFixture(t, src, other, ociIndex.opts, false)
	cli := NewCLI(t)
	// Files the cases read; a case that wrote one would show in the listing
	// checked at the end.
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := file("images.txt", srcRef+"\n")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	adir := filepath.Join(dir, "adir")
	missing := filepath.Join(dir, "nodir", "x")
	hex := strings.Repeat("0123456789abcdef", 4)

	dstRef := dst.Ref("bad/x:v1")
	prefix := dst.Host + "/m"
	// one is SRC DST, the arguments that are good unless a case spoils them.
	one := func(flags ...string) []string { return append(flags, srcRef, dstRef) }

	cases := []struct {
		name  string
		args  []string
		stdin string
		want  []string // each must be in stderr
	}{
		// The arguments.
		{"no arguments", nil, "", []string{"requires at least 2 arguments"}},
		{"one argument", []string{srcRef}, "", []string{"requires at least 2 arguments"}},
		{"-f without DST", []string{"-f", list}, "", []string{"with -f", "one argument, DST"}},

		// References: SRC.
		{"empty SRC", []string{"", dstRef}, "", []string{`SRC: "" is empty`, "e.g. docker.io/library/nginx:1.27"}},
		{"space in SRC", []string{"alpine 3.20", dstRef}, "", []string{"holds a space"}},
		{"newline in SRC", []string{srcRef + "\n", dstRef}, "", []string{"control character"}},
		{"unicode SRC", []string{"ñginx:1.27", dstRef}, "", []string{"holds 'ñ'", "ASCII"}},
		{"uppercase repository", []string{src.Host + "/Bad/Multi:v1", dstRef}, "", []string{"uppercase", "lowercase"}},
		{"200-character tag", []string{src.Ref("bad/multi:" + strings.Repeat("t", 200)), dstRef}, "", []string{"a tag of 200 characters", "1 to 128"}},
		{"tag with a bang", []string{"nginx:1.27!", dstRef}, "", []string{`invalid tag "1.27!"`}},
		{"tag starting with a dot", []string{"nginx:.hidden", dstRef}, "", []string{`invalid tag ".hidden"`, "does not start with '.'"}},
		{"empty tag", []string{"nginx:", dstRef}, "", []string{`invalid tag ""`}},
		{"short digest", []string{"nginx@sha256:abc", dstRef}, "", []string{"invalid digest", "64 lowercase hex digits"}},
		{"digest without algorithm", []string{"nginx@" + hex, dstRef}, "", []string{"invalid digest"}},
		{"uppercase digest", []string{"nginx@sha256:" + strings.ToUpper(hex), dstRef}, "", []string{"invalid digest"}},
		{"image ID", []string{hex, dstRef}, "", []string{"image ID", "repository and tag"}},
		{"only a tag", []string{":v1", dstRef}, "", []string{"no repository name"}},
		{"only a digest", []string{"@sha256:" + hex, dstRef}, "", []string{"no repository name"}},
		{"double slash", []string{src.Host + "//bad/multi:v1", dstRef}, "", []string{"not a valid image reference", "NAME[:TAG][@DIGEST]"}},
		{"trailing slash", []string{src.Host + "/bad/multi/", dstRef}, "", []string{"not a valid image reference"}},
		{"leading dash", []string{"--", "-alpine", dstRef}, "", []string{"not a valid image reference"}},
		{"repository name too long", []string{src.Ref(strings.Repeat("r", 300) + ":v1"), dstRef}, "", []string{"over 255 characters"}},
		{"http scheme", []string{"http://" + srcRef, dstRef}, "", []string{`the scheme "http://"`, "drop it", "e.g. " + srcRef}},
		{"https scheme", []string{"https://" + srcRef, dstRef}, "", []string{`the scheme "https://"`, "drop it"}},
		{"docker scheme", []string{"docker://alpine:3.20", dstRef}, "", []string{`the scheme "docker://"`, "e.g. alpine:3.20"}},
		{"relative file", []string{"./image.tar", dstRef}, "", []string{"is a file", "docker-archive:./image.tar", "oci-archive:./image.tar"}},
		{"absolute file", []string{"/tmp/image.tar.gz", dstRef}, "", []string{"docker-archive:/tmp/image.tar.gz"}},
		{"bare file name", []string{"image.tar", dstRef}, "", []string{"is a file", "docker-archive:image.tar"}},
		{"home file", []string{"~/images/app.tar.zst", dstRef}, "", []string{"oci-archive:~/images/app.tar.zst"}},
		{"directory", []string{"./layout", dstRef}, "", []string{"is a path", "oci:./layout"}},
		{"port out of range", []string{"localhost:99999/bad/multi:v1", dstRef}, "", []string{"the port 99999, which is out of range", "1 to 65535"}},
		{"port zero", []string{"localhost:0/bad/multi:v1", dstRef}, "", []string{"the port 0"}},
		{"SRC is a registry", []string{src.Host, dstRef}, "", []string{"names a registry, not an image", src.Host + "/library/nginx:1.27"}},
		{"SRC is a domain", []string{"registry.example.com", dstRef}, "", []string{"names a registry"}},
		{"SRC transport without path", []string{"oci:", dstRef}, "", []string{"names no path", "oci:./images"}},
		{"digest-only SRC into untagged DST", []string{src.Ref("bad/multi@" + digest.String()), dst.Ref("bad/x")}, "", []string{"needs a tag", "pinned by digest"}},

		// References: DST.
		{"empty DST", []string{srcRef, ""}, "", []string{`DST: "" is empty`}},
		{"tab in DST", []string{srcRef, dstRef + "\t"}, "", []string{"control character"}},
		{"unicode DST", []string{srcRef, dst.Ref("café:v1")}, "", []string{"holds 'é'"}},
		{"uppercase DST", []string{srcRef, dst.Ref("Bad/X:v1")}, "", []string{"uppercase"}},
		{"scheme in DST", []string{srcRef, "https://" + dstRef}, "", []string{"drop it", "e.g. " + dstRef}},
		{"DST is a file", []string{srcRef, "out.tar"}, "", []string{"docker-archive:out.tar"}},
		{"DST is a directory", []string{srcRef, "./out"}, "", []string{"oci:./out"}},
		{"DST with a digest", []string{srcRef, dst.Ref("bad/x@sha256:" + hex)}, "", []string{"give a tag, not a digest"}},
		{"DST port out of range", []string{srcRef, "localhost:99999/bad/x:v1"}, "", []string{"the port 99999"}},
		{"DST registry port out of range", []string{srcRef, "localhost:70000"}, "", []string{"the port 70000", "1 to 65535"}},
		{"DST registry port zero", []string{srcRef, "localhost:0"}, "", []string{"the port 0"}},
		{"DST registry with a tag", []string{srcRef, dst.Host + ":v1"}, "", []string{"not a valid image reference"}},
		{"DST transport without path", []string{srcRef, "docker-archive:"}, "", []string{"names no path", "docker-archive:images.tar"}},

		// References: several images.
		{"several into a digest", []string{srcRef, other, dst.Ref("m@sha256:" + hex)}, "", []string{"names a digest", "several images"}},
		{"several into an uppercase prefix", []string{srcRef, other, dst.Host + "/Mirror"}, "", []string{"uppercase"}},
		{"several into a prefix with a scheme", []string{srcRef, other, "https://" + prefix}, "", []string{"drop it"}},
		{"several into a prefix, port out of range", []string{srcRef, other, "localhost:99999/m"}, "", []string{"the port 99999"}},
		{"several, one a registry", []string{srcRef, src.Host, prefix}, "", []string{"names a registry, not an image"}},
		{"several, one a scheme", []string{srcRef, "docker://" + other, prefix}, "", []string{"drop it"}},

		// A flag's value read as an image (pflag's optional values).
		{"--insecure HOST SRC DST", []string{"--insecure", src.Host, srcRef, dstRef}, "", []string{"--insecure=" + src.Host, "with '='"}},
		{"--insecure HOST SRC", []string{"--insecure", src.Host, srcRef}, "", []string{"--insecure=" + src.Host}},
		{"--insecure HOST -f LIST DST", []string{"--insecure", src.Host, "-f", list, prefix}, "", []string{"--insecure=" + src.Host}},
		{"--provenance VALUE SRC DST", one("--provenance", "mode=max"), "", []string{"--provenance=mode=max"}},
		{"--sbom VALUE SRC DST", one("--sbom", "true"), "", []string{"--sbom=true"}},

		// --insecure values.
		{"--insecure empty", one("--insecure="), "", []string{"names no registry", "--insecure=HOST"}},
		{"--insecure empty entries", one("--insecure=,,"), "", []string{"empty entry"}},
		{"--insecure with a path", one("--insecure=" + src.Host + "/bad"), "", []string{"names a repository", "--insecure=" + src.Host}},
		{"--insecure port out of range", one("--insecure=localhost:99999"), "", []string{"the port 99999"}},
		{"--insecure with a space", one("--insecure=a b"), "", []string{"not a registry host"}},

		// --platform.
		{"--platform empty", one("--platform", ""), "", []string{"--platform is empty", "leave it out to copy every platform"}},
		{"--platform commas", one("--platform", ",,,"), "", []string{"empty entry", "linux/amd64,linux/arm64"}},
		{"--platform trailing comma", one("--platform", "linux/amd64,"), "", []string{"empty entry"}},
		{"--platform twice in a list", one("--platform", "linux/amd64,linux/amd64"), "", []string{`"linux/amd64" is named twice`}},
		{"--platform repeated", one("--platform", "linux/amd64", "--platform", "linux/amd64"), "", []string{"named twice"}},
		{"--platform same by default variant", one("--platform", "linux/arm64,linux/arm64/v8"), "", []string{"the same platform"}},
		{"--platform same but case", one("--platform", "linux/amd64,LINUX/AMD64"), "", []string{"the same platform"}},
		{"--platform OS alone", one("--platform", "linux"), "", []string{`invalid platform "linux"`, "os/arch[/variant]"}},
		{"--platform four parts", one("--platform", "linux/arm/v7/x"), "", []string{"os/arch[/variant]"}},
		{"--platform with a space, not a comma", []string{"--platform", "linux/amd64", "linux/arm64", srcRef, prefix}, "", []string{`"linux/arm64" after --platform`, "--platform linux/amd64,linux/arm64"}},
		{"--platform no OS", one("--platform", "/amd64"), "", []string{"os/arch[/variant]"}},
		{"--platform space", one("--platform", "linux/amd 64"), "", []string{`"amd 64" holds a character`}},
		{"--platform OS version", one("--platform", "windows(10.0.20348)/amd64"), "", []string{"holds a character"}},

		// Numbers and switches.
		{"--jobs word", one("--jobs", "abc"), "", []string{`invalid --jobs "abc"`, "1 to 64"}},
		{"--jobs empty", one("--jobs", ""), "", []string{"invalid --jobs", "1 to 64"}},
		{"--jobs fraction", one("--jobs", "1.5"), "", []string{`invalid --jobs "1.5"`}},
		{"--jobs zero", one("--jobs", "0"), "", []string{"invalid --jobs 0", "1 to 64"}},
		{"--jobs negative", one("-j", "-1"), "", []string{"invalid --jobs -1"}},
		{"--jobs too many", one("--jobs", "65"), "", []string{"invalid --jobs 65"}},
		{"--dry-run with a value", one("--dry-run=maybe"), "", []string{"--dry-run is on or off"}},
		{"unknown flag", one("--bogus"), "", []string{"unknown flag: --bogus"}},
		{"flag without its value", append([]string{srcRef, dstRef}, "--platform"), "", []string{"--platform"}},

		// Words.
		{"--progress empty", one("--progress", ""), "", []string{"invalid --progress", "plain"}},
		{"--format yaml", one("--format", "yaml"), "", []string{`invalid --format "yaml"`, "give json, or a Go template"}},
		{"--format unknown field", one("--format", "{{.Digest}}"), "", []string{"invalid --format", "the fields are", ".DestinationDigest"}},
		{"--format unclosed", one("--format", "{{.DestinationDigest"), "", []string{"invalid --format", "json or a Go template"}},
		{"--strategy bogus", one("--strategy", "fast"), "", []string{`invalid --strategy "fast"`, "auto, index, manifest or buildx"}},
		{"--strategy empty", one("--strategy", ""), "", []string{"invalid --strategy"}},
		{"--media-types uppercase", one("--media-types", "OCI"), "", []string{`invalid --media-types "OCI"`, "docker or oci"}},

		// Flags of another strategy than --strategy names.
		{"--tag-suffix with index", one("--strategy", "index", "--tag-suffix", "-{{.Arch}}"), "", []string{"--tag-suffix is for the manifest strategy", "--strategy is index"}},
		{"--tag-suffix with buildx", one("--strategy", "buildx", "--tag-suffix", "-{{.Arch}}"), "", []string{"--tag-suffix is for the manifest strategy"}},
		{"--media-types with manifest", one("--strategy", "manifest", "--media-types", "oci"), "", []string{"--media-types is for the index strategy"}},
		{"--builder with index", one("--strategy", "index", "--builder", "default"), "", []string{"--builder is for the buildx strategy"}},
		{"--buildkit-addr with manifest", one("--strategy", "manifest", "--buildkit-addr", "tcp://127.0.0.1:1234"), "", []string{"--buildkit-addr is for the buildx strategy"}},
		{"--provenance with index", one("--strategy", "index", "--provenance=mode=max"), "", []string{"--provenance is for the buildx strategy"}},
		{"--sbom with manifest", one("--strategy", "manifest", "--sbom"), "", []string{"--sbom is for the buildx strategy"}},
		{"--builder and --buildkit-addr", one("--builder", "default", "--buildkit-addr", "tcp://127.0.0.1:1234"), "", []string{"pass one of them"}},

		// --tag-suffix, checked before any engine is asked.
		{"--tag-suffix unclosed", one("--tag-suffix", "-{{.Arch"), "", []string{"invalid --tag-suffix", "Go template"}},
		{"--tag-suffix unknown field", one("--tag-suffix", "-{{.CPU}}"), "", []string{"invalid --tag-suffix", `"CPU"`, ".OS, .Arch and .Variant"}},
		{"--tag-suffix slash", one("--tag-suffix", "/{{.Arch}}"), "", []string{"invalid --tag-suffix", `"/amd64"`, "cannot end a tag"}},
		{"--tag-suffix quotes", one("--tag-suffix", `-{{printf "%q" .Arch}}`), "", []string{"cannot end a tag"}},

		// --referrer-type.
		{"--referrer-type not a media type", one("--referrers", "--referrer-type", "sig"), "", []string{`invalid --referrer-type "sig"`, "TYPE/SUBTYPE"}},
		{"--referrer-type empty", one("--referrer-type", ""), "", []string{"--referrer-type is empty"}},

		// Files the run writes at its end, checked at its start.
		{"--metadata-file in a missing directory", one("--metadata-file", missing), "", []string{"--metadata-file " + missing, "does not exist"}},
		{"--metadata-file a directory", one("--metadata-file", adir), "", []string{"is a directory", filepath.Join(adir, "result.json")}},
		{"--metadata-file empty", one("--metadata-file", ""), "", []string{"--metadata-file is empty"}},
		{"--failed in a missing directory", []string{"--failed", missing, srcRef, other, prefix}, "", []string{"--failed " + missing}},
		{"--report in a missing directory", []string{"--report", missing, srcRef, other, prefix}, "", []string{"--report " + missing}},
		{"--report a directory", []string{"--report", adir, srcRef, other, prefix}, "", []string{"--report " + adir + " is a directory"}},

		// Lists and sync files: what a reference argument gets, on a line.
		{"list line with a scheme", []string{"-f", file("scheme.txt", "https://"+srcRef+"\n"), prefix}, "", []string{"scheme.txt line 1", "drop it"}},
		{"list line a file", []string{"-f", file("file.txt", srcRef+"\n./image.tar\n"), prefix}, "", []string{"file.txt line 2", "docker-archive:./image.tar"}},
		{"list line port out of range", []string{"-f", file("port.txt", "localhost:99999/x:1\n"), prefix}, "", []string{"port.txt line 1", "the port 99999"}},
		{"list line unicode", []string{"-f", file("unicode.txt", "nginx:1.27\nbusybox:1.36ü\n"), prefix}, "", []string{"unicode.txt line 2", "holds 'ü'"}},
		{"list line a registry", []string{"-f", file("registry.txt", src.Host+"\n"), prefix}, "", []string{"registry.txt line 1", "names a registry"}},
		{"list target uppercase", []string{"-f", file("target.txt", srcRef+" Mirror/x\n"), prefix}, "", []string{"target.txt line 1", "uppercase"}},
		{"list target digest", []string{"-f", file("tdigest.txt", srcRef+" m/x@sha256:"+hex+"\n"), prefix}, "", []string{"tdigest.txt line 1", "digest"}},
		{"list on stdin empty", []string{"-f", "-", prefix}, "", []string{"no images"}},
		{"list is a directory", []string{"-f", adir, prefix}, "", []string{adir}},
		{"list is binary", []string{"-f", file("binary.txt", "\x00\x01\x02\xff\xfe"), prefix}, "", []string{"binary.txt line 1"}},
		{"sync platform bad", []string{"-f", file("plat.yaml", "sync:\n  - source: "+srcRef+"\n    platforms: [linux]\n"), prefix}, "", []string{"plat.yaml line 3", `platform "linux" is not os/arch[/variant]`}},
		{"sync platform twice", []string{"-f", file("plat2.yaml", "sync:\n  - source: "+srcRef+"\n    platforms: [linux/amd64, linux/amd64]\n"), prefix}, "", []string{"plat2.yaml line 2", "named twice"}},
		{"sync platform empty", []string{"-f", file("plat3.yaml", "sync:\n  - source: "+srcRef+"\n    platforms: [\"\"]\n"), prefix}, "", []string{"plat3.yaml line 3", "empty entry"}},
		{"sync source a file", []string{"-f", file("srcfile.yaml", "sync:\n  - source: ./image.tar\n"), prefix}, "", []string{"srcfile.yaml line 2", "docker-archive:./image.tar"}},
		{"sync target scheme", []string{"-f", file("tscheme.yaml", "sync:\n  - source: "+srcRef+"\n    target: docker://x/y\n"), prefix}, "", []string{"tscheme.yaml line 3", "drop it"}},
		{"sync platforms with a comma too many", []string{"-f", file("plat4.yaml", "defaults:\n  platforms: linux/amd64,\nsync:\n  - source: "+srcRef+"\n"), prefix}, "", []string{"plat4.yaml line 2", "empty entry"}},
		{"sync platform uppercase", []string{"-f", file("plat5.yaml", "sync:\n  - source: "+srcRef+"\n    platforms: [LINUX/AMD64]\n"), prefix}, "", []string{"plat5.yaml line 3", "lowercase"}},
		{"list and platform flag", []string{"-f", list, "--platform", "linux/amd64,,", prefix}, "", []string{"empty entry"}},

		// An archive DST that is a directory: said at once, --force or not.
		{"oci-archive DST a directory", []string{srcRef, "oci-archive:" + adir}, "", []string{adir + " is a directory", "oci:" + adir}},
		{"oci-archive DST a directory, --force", []string{"--force", srcRef, "oci-archive:" + adir}, "", []string{adir + " is a directory"}},

		// An archive DST that cannot hold what is asked.
		{"docker-archive of several platforms", []string{srcRef, "docker-archive:" + filepath.Join(dir, "out.tar")}, "", []string{"one platform per image", "has 8", "--platform linux/amd64"}},
		{"docker-archive of several from a list", []string{"-f", list, "docker-archive:" + filepath.Join(dir, "out.tar")}, "", []string{"one platform per image", "images.txt line 1"}},
		{"docker-archive, two platforms asked", []string{"--platform", "linux/amd64,linux/arm64", srcRef, "docker-archive:" + filepath.Join(dir, "out.tar")}, "", []string{"one platform per image", "give one --platform"}},
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("two cases named %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			res := cli.RunDockerStdin(t, c.stdin, append([]string{"migrate"}, c.args...)...).AssertExit(t, 125)
			for _, w := range c.want {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.Stderr)
				}
			}
			assertUsageSentence(t, res)
		})
	}
	t.Logf("%d bad inputs refused", len(cases))
	if repos := catalogOf(t, dst); len(repos) != 0 {
		t.Errorf("bad input wrote %v", repos)
	}
	assertFiles(t, dir, "adir", "images.txt", "scheme.txt", "file.txt", "port.txt", "unicode.txt", "registry.txt", "target.txt", "tdigest.txt",
		"binary.txt", "plat.yaml", "plat2.yaml", "plat3.yaml", "plat4.yaml", "plat5.yaml", "srcfile.yaml", "tscheme.yaml")
	if entries, _ := os.ReadDir(cli.HomeDir); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.Contains(e.Name(), "out") }) {
		t.Errorf("bad input left a file in %s: %v", cli.HomeDir, entries)
	}
}

// TestBadInputNeighbours: inputs next to refused ones, which must still work.
// A DST that is a registry alone takes one image as it takes several, under
// its repository path (docker would read "HOST:PORT" as the Docker Hub image
// library/HOST:PORT); platforms are case-insensitive, as for docker; a bare
// --insecure before DST, and --insecure=HOST, are what they were.
func TestBadInputNeighbours(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("near/multi:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	cli := NewCLI(t)

	res := cli.RunDocker(t, "migrate", srcRef, dst.Host).AssertSuccess(t)
	assertDigest(t, dst, dst.Ref("near/multi:v1"), digest)
	if !strings.Contains(res.Stdout, dst.Ref("near/multi:v1")+"@"+digest.String()) {
		t.Errorf("stdout does not name the image under the registry's root:\n%s", res.Stdout)
	}

	res = cli.RunDocker(t, "migrate", "--platform", "LINUX/AMD64", "--format", "{{json .Platforms}}", srcRef, dst.Ref("near/amd64:v1")).AssertSuccess(t)
	if !strings.Contains(res.Stdout, "linux/amd64") || strings.Contains(res.Stdout, "arm64") {
		t.Errorf("--platform LINUX/AMD64 did not copy linux/amd64 alone:\n%s", res.Stdout)
	}

	cli.RunDocker(t, "migrate", "--dry-run", srcRef, "--insecure", dst.Ref("near/bare:v1")).AssertSuccess(t)
	cli.RunDocker(t, "migrate", "--dry-run", "--insecure="+src.Host, srcRef, dst.Ref("near/eq:v1")).AssertSuccess(t)
}
