package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// referrersAt lists the digests that refer to subject in r, by the API when r
// has it, else from the fallback tag.
func referrersAt(t testing.TB, r *Registry, repo string, subject v1.Hash) []string {
	t.Helper()
	u := fmt.Sprintf("http://%s/v2/%s/referrers/%s", r.Host, repo, subject)
	if r.kind != ociRegistry {
		u = fmt.Sprintf("http://%s/v2/%s/manifests/%s-%s", r.Host, repo, subject.Algorithm, subject.Hex)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var idx v1.IndexManifest
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	var out []string
	for _, m := range idx.Manifests {
		out = append(out, m.Digest.String())
	}
	slices.Sort(out)
	return out
}

// TestReferrers copies an image with its signature (on the index), an SBOM (on
// one platform's image), a signature of that SBOM, and a cosign-style .sig tag,
// between a registry with the OCI 1.1 referrers API and registries without it
// (Debian's distribution 2.8; distribution v3.1 has no such API either), in
// all four directions.
func TestReferrers(t *testing.T) {
	kinds := map[string]registryKind{"api": ociRegistry, "2.8": distribution28, "v3": distributionV3}
	for _, c := range []struct{ from, to string }{{"api", "api"}, {"api", "2.8"}, {"2.8", "api"}, {"2.8", "v3"}} {
		t.Run(c.from+"→"+c.to, func(t *testing.T) {
			t.Parallel()
			src := startRegistry(t, registryOptions{kind: kinds[c.from]})
			dst := startRegistry(t, registryOptions{kind: kinds[c.to]})
			env := regctlFor(t, src.Host, dst.Host)
			opts := fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 61}
			srcRef := src.Ref("signed/app:v1")
			digest := pushFixture(t, src, srcRef, opts, false)
			idx := readIndex(t, src, srcRef)
			amd64 := idx.Images["linux/amd64"]

			sig := putArtifact(t, env, srcRef, "application/vnd.example.signature", "index signature")
			sbom := putArtifact(t, env, src.Ref("signed/app@"+amd64.String()), "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`)
			sbomSig := putArtifact(t, env, src.Ref("signed/app@"+sbom.String()), "application/vnd.example.signature", "sbom signature")
			// cosign keeps its signature under the tag sha256-HEX.sig.
			cosignTag := fmt.Sprintf("sha256-%s.sig", digest.Hex)
			file := filepath.Join(t.TempDir(), "sig")
			if err := os.WriteFile(file, []byte("cosign"), 0o644); err != nil {
				t.Fatal(err)
			}
			runTool(t, env, "regctl", "artifact", "put", "--artifact-type", "application/vnd.dev.cosign.artifact.sig.v1+json",
				"--file-media-type", "application/vnd.dev.cosign.simplesigning.v1+json", "--file", file, src.Ref("signed/app:"+cosignTag))
			cosignDigest, _ := headDigest(t, src, src.Ref("signed/app:"+cosignTag))

			// Another tool already keeps a referrer of the index at the destination.
			var earlier v1.Hash
			dstRef := dst.Ref("mirror/app:v1")
			if c.to != "api" {
				NewCLI(t).RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)
				earlier = putArtifact(t, env, dstRef, "application/vnd.example.other", "someone else's")
			}

			res := NewCLI(t).RunDocker(t, "migrate", "--referrers", "--format", "json", srcRef, dstRef).AssertSuccess(t)
			var r struct {
				Referrers struct{ Copied, Present int } `json:"referrers"`
			}
			if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
				t.Fatalf("%v\n%s", err, res.Stdout)
			}
			if r.Referrers.Copied != 4 {
				t.Errorf("JSON counts %d referrers copied, want 4 (signature, SBOM, its signature, cosign tag):\n%s", r.Referrers.Copied, res.Stdout)
			}
			assertDigest(t, dst, dstRef, digest)
			wantIndex := []string{sig.String()}
			if c.to != "api" {
				wantIndex = append(wantIndex, earlier.String())
			}
			slices.Sort(wantIndex)
			if got := referrersAt(t, dst, "mirror/app", digest); !slices.Equal(got, wantIndex) {
				t.Errorf("referrers of the index at the destination: %v, want %v", got, wantIndex)
			}
			if got := referrersAt(t, dst, "mirror/app", amd64); !slices.Equal(got, []string{sbom.String()}) {
				t.Errorf("referrers of the amd64 image: %v, want the SBOM %s", got, sbom)
			}
			if got := referrersAt(t, dst, "mirror/app", sbom); !slices.Equal(got, []string{sbomSig.String()}) {
				t.Errorf("referrers of the SBOM: %v, want its signature %s", got, sbomSig)
			}
			assertDigest(t, dst, dst.Ref("mirror/app:"+cosignTag), cosignDigest)

			// Again: everything is there, nothing is written.
			again := NewCLI(t).RunDocker(t, "migrate", "--referrers", "--format", "json", srcRef, dstRef).AssertSuccess(t)
			if err := json.Unmarshal([]byte(again.Stdout), &r); err != nil {
				t.Fatal(err)
			}
			if r.Referrers.Copied != 0 || r.Referrers.Present != 4 {
				t.Errorf("second run: %+v, want 0 copied and 4 present", r.Referrers)
			}
		})
	}
}

