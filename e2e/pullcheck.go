//go:build !windows

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The pull check: exit 0 must mean that every image the run names on stdout
// can be pulled from its destination. It reads the registry with plain HTTP
// GETs (never through the plugin), the way a pull does: every manifest by
// digest, every blob whole, each compared with the digest and size its
// descriptor gives.

// maxPullDepth bounds how deep indexes are followed (an index of indexes).
const maxPullDepth = 8

// pullAccept is every manifest type a pull asks for.
var pullAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ",")

// writtenImage is one image a run says it wrote: DST (with or without a tag)
// and the digest it points to.
type writtenImage struct {
	ref    name.Reference
	digest v1.Hash
	// tagged is false for a line with no tag (a digest-only SRC).
	tagged bool
}

// assertPullableOutput checks, after a run that exited 0, that every image its
// stdout names (plain DST@sha256:… lines or --format json objects) in one of
// regs can be pulled whole: the tag (when the line has one) points to the
// digest, and every manifest and blob under it can be read by digest, with
// the size and digest its descriptor says. Lines naming another place (an
// archive) are left alone; at least one image must be checked. It returns the
// number of images checked.
func assertPullableOutput(t testing.TB, res Result, regs ...*Registry) int {
	t.Helper()
	if res.ExitCode != 0 {
		t.Fatalf("assertPullableOutput after exit %d:\n%s", res.ExitCode, res)
	}
	images, err := writtenImages(res.Stdout)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	byHost := map[string]*Registry{}
	for _, r := range regs {
		byHost[r.Host] = r
	}
	checked := 0
	for _, im := range images {
		r := byHost[im.ref.Context().RegistryStr()]
		if r == nil {
			continue
		}
		checked++
		assertPullable(t, r, im.ref, im.digest, im.tagged)
	}
	if checked == 0 {
		t.Errorf("stdout names no image in %v to pull:\n%s", hosts(regs), res)
	}
	return checked
}

func hosts(regs []*Registry) []string {
	var out []string
	for _, r := range regs {
		out = append(out, r.Host)
	}
	return out
}

// writtenImages parses a run's stdout: one DST@sha256:… per line, or one
// --format json object per line (dry runs and failures are not written).
func writtenImages(stdout string) ([]writtenImage, error) {
	var out []writtenImage
	for _, line := range strings.Split(stdout, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		text, digest := line, ""
		if strings.HasPrefix(line, "{") {
			var r jsonResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("stdout line %q is neither DST@DIGEST nor JSON: %v", line, err)
			}
			if r.DryRun || r.Error != "" {
				continue
			}
			text, digest = r.Destination, r.DestinationDigest
			// A digest-only image's destination is REPO@DIGEST: the same digest.
			if repo, d, ok := strings.Cut(text, "@"); ok {
				if d != digest {
					return nil, fmt.Errorf("stdout line %q: destination %s is not at destinationDigest %s", line, text, digest)
				}
				text = repo
			}
		} else {
			i := strings.LastIndex(line, "@")
			if i < 0 {
				return nil, fmt.Errorf("stdout line %q is not DST@DIGEST", line)
			}
			text, digest = line[:i], line[i+1:]
		}
		d, err := v1.NewHash(digest)
		if err != nil {
			return nil, fmt.Errorf("stdout line %q: %v", line, err)
		}
		// An archive (oci-archive:FILE) is no reference: not for a pull.
		if strings.Contains(text, "@") {
			return nil, fmt.Errorf("stdout line %q names a digest twice", line)
		}
		ref, err := name.ParseReference(text)
		if err != nil {
			continue
		}
		tagged := strings.Contains(text[strings.LastIndex(text, "/")+1:], ":")
		out = append(out, writtenImage{ref: ref, digest: d, tagged: tagged})
	}
	return out, nil
}

// assertPullable pulls the image at digest in ref's repository from r as a
// client would (pullProblems), and fails the test with each problem.
func assertPullable(t testing.TB, r *Registry, ref name.Reference, digest v1.Hash, tagged bool) {
	t.Helper()
	for _, p := range pullProblems(checkContext(t), r, ref, digest, tagged) {
		t.Error(p)
	}
}

