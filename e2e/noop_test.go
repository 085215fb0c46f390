package e2e

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
)

// TestNoopNotFooledBySparseIndex: the destination tag has the source's
// digest, but a child manifest is gone (a lax registry kept a sparse index).
// The run is no no-op: it copies the child back, and the image is whole.
func TestNoopNotFooledBySparseIndex(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("noop/app:v1")
	digest := pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Seed: 81}, false)
	dstRef := dst.Ref("noop/app:v1")
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)

	arm := readIndex(t, src, srcRef).Images["linux/arm/v7"]
	deleteAt(t, dst, "noop/app/manifests/"+arm.String())
	res := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	var r struct {
		UpToDate  bool                 `json:"upToDate"`
		Manifests struct{ Copied int } `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.UpToDate || r.Manifests.Copied == 0 {
		t.Errorf("a sparse index was called up to date: %s", res.Stdout)
	}
	assertDigest(t, dst, dstRef, digest)
	assertComplete(t, dst, dstRef)

	// Now whole, the next run is a no-op.
	again := cli.RunDocker(t, "migrate", "--format", "json", srcRef, dstRef).AssertSuccess(t)
	if err := json.Unmarshal([]byte(again.Stdout), &r); err != nil || !r.UpToDate {
		t.Errorf("the whole image is not up to date: %s", again.Stdout)
	}
}

// TestNoopRoundTrips: an up-to-date image costs the far registry one round
// trip past its handshakes, as regctl's HEAD does: the ping, the tag and
// every child manifest are asked at once. The children are known before the
// tag answers because this user's manifest cache holds the source's index
// (from the copy that put it there); with an empty cache they take a round
// trip of their own after the tag.
func TestNoopRoundTrips(t *testing.T) {
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	srcRef := src.Ref("noop/waves:v1")
	pushFixture(t, src, srcRef, fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Attestations: true, Seed: 82}, false)
	cli := NewCLI(t)
	cli.RunDocker(t, "migrate", srcRef, dst.Ref("noop/waves:v1")).AssertSuccess(t)

	far := startWavesProxy(t, dst, time.Second)
	for _, tc := range []struct {
		name  string
		cli   *CLI
		waves int
	}{
		{"with the manifest cache", cli, 1},
		{"with an empty cache", NewCLI(t), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trustCA(t, tc.cli, far.Registry)
			far.reset()
			res := tc.cli.RunDocker(t, "migrate", "--format", "json", srcRef, far.Ref("noop/waves:v1")).AssertSuccess(t)
			var r struct {
				UpToDate  bool `json:"upToDate"`
				Manifests struct {
					Skipped int `json:"skipped"`
				} `json:"manifests"`
			}
			if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil || !r.UpToDate || r.Manifests.Skipped == 0 {
				t.Fatalf("not a no-op (%v): %s", err, res.Stdout)
			}
			if waves, requests := far.counts(); waves != tc.waves {
				t.Errorf("%d waves of requests (%d requests) reached the far registry, want %d", waves, requests, tc.waves)
			}
		})
	}
}

// wavesProxy is a TLS proxy in front of a registry that holds each request
// for a delay and counts the waves of requests: a wave begins with a request
// that arrives while no other is in flight. Each wave is a round trip on a
// far link; a client that asks at once what it can makes few of them.
type wavesProxy struct {
	*Registry
	mu                        sync.Mutex
	inflight, waves, requests int
}

func startWavesProxy(t *testing.T, backend *Registry, delay time.Duration) *wavesProxy {
	t.Helper()
	target, err := url.Parse("http://" + backend.Host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &wavesProxy{}
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if p.inflight == 0 {
			p.waves++
		}
		p.inflight++
		p.requests++
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inflight--
			p.mu.Unlock()
		}()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	p.Registry = &Registry{Host: u.Host, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})}
	return p
}

func (p *wavesProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waves, p.requests = 0, 0
}

func (p *wavesProxy) counts() (waves, requests int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waves, p.requests
}

// TestNoopWithPlatform: an image already at DST is up to date whatever flags
// selected it. A single-platform source re-run with --platform pushes
// nothing; a platform subset of an index, re-run, says once that it is up to
// date and why its digest is not the source's, with no contradicting note.
func TestNoopWithPlatform(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	dst := startRegistry(t, registryOptions{})
	single := src.Ref("noopp/single:v1")
	pushFixture(t, src, single, fixture.Options{Platforms: fixture.EightPlatforms()[:1], LayerSize: tinyLayer, Seed: 83}, true)
	multi := src.Ref("noopp/multi:v1")
	pushFixture(t, src, multi, fixture.Options{Platforms: fixture.EightPlatforms()[:3], LayerSize: tinyLayer, Seed: 84}, false)
	cli := NewCLI(t)
	type result struct {
		UpToDate  bool                 `json:"upToDate"`
		Manifests struct{ Copied int } `json:"manifests"`
	}
	for _, tc := range []struct{ name, src, dst, platform string }{
		{"single-platform source", single, dst.Ref("noopp/single:v1"), "linux/amd64"},
		{"platform subset of an index", multi, dst.Ref("noopp/multi:v1"), "linux/amd64,linux/arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli.RunDocker(t, "migrate", "--platform", tc.platform, tc.src, tc.dst).AssertSuccess(t)
			res := cli.RunDocker(t, "migrate", "--format", "json", "--platform", tc.platform, tc.src, tc.dst).AssertSuccess(t)
			var r result
			if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil || !r.UpToDate || r.Manifests.Copied != 0 {
				t.Errorf("re-run with --platform is not up to date, or pushed a manifest: %s\n%s", res.Stdout, res.Stderr)
			}
			plain := cli.RunDocker(t, "migrate", "--platform", tc.platform, tc.src, tc.dst).AssertSuccess(t)
			assertNoLine(t, plain, "note: the destination digest differs")
			if n := strings.Count(plain.Stderr, "is up to date"); n > 2 {
				t.Errorf("'is up to date' said %d times:\n%s", n, plain.Stderr)
			}
		})
	}
}