// TestReferrersRegistryErrors: a registry whose referrers endpoint answers 500,
// or answers with something that is not a list. The image itself arrives (it
// is copied first, tag last); then the run fails with one sentence naming the
// registry, exit 1, so that a mirror never silently lacks its signatures.
func TestReferrersRegistryErrors(t *testing.T) {
	src := startRegistry(t, registryOptions{kind: ociRegistry})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("bad/app:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{LayerSize: tinyLayer, Seed: 62}, true)
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"500", http.StatusInternalServerError, `{"errors":[{"code":"UNKNOWN","message":"boom"}]}`, "answered the referrers API"},
		{"malformed", http.StatusOK, `{"manifests": "nope"`, "malformed referrers list"},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := referrersProxy(t, src.Host, c.status, c.body)
			dstRef := dst.Ref("bad/" + c.name + ":v1")
			res := NewCLI(t).RunDocker(t, "migrate", "--progress", "quiet", "--referrers", proxy+"/bad/app:v1", dstRef).AssertExit(t, 1)
			if !strings.Contains(res.Stderr, c.want) || !strings.Contains(res.Stderr, proxy) {
				t.Errorf("stderr lacks %q naming %s:\n%s", c.want, proxy, res.Stderr)
			}
			if strings.Count(strings.TrimSpace(res.Stderr), "\n") > 0 {
				t.Errorf("want one sentence:\n%s", res.Stderr)
			}
			assertDigest(t, dst, dstRef, digest)
		})
	}
}

// referrersProxy is a proxy in front of a real registry that answers its
// referrers endpoint with status and body, and passes everything else.
func referrersProxy(t testing.TB, backend string, status int, body string) string {
	t.Helper()
	target, _ := url.Parse("http://" + backend)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestReferrersThroughArchive carries an image's referrers across an air gap:
// exported with --referrers into an OCI archive (which keeps them under the
// fallback tag), imported with --referrers into a registry.
func TestReferrersThroughArchive(t *testing.T) {
	src := startRegistry(t, registryOptions{kind: ociRegistry})
	dst := startRegistry(t, registryOptions{kind: ociRegistry})
	env := regctlFor(t, src.Host)
	srcRef := src.Ref("gap/app:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:2], LayerSize: tinyLayer, Seed: 63}, false)
	sig := putArtifact(t, env, srcRef, "application/vnd.example.signature", "carried signature")
	archive := filepath.Join(t.TempDir(), "gap.tar")
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", "--referrers", srcRef, "oci-archive:"+archive).AssertSuccess(t)
	cli.RunDocker(t, "migrate", "--referrers", "oci-archive:"+archive, dst.Host+"/inside").AssertSuccess(t)
	repo := "inside/" + strings.TrimPrefix(src.Ref("gap/app"), "")
	repo = strings.Replace(repo, src.Host+"/", "", 1)
	assertDigest(t, dst, dst.Ref(repo+":v1"), digest)
	if got := referrersAt(t, dst, repo, digest); !slices.Contains(got, sig.String()) {
		t.Errorf("referrers of the imported image: %v, want %s among them", got, sig)
	}
}