// pullProblems pulls the image at digest in ref's repository from r: when
// tagged, ref's tag must point to digest; everything under it must be
// readable, each body matching its descriptor's digest and size. It returns
// what is wrong, one sentence each.
func pullProblems(ctx context.Context, r *Registry, ref name.Reference, digest v1.Hash, tagged bool) []string {
	repo := ref.Context().RepositoryStr()
	p := puller{ctx: ctx, r: r, repo: repo, seen: map[v1.Hash]bool{}}
	if tag, ok := ref.(name.Tag); ok && tagged {
		body, err := r.pull(ctx, repo, "manifests", tag.TagStr())
		if err != nil {
			return []string{fmt.Sprintf("pull %s: %v", ref, err)}
		}
		if got := sha256Hash(body); got != digest {
			p.problemf("%s points to %s, the run said %s", ref, got, digest)
		}
	}
	p.manifest(v1.Descriptor{Digest: digest, Size: -1}, 0, ref.String())
	return p.problems
}

// puller walks one image in one repository.
type puller struct {
	ctx      context.Context
	r        *Registry
	repo     string
	seen     map[v1.Hash]bool
	problems []string
}

func (p *puller) problemf(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// pulledManifest is the part of a manifest or index the walk follows.
type pulledManifest struct {
	MediaType string          `json:"mediaType"`
	Manifests []v1.Descriptor `json:"manifests"`
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
}

func (p *puller) manifest(desc v1.Descriptor, depth int, where string) {
	if p.seen[desc.Digest] {
		return
	}
	p.seen[desc.Digest] = true
	if depth > maxPullDepth {
		p.problemf("%s: indexes nested deeper than %d", where, maxPullDepth)
		return
	}
	body, err := p.r.pull(p.ctx, p.repo, "manifests", desc.Digest.String())
	if err != nil {
		p.problemf("%s: pull manifest %s: %v", where, desc.Digest, err)
		return
	}
	if !p.matches(where, "manifest", desc, body) {
		return
	}
	var m pulledManifest
	if err := json.Unmarshal(body, &m); err != nil {
		p.problemf("%s: manifest %s is not JSON: %v", where, desc.Digest, err)
		return
	}
	for _, child := range m.Manifests {
		p.manifest(child, depth+1, where)
	}
	if m.Config != nil {
		p.blob(*m.Config, where)
	}
	for _, l := range m.Layers {
		if len(l.URLs) > 0 {
			continue // a foreign layer lives elsewhere
		}
		p.blob(l, where)
	}
}

func (p *puller) blob(desc v1.Descriptor, where string) {
	if p.seen[desc.Digest] {
		return
	}
	p.seen[desc.Digest] = true
	body, err := p.r.pull(p.ctx, p.repo, "blobs", desc.Digest.String())
	if err != nil {
		p.problemf("%s: pull blob %s: %v", where, desc.Digest, err)
		return
	}
	p.matches(where, "blob", desc, body)
}

// matches reports whether body has desc's digest and (when known) size.
func (p *puller) matches(where, kind string, desc v1.Descriptor, body []byte) bool {
	if desc.Size >= 0 && int64(len(body)) != desc.Size {
		p.problemf("%s: %s %s has %d bytes, its descriptor says %d", where, kind, desc.Digest, len(body), desc.Size)
		return false
	}
	if got := sha256Hash(body); desc.Digest.Algorithm == "sha256" && got != desc.Digest {
		p.problemf("%s: %s %s reads as %s", where, kind, desc.Digest, got)
		return false
	}
	return true
}

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// pull GETs /v2/REPO/KIND/REF (a manifest or a blob) from r, as r's user
// when it has one, following redirects (to storage), and returns the body.
func (r *Registry) pull(ctx context.Context, repo, kind, ref string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/%s/%s/%s", r.scheme(), r.Host, repo, kind, ref), nil)
	if err != nil {
		return nil, err
	}
	if kind == "manifests" {
		req.Header.Set("Accept", pullAccept)
	}
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return nil, fmt.Errorf("GET %s: %d bytes of the %d its Content-Length says", req.URL.Path, len(body), resp.ContentLength)
	}
	return body, nil
}

// assertPullsWhole runs the pull check (assertPullable) on ref, a tag or a
// line a run printed (DST@DIGEST), and returns the digest it points to.
func assertPullsWhole(t testing.TB, r *Registry, ref string) v1.Hash {
	t.Helper()
	text, digest, byDigest := strings.Cut(ref, "@")
	parsed, err := name.ParseReference(text)
	if err != nil {
		t.Fatal(err)
	}
	var d v1.Hash
	if byDigest {
		d = hashOf(t, digest)
	} else {
		var ok bool
		if d, ok = headDigest(t, r, ref); !ok {
			t.Fatalf("%s is not there", ref)
		}
	}
	assertPullable(t, r, parsed, d, true)
	return d
}
