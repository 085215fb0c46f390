package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// The tests here put a quirk proxy (internal/testutil/quirk) in front of a
// real registry and check what --strategy auto makes of each quirk: which
// strategy wins, or the one line that says why none can; that the result is
// complete with the source's content; and that a failure leaves the
// destination tag as it was.

// quirkSource is a small OCI index with attestations and gzip layers, enough
// to show every kind of manifest and a blob shared by all platforms.
var quirkSource = fixture.Options{Platforms: fixture.EightPlatforms()[:3], Attestations: true, LayerSize: tinyLayer, Seed: 51}

// attempt is one entry of --format json's attempts list.
type attempt struct {
	Strategy string `json:"strategy"`
	Outcome  string `json:"outcome"`
	Class    string `json:"class"`
	Reason   string `json:"reason"`
}

func (a attempt) String() string {
	s := a.Strategy + " " + a.Outcome
	if a.Class != "" {
		s += " " + a.Class
	}
	return s
}

// autoReport is the JSON output with the attempts list.
type autoReport struct {
	migrateReport
	Attempts []attempt
}

func parseAutoReport(t testing.TB, res Result) autoReport {
	t.Helper()
	r := autoReport{migrateReport: parseReport(t, res)}
	var raw struct {
		Attempts *[]attempt `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &raw); err != nil {
		t.Fatalf("decode JSON output: %v\n%s", err, res)
	}
	if raw.Attempts == nil {
		t.Fatalf("JSON output has no attempts list:\n%s", res)
	}
	r.Attempts = *raw.Attempts
	for _, a := range r.Attempts {
		switch a.Outcome {
		case "failed":
			if a.Class == "" || a.Reason == "" {
				t.Errorf("failed attempt %s without a class or a reason: %+v", a.Strategy, a)
			}
		case "skipped":
			if a.Class != "" || a.Reason == "" {
				t.Errorf("skipped attempt %s: %+v, want a reason and no class", a.Strategy, a)
			}
		case "succeeded":
			if a.Class != "" {
				t.Errorf("succeeded attempt %s has class %q", a.Strategy, a.Class)
			}
		default:
			t.Errorf("attempt %s: outcome %q, want failed, skipped or succeeded", a.Strategy, a.Outcome)
		}
	}
	return r
}

// assertAttempts compares the attempts with want, one entry per attempt as
// "strategy outcome [class]"; an entry may give alternatives separated by |.
func assertAttempts(t testing.TB, got []attempt, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = slices.Contains(strings.Split(want[i], "|"), got[i].String())
	}
	if !ok {
		var g []string
		for _, a := range got {
			g = append(g, a.String())
		}
		t.Errorf("attempts [%s], want [%s]\n%+v", strings.Join(g, ", "), strings.Join(want, ", "), got)
	}
}

// findLine returns the first stderr line that starts with prefix.
func findLine(res Result, prefix string) (string, bool) {
	for _, l := range stderrLines(res) {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// assertFallbackLine checks the line auto prints when it leaves a strategy:
// "FROM strategy failed (CLASS): REASON; trying TO". With to empty (every
// later strategy was skipped) the line only has to start that way.
func assertFallbackLine(t testing.TB, res Result, from, class, to string) {
	t.Helper()
	prefix := fmt.Sprintf("%s strategy failed (%s): ", from, class)
	l, ok := findLine(res, prefix)
	if !ok {
		t.Errorf("stderr has no line %q…; trying %s:\n%s", prefix, to, res)
		return
	}
	if to == "" {
		return
	}
	reason, found := strings.CutSuffix(strings.TrimPrefix(l, prefix), "; trying "+to)
	if !found || strings.TrimSpace(reason) == "" {
		t.Errorf("fallback line %q does not end with a reason and \"; trying %s\"\n%s", l, to, res)
	}
}

// assertSkipLine checks "skipping STRATEGY strategy: REASON".
func assertSkipLine(t testing.TB, res Result, strategy string) string {
	t.Helper()
	prefix := "skipping " + strategy + " strategy: "
	l, ok := findLine(res, prefix)
	if !ok || strings.TrimSpace(strings.TrimPrefix(l, prefix)) == "" {
		t.Errorf("stderr has no line %q with a reason:\n%s", prefix+"REASON", res)
	}
	return strings.TrimPrefix(l, prefix)
}

// assertDoneLine checks that the last stderr line of a run without --format
// json says which strategy won and whether the digest changed; strategy may
// give alternatives separated by |.
func assertDoneLine(t testing.TB, res Result, strategy string, changed bool) {
	t.Helper()
	lines := stderrLines(res)
	last := ""
	if len(lines) > 0 {
		last = lines[len(lines)-1]
	}
	// An up-to-date image says so, whichever strategy would have copied it.
	if _, rest, ok := strings.Cut(last, " is up to date; "); ok && strings.HasPrefix(last, "Done: ") {
		if !changed && rest == "the digest is unchanged." || changed && strings.HasPrefix(rest, "its digest differs from the source's (") {
			return
		}
	}
	for _, s := range strings.Split(strategy, "|") {
		if !changed && last == "Done with the "+s+" strategy; the digest is unchanged." {
			return
		}
		why, ok := strings.CutPrefix(last, "Done with the "+s+" strategy; the digest differs from the source (")
		if changed && ok && strings.HasSuffix(why, ").") && len(why) > 2 {
			return
		}
	}
	want := "Done with the " + strategy + " strategy; the digest is unchanged."
	if changed {
		want = "Done with the " + strategy + " strategy; the digest differs from the source (WHY)."
	}
	t.Errorf("last stderr line %q, want %q\n%s", last, want, res)
}

// mediaTypes returns the media type of ref and those of its children.
func mediaTypes(t testing.TB, r *Registry, ref string) (types.MediaType, []types.MediaType) {
	t.Helper()
	ctx := checkContext(t)
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(parsed, r.remoteOptions(ctx)...)
	if err != nil {
		t.Fatalf("GET %s: %v", ref, err)
	}
	if !desc.MediaType.IsIndex() {
		return desc.MediaType, nil
	}
	im, err := v1.ParseIndexManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	var children []types.MediaType
	for _, m := range im.Manifests {
		children = append(children, m.MediaType)
	}
	return desc.MediaType, children
}

// assertSameContent checks that dstRef (in dst) is complete and has the
// source's platforms, and, when it was converted or re-created, the source's
// diff_ids and no attestations.
func assertSameContent(t *testing.T, src *Registry, srcRef string, dst *Registry, dstRef string, recreated bool) {
	t.Helper()
	assertComplete(t, dst, dstRef)
	s, d := readIndex(t, src, srcRef), readIndex(t, dst, dstRef)
	if !slices.Equal(s.Platforms, d.Platforms) {
		t.Errorf("platforms %v, source %v", d.Platforms, s.Platforms)
	}
	if !recreated {
		if d.Digest != s.Digest {
			t.Errorf("digest %s, source %s", d.Digest, s.Digest)
		}
		return
	}
	if len(d.Attestations) != 0 || d.Manifests != len(d.Platforms) {
		t.Errorf("%d manifests, %d attestations: want only the %d platform images", d.Manifests, len(d.Attestations), len(d.Platforms))
	}
	if got, want := diffIDs(t, dst, dstRef), diffIDs(t, src, srcRef); !equalDiffIDs(got, want) {
		t.Errorf("diff_ids differ from the source's:\n got %v\nwant %v", got, want)
	}
}

// seedTag points ref in r at a small image of its own and returns its digest,
// so that a test can check a failure left the tag alone.
func seedTag(t testing.TB, r *Registry, ref string, seed int64) v1.Hash {
	t.Helper()
	return pushFixture(t, r, ref, fixture.Options{LayerSize: tinyLayer, Seed: seed, Docker: true}, true)
}

// TestAutoNoOCI: a registry that refuses OCI media types. auto falls back to
// the index copy converted to Docker media types; --strategy index alone
// fails and names the quirk.
func TestAutoNoOCI(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	srcDigest := pushFixture(t, src, srcRef, quirkSource, false)
	dockerRef := src.Ref("e2e/docker:v1")
	dockerDigest := pushFixture(t, src, dockerRef, fixtureCases[1].opts, false)
	cli := NewCLI(t)

	t.Run("auto falls back to index-docker", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{NoOCI: true})
		res := cli.RunDocker(t, "migrate", "--progress", "plain", srcRef, p.Ref("auto/app:v1")).AssertSuccess(t)
		digest := resultDigest(t, res, p.Ref("auto/app:v1"))
		if digest == srcDigest {
			t.Errorf("digest unchanged %s; a conversion to Docker media types changes it", digest)
		}
		assertFallbackLine(t, res, "index", "oci-rejected", "index-docker")
		assertDoneLine(t, res, "index-docker", true)
		dstRef := dst.Ref("auto/app:v1")
		assertDigest(t, dst, dstRef, digest)
		assertSameContent(t, src, srcRef, dst, dstRef, true)
		root, children := mediaTypes(t, dst, dstRef)
		if root != types.DockerManifestList || slices.ContainsFunc(children, func(m types.MediaType) bool { return m != types.DockerManifestSchema2 }) {
			t.Errorf("media types %s %v, want a Docker manifest list of Docker manifests", root, children)
		}
		if s := p.Stats(); s.OCIRejected == 0 {
			t.Errorf("the proxy refused no OCI manifest: %s", s)
		}

		// The same, as JSON: the attempts, and the same converted digest.
		res = cli.RunDocker(t, "migrate", "--format", "json", srcRef, p.Ref("auto/app:json")).AssertSuccess(t)
		r := parseAutoReport(t, res)
		assertAttempts(t, r.Attempts, "index failed oci-rejected", "index-docker succeeded")
		if r.Strategy != "index-docker" || !r.DigestChanged || r.DestinationDigest != digest.String() || r.MediaType != string(types.DockerManifestList) {
			t.Errorf("strategy %q, digestChanged %v, destinationDigest %s (first run %s), mediaType %s", r.Strategy, r.DigestChanged, r.DestinationDigest, digest, r.MediaType)
		}
		assertDigest(t, dst, dst.Ref("auto/app:json"), digest)
	})

	t.Run("--strategy index fails and names the quirk", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{NoOCI: true})
		before := seedTag(t, dst, dst.Ref("explicit/app:v1"), 301)
		res := cli.RunDocker(t, "migrate", "--strategy", "index", srcRef, p.Ref("explicit/app:v1")).AssertExit(t, 1)
		if res.Stdout != "" {
			t.Errorf("a failure wrote on stdout:\n%s", res)
		}
		lines := stderrLines(res)
		if len(lines) == 0 {
			t.Fatalf("nothing on stderr:\n%s", res)
		}
		last := lines[len(lines)-1]
		for _, want := range []string{"OCI", p.Host, "--media-types docker"} {
			if !strings.Contains(last, want) {
				t.Errorf("the last line lacks %q: %q", want, last)
			}
		}
		assertNoLine(t, res, "trying")
		assertDigest(t, dst, dst.Ref("explicit/app:v1"), before)
		if s := p.Stats(); s.OCIRejected == 0 || s.ManifestPuts[quirk.DockerManifest]+s.ManifestPuts[quirk.DockerManifestList] != 0 {
			t.Errorf("want OCI manifests refused and no Docker ones tried: %s, PUTs %v", s, s.ManifestPuts)
		}
	})

	t.Run("--strategy index --media-types docker", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{NoOCI: true})
		res := cli.RunDocker(t, "migrate", "--strategy", "index", "--media-types", "docker", srcRef, p.Ref("converted/app:v1")).AssertSuccess(t)
		digest := resultDigest(t, res, p.Ref("converted/app:v1"))
		if digest == srcDigest {
			t.Errorf("digest unchanged after a conversion")
		}
		// The contract names the index strategy; index-docker says the same.
		assertDoneLine(t, res, "index|index-docker", true)
		assertSameContent(t, src, srcRef, dst, dst.Ref("converted/app:v1"), true)
		if s := p.Stats(); s.OCIRejected != 0 {
			t.Errorf("it sent OCI manifests: %s", s)
		}
	})

	t.Run("a Docker image needs no fallback", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{NoOCI: true})
		res := cli.RunDocker(t, "migrate", "--format", "json", dockerRef, p.Ref("docker/app:v1")).AssertSuccess(t)
		r := parseAutoReport(t, res)
		assertAttempts(t, r.Attempts, "index succeeded")
		if r.Strategy != "index" || r.DigestChanged || r.DestinationDigest != dockerDigest.String() {
			t.Errorf("strategy %q, digestChanged %v, destinationDigest %s; want index, the source's %s", r.Strategy, r.DigestChanged, r.DestinationDigest, dockerDigest)
		}
		assertSameContent(t, src, dockerRef, dst, dst.Ref("docker/app:v1"), false)

		res = cli.RunDocker(t, "migrate", "--progress", "plain", dockerRef, p.Ref("docker/app:plain")).AssertSuccess(t)
		assertResultLine(t, res, p.Ref("docker/app:plain"), dockerDigest)
		assertNoLine(t, res, "trying")
		assertDoneLine(t, res, "index", false)
	})
}

// TestMediaTypes converts while copying with --media-types, without quirks.
func TestMediaTypes(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	dockerRef := src.Ref("e2e/docker:v1")
	dockerDigest := pushFixture(t, src, dockerRef, fixtureCases[1].opts, false)
	cli := NewCLI(t)

	dstRef := dst.Ref("oci/app:v1")
	res := cli.RunDocker(t, "migrate", "--format", "json", "--media-types", "oci", dockerRef, dstRef).AssertSuccess(t)
	r := parseAutoReport(t, res)
	// The contract names the index strategy; index-oci says the same.
	if (r.Strategy != "index" && r.Strategy != "index-oci") || !r.DigestChanged || r.DestinationDigest == dockerDigest.String() || r.MediaType != string(types.OCIImageIndex) {
		t.Errorf("strategy %q, digestChanged %v, destinationDigest %s (source %s), mediaType %s", r.Strategy, r.DigestChanged, r.DestinationDigest, dockerDigest, r.MediaType)
	}
	digest := hashOf(t, r.DestinationDigest)
	assertDigest(t, dst, dstRef, digest)
	root, children := mediaTypes(t, dst, dstRef)
	if root != types.OCIImageIndex || slices.ContainsFunc(children, func(m types.MediaType) bool { return m != types.OCIManifestSchema1 }) {
		t.Errorf("media types %s %v, want an OCI index of OCI manifests", root, children)
	}
	assertSameContent(t, src, dockerRef, dst, dstRef, true)

	// Without --format json: the same conversion, said on stderr.
	res = cli.RunDocker(t, "migrate", "--progress", "plain", "--media-types", "oci", dockerRef, dst.Ref("oci/app:plain")).AssertSuccess(t)
	assertResultLine(t, res, dst.Ref("oci/app:plain"), digest)
	assertDoneLine(t, res, "index|index-oci", true)

	res = cli.RunDocker(t, "migrate", "--media-types", "bogus", dockerRef, dst.Ref("oci/bogus:v1")).AssertExit(t, 125)
	if !strings.Contains(res.Stderr, "--media-types") {
		t.Errorf("stderr does not name the flag:\n%s", res)
	}
}

// TestAutoNoIndex: a registry that refuses manifest lists and indexes. No
// strategy can push a multi-platform image there, so auto stops at once and
// says so; a single image goes through.
func TestAutoNoIndex(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	pushFixture(t, src, srcRef, quirkSource, false)
	singleRef := src.Ref("e2e/single:v1")
	singleDigest := pushFixture(t, src, singleRef, fixtureCases[2].opts, true)
	cli := NewCLI(t)

	t.Run("an index stops auto", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{NoIndex: true})
		before := seedTag(t, dst, dst.Ref("mirror/app:v1"), 302)
		res := cli.RunDocker(t, "migrate", "--progress", "plain", srcRef, p.Ref("mirror/app:v1")).AssertExit(t, 1)
		assertNoIndexFailure(t, res, p)
		assertDigest(t, dst, dst.Ref("mirror/app:v1"), before)
	})

	t.Run("a single image goes through", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{NoIndex: true})
		res := cli.RunDocker(t, "migrate", "--format", "json", singleRef, p.Ref("mirror/single:v1")).AssertSuccess(t)
		r := parseAutoReport(t, res)
		assertAttempts(t, r.Attempts, "index succeeded")
		if r.DestinationDigest != singleDigest.String() {
			t.Errorf("destinationDigest %s, want %s", r.DestinationDigest, singleDigest)
		}
		assertComplete(t, dst, dst.Ref("mirror/single:v1"))
	})
}

// assertNoIndexFailure checks how auto stops in front of a registry that
// refuses indexes: exit 1, nothing on stdout, one last line naming the
// registry and the index. The refused OCI index is an OCI refusal, so auto
// tries a Docker manifest list once (index-docker, reusing every blob); when
// that is refused too, it stops without trying the engine or a builder.
func assertNoIndexFailure(t testing.TB, res Result, p *quirk.Proxy) {
	t.Helper()
	if res.Stdout != "" {
		t.Errorf("a failure wrote on stdout:\n%s", res)
	}
	lines := stderrLines(res)
	last := ""
	if len(lines) > 0 {
		last = lines[len(lines)-1]
	}
	if !strings.Contains(last, "index") || !strings.Contains(last, p.Host) {
		t.Errorf("the last line %q does not name the index and %s\n%s", last, p.Host, res)
	}
	assertFallbackLine(t, res, "index", "oci-rejected", "index-docker")
	assertNoLine(t, res, "trying manifest")
	assertNoLine(t, res, "trying buildx")
	s := p.Stats()
	if s.IndexRejected != 2 || s.ManifestPuts[quirk.DockerManifestList] != 1 {
		t.Errorf("want the OCI index and one Docker manifest list refused, nothing more: %s, PUTs %v", s, s.ManifestPuts)
	}
}

// TestAutoNoMount: a registry that ignores cross-repository mounts. The copy
// within it uploads instead, with the index strategy.
func TestAutoNoMount(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, registryOptions{})
	p := startQuirkProxy(t, reg, quirk.Options{NoMount: true})
	digest := pushFixture(t, reg, reg.Ref("e2e/app:v1"), quirkSource, false)
	srcBlobs := assertComplete(t, reg, reg.Ref("e2e/app:v1"))
	cli := NewCLI(t)

	res := cli.RunDocker(t, "migrate", "--format", "json", "--progress", "plain", p.Ref("e2e/app:v1"), p.Ref("other/app:v1")).AssertSuccess(t)
	r := parseAutoReport(t, res)
	assertAttempts(t, r.Attempts, "index succeeded")
	if r.Strategy != "index" || r.DestinationDigest != digest.String() {
		t.Errorf("strategy %q, destinationDigest %s; want index and %s", r.Strategy, r.DestinationDigest, digest)
	}
	if r.Blobs.Mounted != 0 || r.Blobs.Copied == 0 || r.Blobs.Copied+r.Blobs.Skipped != len(srcBlobs) {
		t.Errorf("blobs %+v, want none mounted and %d copied or skipped", r.Blobs, len(srcBlobs))
	}
	if s := p.Stats(); s.MountsDropped == 0 {
		t.Errorf("the plugin asked for no mount, so the quirk was not exercised: %s", s)
	}
	assertDigest(t, reg, reg.Ref("other/app:v1"), digest)
	assertComplete(t, reg, reg.Ref("other/app:v1"))
}

// TestAutoRacyBlob: a registry that fails the second of two concurrent
// uploads of one blob. docker-migrate never uploads one digest twice, so it
// never meets the quirk; the source's platforms share a base layer.
func TestAutoRacyBlob(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	srcBlobs := assertComplete(t, src, srcRef)
	p := startQuirkProxy(t, dst, quirk.Options{RacyBlob: true})
	cli := NewCLI(t)

	res := cli.RunDocker(t, "migrate", "--format", "json", "--jobs", "8", srcRef, p.Ref("mirror/app:v1")).AssertSuccess(t)
	r := parseAutoReport(t, res)
	assertAttempts(t, r.Attempts, "index succeeded")
	if r.DestinationDigest != digest.String() {
		t.Errorf("destinationDigest %s, want %s", r.DestinationDigest, digest)
	}
	s := p.Stats()
	n, d := s.MaxCommits()
	if s.Conflicts != 0 || n > 1 {
		t.Errorf("%d conflicts, %d commits of %s: want no digest uploaded twice\n%s", s.Conflicts, n, d, s)
	}
	if len(s.Commits) != len(srcBlobs) {
		t.Errorf("%d digests committed, the source has %d blobs", len(s.Commits), len(srcBlobs))
	}
	assertSameContent(t, src, srcRef, dst, dst.Ref("mirror/app:v1"), false)
}

// TestAutoZeroCommit: a registry that answers the first HEAD after a blob's
// commit with size 0. The index strategy checks again and succeeds.
func TestAutoZeroCommit(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, quirkSource, false)
	cli := NewCLI(t)

	t.Run("auto", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{ZeroCommit: true})
		res := cli.RunDocker(t, "migrate", "--progress", "plain", srcRef, p.Ref("zero-auto/app:v1")).AssertSuccess(t)
		assertResultLine(t, res, p.Ref("zero-auto/app:v1"), digest)
		assertNoLine(t, res, "trying")
		assertDoneLine(t, res, "index", false)
		if s := p.Stats(); s.ZeroHeads == 0 {
			t.Errorf("no HEAD after a commit, so the quirk was not exercised: %s", s)
		}
		assertSameContent(t, src, srcRef, dst, dst.Ref("zero-auto/app:v1"), false)
	})

	t.Run("--strategy index", func(t *testing.T) {
		t.Parallel()
		p := startQuirkProxy(t, dst, quirk.Options{ZeroCommit: true})
		res := cli.RunDocker(t, "migrate", "--format", "json", "--strategy", "index", srcRef, p.Ref("zero-index/app:v1")).AssertSuccess(t)
		r := parseAutoReport(t, res)
		assertAttempts(t, r.Attempts, "index succeeded")
		if r.Strategy != "index" || r.DestinationDigest != digest.String() {
			t.Errorf("strategy %q, destinationDigest %s; want index, %s", r.Strategy, r.DestinationDigest, digest)
		}
		if s := p.Stats(); s.ZeroHeads == 0 {
			t.Errorf("no HEAD after a commit, so the quirk was not exercised: %s", s)
		}
		assertSameContent(t, src, srcRef, dst, dst.Ref("zero-index/app:v1"), false)
	})
}

// TestAutoZeroCommitSticky: a registry where blobs uploaded by anything but
// the engine always read back with size 0. Neither index copy can work; the
// manifest strategy, through the engine, does. The engine is shared: no
// t.Parallel.
func TestAutoZeroCommitSticky(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	pushFixture(t, src, srcRef, quirkSource, false)
	cli := NewCLI(t).WithEngine(host)
	before := engineImages(t, cli)

	t.Run("auto falls back to manifest", func(t *testing.T) {
		p := startQuirkProxy(t, dst, quirk.Options{ZeroCommitSticky: true})
		res := cli.RunDocker(t, "migrate", "--format", "json", "--progress", "plain", srcRef, p.Ref("mirror/app:v1")).AssertSuccess(t)
		r := parseAutoReport(t, res)
		assertAttempts(t, r.Attempts, "index failed blob-commit", "index-docker failed blob-commit|index-docker skipped", "manifest succeeded")
		if r.Strategy != "manifest" || !r.DigestChanged {
			t.Errorf("strategy %q, digestChanged %v; want manifest, true", r.Strategy, r.DigestChanged)
		}
		if _, skipped := findLine(res, "skipping index-docker strategy: "); skipped {
			assertSkipLine(t, res, "index-docker")
			assertFallbackLine(t, res, "index", "blob-commit", "manifest")
		} else {
			assertFallbackLine(t, res, "index", "blob-commit", "index-docker")
			assertFallbackLine(t, res, "index-docker", "blob-commit", "manifest")
		}
		dstRef := dst.Ref("mirror/app:v1")
		assertDigest(t, dst, dstRef, hashOf(t, r.DestinationDigest))
		assertSameContent(t, src, srcRef, dst, dstRef, true)
		if s := p.Stats(); s.ZeroHeads == 0 || len(s.ManifestPutsByEngine) == 0 {
			t.Errorf("want size-0 HEADs for the plugin and manifests pushed by the engine: %s, engine PUTs %v", s, s.ManifestPutsByEngine)
		}
		if after := engineImages(t, cli); !slices.Equal(after, before) {
			t.Errorf("the engine holds images it did not have before: %v (before %v)", after, before)
		}
	})

	t.Run("--strategy index fails with blob-commit", func(t *testing.T) {
		p := startQuirkProxy(t, dst, quirk.Options{ZeroCommitSticky: true})
		seeded := seedTag(t, dst, dst.Ref("explicit/app:v1"), 303)
		res := cli.RunDocker(t, "migrate", "--strategy", "index", srcRef, p.Ref("explicit/app:v1")).AssertExit(t, 1)
		if res.Stdout != "" {
			t.Errorf("a failure wrote on stdout:\n%s", res)
		}
		assertNoLine(t, res, "trying")
		assertNoLine(t, res, "skipping")
		assertDigest(t, dst, dst.Ref("explicit/app:v1"), seeded)
		if s := p.Stats(); len(s.ManifestPutsByEngine) != 0 {
			t.Errorf("the engine pushed manifests: %v", s.ManifestPutsByEngine)
		}
	})

	t.Run("no-index stops auto before the engine", func(t *testing.T) {
		p := startQuirkProxy(t, dst, quirk.Options{NoIndex: true})
		seeded := seedTag(t, dst, dst.Ref("noindex/app:v1"), 304)
		res := cli.RunDocker(t, "migrate", "--progress", "plain", srcRef, p.Ref("noindex/app:v1")).AssertExit(t, 1)
		assertNoIndexFailure(t, res, p)
		assertDigest(t, dst, dst.Ref("noindex/app:v1"), seeded)
		if s := p.Stats(); len(s.ManifestPutsByEngine) != 0 {
			t.Errorf("the engine pushed manifests: %v", s.ManifestPutsByEngine)
		}
		if after := engineImages(t, cli); !slices.Equal(after, before) {
			t.Errorf("the engine holds images it did not have before: %v (before %v)", after, before)
		}
	})
}

// TestAutoZeroCommitStickyNoEngine: the same registry with neither an engine
// nor a builder at hand: auto says why it skipped each, and stops.
func TestAutoZeroCommitStickyNoEngine(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	pushFixture(t, src, srcRef, quirkSource, false)
	p := startQuirkProxy(t, dst, quirk.Options{ZeroCommitSticky: true})
	cli := NewCLI(t) // DOCKER_HOST is a socket that does not exist
	seeded := seedTag(t, dst, dst.Ref("mirror/app:v1"), 305)

	res := cli.RunDocker(t, "migrate", "--progress", "plain", srcRef, p.Ref("mirror/app:v1")).AssertExit(t, 1)
	if res.Stdout != "" {
		t.Errorf("a failure wrote on stdout:\n%s", res)
	}
	if _, skipped := findLine(res, "skipping index-docker strategy: "); skipped {
		// Nothing is left to try after the index copy.
		assertFallbackLine(t, res, "index", "blob-commit", "")
	} else {
		assertFallbackLine(t, res, "index", "blob-commit", "index-docker")
		assertFallbackLine(t, res, "index-docker", "blob-commit", "")
	}
	if why := assertSkipLine(t, res, "manifest"); !strings.Contains(why, "/nonexistent/docker.sock") {
		t.Errorf("the manifest strategy's skip reason %q does not name the engine it tried", why)
	}
	assertSkipLine(t, res, "buildx")
	assertDigest(t, dst, dst.Ref("mirror/app:v1"), seeded)
}

// TestAutoRateLimit: a registry that answers the first five requests with 429
// and Retry-After: 1. The copy waits as asked and succeeds, on either side.
func TestAutoRateLimit(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, quirkSource, false)
	cli := NewCLI(t)
	const limit = 5

	for _, side := range []string{"destination", "source"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			from, dstRef := srcRef, "limited-"+side+"/app:v1"
			to := dst.Ref(dstRef)
			var p *quirk.Proxy
			if side == "source" {
				p = startQuirkProxy(t, src, quirk.Options{RateLimit: limit})
				from = p.Ref("e2e/app:v1")
			} else {
				p = startQuirkProxy(t, dst, quirk.Options{RateLimit: limit})
				to = p.Ref(dstRef)
			}
			start := time.Now()
			res := cli.RunDocker(t, "migrate", "--format", "json", from, to).AssertSuccess(t)
			took := time.Since(start)
			r := parseAutoReport(t, res)
			assertAttempts(t, r.Attempts, "index succeeded")
			if r.DestinationDigest != digest.String() {
				t.Errorf("destinationDigest %s, want %s", r.DestinationDigest, digest)
			}
			s := p.Stats()
			if took < 900*time.Millisecond || s.RateLimited > limit || s.RateLimitedEarly != 0 {
				t.Errorf("took %s with %d 429s (%d for requests repeated too soon): want at least 1s and at most %d, none early",
					took.Round(time.Millisecond), s.RateLimited, s.RateLimitedEarly, limit)
			}
			t.Logf("took %s; %s", took.Round(time.Millisecond), s)
			assertSameContent(t, src, srcRef, dst, dst.Ref(dstRef), false)
		})
	}
}

// TestAutoFlaky: both registries drop a seeded 10% of requests, with 502 or a
// reset connection. Retries get the copy through, complete.
func TestAutoFlaky(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, ociIndex.opts, false)
	fromProxy := startQuirkProxy(t, src, quirk.Options{Flaky: true, Seed: 3})
	toProxy := startQuirkProxy(t, dst, quirk.Options{Flaky: true, Seed: 4})
	cli := NewCLI(t)

	res := cli.RunDocker(t, "migrate", "--format", "json", fromProxy.Ref("e2e/app:v1"), toProxy.Ref("mirror/app:v1")).AssertSuccess(t)
	r := parseAutoReport(t, res)
	assertAttempts(t, r.Attempts, "index succeeded")
	if r.DestinationDigest != digest.String() {
		t.Errorf("destinationDigest %s, want %s", r.DestinationDigest, digest)
	}
	from, to := fromProxy.Stats(), toProxy.Stats()
	t.Logf("source side: %s\ndestination side: %s", from, to)
	if from.BadGateways+from.Resets == 0 || to.BadGateways+to.Resets == 0 {
		t.Errorf("a proxy failed no request, so the quirk was not exercised")
	}
	assertDigest(t, dst, dst.Ref("mirror/app:v1"), digest)
	assertSameContent(t, src, srcRef, dst, dst.Ref("mirror/app:v1"), false)
}
