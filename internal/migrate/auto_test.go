package migrate

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/fallback"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refusing answers manifest PUTs whose media type refuse() rejects with 400
// MANIFEST_INVALID, as registries without OCI or list support do.
func refusing(t *testing.T, refuse func(mt string) bool) string {
	t.Helper()
	inner := ggcrregistry.New(ggcrregistry.Logger(discardLogger()))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && refuse(r.Header.Get("Content-Type")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}`)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	return u.Host
}

func runWith(t *testing.T, src, dst, strategy string) (*Result, error) {
	t.Helper()
	res, _, err := Run(context.Background(), Options{
		Image:    copyopts.Image{Source: ref(t, src), Destination: ref(t, dst)},
		Shared:   copyopts.Shared{Jobs: 4, Progress: progress.New(io.Discard, progress.Plain)},
		Strategy: strategy, Registry: registry.New(),
	})
	return res, err
}

func TestAutoFallsBackToDockerMediaTypes(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost := refusing(t, func(mt string) bool { return strings.HasPrefix(mt, "application/vnd.oci.") })
	seed(t, srcHost+"/app:1", eight)

	_, err := runWith(t, srcHost+"/app:1", dstHost+"/app:1", StrategyIndex)
	if c, _ := fallback.Classify(err); c != fallback.OCIRejected || !strings.Contains(err.Error(), "OCI") || !strings.Contains(err.Error(), "--media-types docker") {
		t.Fatalf("--strategy index: want an oci-rejected error naming the fix, got %v", err)
	}
	if _, err := remote.Head(ref(t, dstHost+"/app:1")); err == nil {
		t.Fatal("a failed run wrote the tag")
	}

	res, err := runWith(t, srcHost+"/app:1", dstHost+"/app:1", StrategyAuto)
	if err != nil {
		t.Fatal(err)
	}
	if res.Strategy != "index-docker" || len(res.Attempts) != 2 || res.Attempts[0].Class != string(fallback.OCIRejected) || !res.DigestChanged {
		t.Fatalf("result %+v", res)
	}
	if res.MediaType != string(types.DockerManifestList) {
		t.Errorf("media type %s", res.MediaType)
	}
	idx := checkComplete(t, dstHost+"/app:1")
	im := mustIndexManifest(t, idx)
	if len(im.Manifests) != 8 {
		t.Errorf("%d children, want the 8 platforms without attestations", len(im.Manifests))
	}
}

func TestAutoStopsWhenNoStrategyCanHelp(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost := refusing(t, func(mt string) bool { return types.MediaType(mt).IsIndex() })
	seed(t, srcHost+"/app:1", fixture.Options{Platforms: fixture.EightPlatforms()[:2], Docker: true, Seed: 5})
	res, err := runWith(t, srcHost+"/app:1", dstHost+"/app:1", StrategyAuto)
	if c, _ := fallback.Classify(err); c != fallback.IndexRejected || !strings.Contains(err.Error(), dstHost) {
		t.Fatalf("want index-rejected naming %s, got %v (%+v)", dstHost, err, res)
	}
	if _, err := remote.Head(ref(t, dstHost+"/app:1")); err == nil {
		t.Fatal("a failed run wrote the tag")
	}
}

// --media-types oci on an OCI source changes nothing: same digest, and the
// attestations still point at their images.
func TestConvertToSameFamilyKeepsDigests(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, _ := newRegistry(t)
	want := seed(t, srcHost+"/app:1", eight)
	res, _, err := Run(context.Background(), Options{
		Image:    copyopts.Image{Source: ref(t, srcHost+"/app:1"), Destination: ref(t, dstHost+"/app:1")},
		Shared:   copyopts.Shared{Jobs: 4, Progress: progress.Discard()},
		Strategy: StrategyIndex, MediaTypes: "oci", Registry: registry.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.DestinationDigest != want.String() || res.DigestChanged {
		t.Fatalf("digest %s (changed %v), want the source's %s", res.DestinationDigest, res.DigestChanged, want)
	}
}

// A registry that takes OCI image manifests but refuses an OCI index gets a
// Docker manifest list from auto.
func TestAutoOCIIndexRefused(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost := refusing(t, func(mt string) bool { return mt == string(types.OCIImageIndex) })
	seed(t, srcHost+"/app:1", eight)
	res, err := runWith(t, srcHost+"/app:1", dstHost+"/app:1", StrategyAuto)
	if err != nil {
		t.Fatal(err)
	}
	if res.Strategy != "index-docker" || res.MediaType != string(types.DockerManifestList) {
		t.Fatalf("result %+v", res)
	}
	checkComplete(t, dstHost+"/app:1")
}

// A 429 on an upload is waited out as Retry-After asks, not a failure: on the
// PATCH of a large blob, or on the PUT that carries a small one.
func TestRateLimitedUploadWaits(t *testing.T) {
	srcHost, _ := newRegistry(t)
	inner := ggcrregistry.New(ggcrregistry.Logger(discardLogger()))
	var limited atomic.Bool
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upload := r.Method == http.MethodPatch || (r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/"))
		if upload && limited.CompareAndSwap(false, true) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	seed(t, srcHost+"/app:1", fixture.Options{Platforms: fixture.EightPlatforms()[:2], Seed: 9})
	if _, err := runWith(t, srcHost+"/app:1", u.Host+"/app:1", StrategyIndex); err != nil {
		t.Fatal(err)
	}
	if !limited.Load() {
		t.Fatal("the 429 was never served")
	}
	checkComplete(t, u.Host+"/app:1")
}

// Small blobs (configs) do not wait behind large ones: with one slot for
// large blobs, the large layer's upload here is held until a small blob has
// arrived, which never happens if the small ones queue behind it.
func TestSmallBlobsBesideLargeOnes(t *testing.T) {
	srcHost, _ := newRegistry(t)
	inner := ggcrregistry.New(ggcrregistry.Logger(discardLogger()))
	smallIn := make(chan struct{})
	var once sync.Once
	var held, waitedOut atomic.Bool
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength > 0 {
			once.Do(func() { close(smallIn) })
		}
		if r.Method == http.MethodPatch {
			held.Store(true)
			select {
			case <-smallIn:
			case <-time.After(5 * time.Second):
				waitedOut.Store(true)
			}
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	seed(t, srcHost+"/app:1", fixture.Options{Platforms: fixture.EightPlatforms()[:1], LayersPerImage: 1, LayerSize: 1 << 20, Seed: 11})
	res, _, err := Run(context.Background(), Options{
		Image:    copyopts.Image{Source: ref(t, srcHost+"/app:1"), Destination: ref(t, u.Host+"/app:1")},
		Shared:   copyopts.Shared{Jobs: 1, Progress: progress.New(io.Discard, progress.Plain)},
		Strategy: StrategyIndex, Registry: registry.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !held.Load() || waitedOut.Load() {
		t.Fatalf("large upload held: %v; small blobs waited behind it: %v", held.Load(), waitedOut.Load())
	}
	if res.Blobs.Copied < 2 {
		t.Fatalf("copied %d blobs, want the layer and the config", res.Blobs.Copied)
	}
	checkComplete(t, u.Host+"/app:1")
}

// A converting copy reports the plan it carried out: the referrers step and
// the result read it there, and nothing converts the plan a second time (each
// converted manifest is asked of the destination once, before it is pushed).
func TestConvertedCopyPlansOnce(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, dst := newRegistry(t)
	seed(t, srcHost+"/app:1", eight)
	opts := func(dryRun bool) Options {
		return Options{
			Image:    copyopts.Image{Source: ref(t, srcHost+"/app:1"), Destination: ref(t, dstHost+"/app:1")},
			Shared:   copyopts.Shared{Jobs: 4, Progress: progress.Discard()},
			Strategy: StrategyIndex, MediaTypes: "docker", Referrers: true, DryRun: dryRun,
			Registry: registry.New(),
		}
	}

	planned, _, err := Run(context.Background(), opts(true))
	if err != nil {
		t.Fatal(err)
	}
	if planned.Steps == nil || planned.Steps.Manifests[len(planned.Steps.Manifests)-1].Digest != planned.DestinationDigest {
		t.Fatalf("the dry run's steps are not the converted plan's (destination %s): %+v", planned.DestinationDigest, planned.Steps)
	}
	if planned.Referrers == nil || planned.Referrers.Copied != 0 {
		t.Errorf("dry run referrers %+v, want none for a converted copy", planned.Referrers)
	}

	dst.reset()
	res, _, err := Run(context.Background(), opts(false))
	if err != nil {
		t.Fatal(err)
	}
	if res.Strategy != "index-docker" || res.DestinationDigest != planned.DestinationDigest || res.MediaType != string(types.DockerManifestList) {
		t.Fatalf("result %s %s %s, want index-docker to write %s", res.Strategy, res.DestinationDigest, res.MediaType, planned.DestinationDigest)
	}
	if res.Referrers == nil || res.Referrers.Copied != 0 {
		t.Errorf("referrers %+v, want none for a converted copy", res.Referrers)
	}
	for _, pd := range res.Platforms {
		if n := dst.count("HEAD", "/manifests/"+pd.DestinationDigest.String()); n != 1 {
			t.Errorf("%s (%s) asked of the destination %d times, want once", pd.DestinationDigest, pd.Platform, n)
		}
	}
}

// A strategy that says from the plan alone that it cannot carry it out
// (Supports) is passed over without a try: zstd layers have no Docker media
// type, so auto does not convert to one.
func TestAutoSkipsWhatTheStrategyDoesNotSupport(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost := refusing(t, func(mt string) bool { return strings.HasPrefix(mt, "application/vnd.oci.") })
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, static.NewLayer([]byte("zstd bytes"), types.OCILayerZStd)); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, srcHost+"/app:1"), img); err != nil {
		t.Fatal(err)
	}
	res, err := runWith(t, srcHost+"/app:1", dstHost+"/app:1", StrategyAuto)
	if err == nil {
		t.Fatal("the copy succeeded against a registry that refuses OCI manifests")
	}
	if res == nil || len(res.Attempts) != 2 || res.Attempts[0].Outcome != "failed" ||
		res.Attempts[1].Strategy != "index-docker" || res.Attempts[1].Outcome != "skipped" || !strings.Contains(res.Attempts[1].Reason, "no docker counterpart") {
		t.Fatalf("attempts %+v, want index failed and index-docker skipped for the zstd layer", res)
	}
}

// rebuilding is a strategy that writes manifests of its own, as the engine
// and BuildKit do: it has no plan to report.
type rebuilding struct{ executed bool }

func (*rebuilding) Name() string                    { return StrategyBuildx }
func (*rebuilding) Available(context.Context) error { return nil }
func (*rebuilding) Supports(*plan.Plan) error       { return nil }
func (r *rebuilding) DryRun(context.Context, strategy.Input) (strategy.Output, strategy.Describer, error) {
	return strategy.NewManifests(r.Name()), func(w io.Writer) error { _, err := io.WriteString(w, "rebuild\n"); return err }, nil
}
func (r *rebuilding) Execute(_ context.Context, in strategy.Input) (strategy.Output, error) {
	r.executed = true
	return strategy.Output{DestinationDigest: in.Plan.SourceDigest, MediaType: in.Plan.Root.MediaType, DigestChanged: true, DigestNote: "rebuilt"}, nil
}

// A strategy without a plan (Output.Plan nil) says that its digests are known
// once pushed, in a dry run, and copies no referrers.
func TestStrategyWithoutPlan(t *testing.T) {
	srcHost, _ := newRegistry(t)
	dstHost, _ := newRegistry(t)
	seed(t, srcHost+"/app:1", fixture.Options{Platforms: fixture.EightPlatforms()[:2], Seed: 3})
	s := &rebuilding{}
	opts := Options{
		Image:    copyopts.Image{Source: ref(t, srcHost+"/app:1"), Destination: ref(t, dstHost+"/app:1")},
		Shared:   copyopts.Shared{Jobs: 2, Progress: progress.Discard()},
		Strategy: StrategyBuildx, Strategies: []strategy.Strategy{s}, Referrers: true, DryRun: true,
		Registry: registry.New(),
	}
	res, describe, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := describe(&out); err != nil || out.String() != "rebuild\n" {
		t.Errorf("describe = %q, %v; want the strategy's own", out.String(), err)
	}
	if res.DestinationDigest != "" || !res.DigestChanged || !strings.Contains(res.DigestNote, "known only once they are pushed") || res.Steps != nil || res.Referrers != nil || s.executed {
		t.Fatalf("dry run result %+v", res)
	}

	opts.DryRun = false
	if res, _, err = Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !s.executed || res.Strategy != StrategyBuildx || res.DigestNote != "rebuilt" || res.Referrers == nil || *res.Referrers != (ReferrerCounts{}) {
		t.Fatalf("result %+v", res)
	}
}
