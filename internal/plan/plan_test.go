package plan_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	srcRef = name.MustParseReference("src.test/app:v1")
	dstRef = name.MustParseReference("dst.test/app:v1")
)

func build(t *testing.T, src *memstore.Store, plats ...string) (*plan.Plan, error) {
	t.Helper()
	im := copyopts.Image{Source: srcRef, Destination: dstRef}
	for _, s := range plats {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		im.Platforms = append(im.Platforms, *p)
	}
	return plan.Build(context.Background(), src, memstore.New("dst.test/app"), im, copyopts.Shared{Jobs: 2})
}

// TestBuildArtifact plans OCI artifacts whose config is not an image
// config: they carry no platform and are copied byte for byte.
func TestBuildArtifact(t *testing.T) {
	cases := []struct {
		name       string
		configType types.MediaType
		config     string
	}{
		{"helm chart", "application/vnd.cncf.helm.config.v1+json", `{"name":"chart","version":"0.1.0","apiVersion":"v2"}`},
		{"wasm", "application/vnd.wasm.config.v0+json", `{"architecture":["wasm"],"os":7}`},
		{"not JSON", "application/vnd.example.config", "\x00asm\x01\x00\x00\x00"},
		{"empty", "application/vnd.oci.empty.v1+json", `{}`},
		{"image config that is not JSON", types.OCIConfigJSON, "not json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := memstore.New("src.test/app")
			layer := src.AddBlob("application/vnd.example.layer", []byte("payload"))
			d := src.Manifest2(tc.configType, []byte(tc.config), layer)
			body, _ := src.Manifest(d.Digest.String())
			src.Put("v1", d.MediaType, body)
			p, err := build(t, src)
			if tc.configType == types.OCIConfigJSON {
				if err == nil {
					t.Fatal("an image config that is not JSON was accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Root.Digest != d.Digest || p.DigestChanged || len(p.Blobs) != 2 {
				t.Errorf("plan = root %s changed %v, %d blobs; want %s unchanged, 2 blobs", p.Root.Digest, p.DigestChanged, len(p.Blobs), d.Digest)
			}
			if _, err := build(t, src, "linux/amd64"); err == nil || !strings.Contains(err.Error(), "artifact") {
				t.Errorf("--platform on an artifact: %v, want a sentence naming it an artifact", err)
			}
		})
	}
}

// TestBuildNestedIndex plans an index whose children are indexes, children
// first at any depth.
func TestBuildNestedIndex(t *testing.T) {
	src := memstore.New("src.test/app")
	amd := src.Image("linux/amd64", 10)
	arm := src.Image("linux/arm64", 10)
	art := src.Manifest2("application/vnd.cncf.helm.config.v1+json", []byte(`{"name":"c"}`))
	inner := src.Index("", arm, art)
	middle := src.Index("", inner)
	middle.Platform = &v1.Platform{OS: "linux", Architecture: "arm64"}
	src.Index("v1", amd, middle)

	p, err := build(t, src)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[v1.Hash]int{}
	for i, m := range p.Manifests {
		if _, ok := pos[m.Digest]; !ok {
			pos[m.Digest] = i
		}
	}
	for _, d := range []v1.Descriptor{amd, arm, art, inner, middle} {
		if _, ok := pos[d.Digest]; !ok {
			t.Fatalf("manifest %s is not in the plan", d.Digest)
		}
	}
	if !(pos[arm.Digest] < pos[inner.Digest] && pos[art.Digest] < pos[inner.Digest] && pos[inner.Digest] < pos[middle.Digest]) {
		t.Errorf("children do not come before their index: %v", pos)
	}
	if len(p.Blobs) != 5 { // 2 configs + 2 layers + the artifact's config
		t.Errorf("%d blobs, want 5", len(p.Blobs))
	}

	// --platform picks among the top-level entries; a nested index kept
	// is copied whole, so its digest stays the one its parent names.
	sub, err := build(t, src, "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(sub.Root.Body, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != middle.Digest || len(sub.Manifests) != 4 {
		t.Errorf("--platform linux/arm64 kept %v (%d manifests), want the nested index alone with its 3 below", idx.Manifests, len(sub.Manifests))
	}
}

// TestBuildNestedTooDeep refuses an index nested deeper than the bound.
func TestBuildNestedTooDeep(t *testing.T) {
	src := memstore.New("src.test/app")
	d := src.Image("linux/amd64", 10)
	for range 10 {
		d = src.Index("", d)
	}
	src.Put("v1", types.OCIImageIndex, mustManifest(t, src, d.Digest))
	if _, err := build(t, src); err == nil || !strings.Contains(err.Error(), "more than 8 deep") {
		t.Errorf("an index nested 10 deep: %v, want a refusal", err)
	}
}

func mustManifest(t *testing.T, s *memstore.Store, d v1.Hash) []byte {
	t.Helper()
	b, ok := s.Manifest(d.String())
	if !ok {
		t.Fatalf("no manifest %s", d)
	}
	return b
}

// TestBuildChildOwnMediaType plans a child whose body says another media
// type than its parent's descriptor: it is pushed with its own.
func TestBuildChildOwnMediaType(t *testing.T) {
	src := memstore.New("src.test/app")
	img := src.Image("linux/amd64", 10)
	wrong := img
	wrong.MediaType = types.DockerManifestSchema2
	src.Index("v1", wrong)
	p, err := build(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Manifests[0].MediaType; got != types.OCIManifestSchema1 {
		t.Errorf("child media type %s, want its own %s", got, types.OCIManifestSchema1)
	}
}

// TestBuildNestedPlatformNotNamed: --platform for a platform that is only
// inside a nested index whose descriptor names none says so.
func TestBuildNestedPlatformNotNamed(t *testing.T) {
	src := memstore.New("src.test/app")
	src.Index("v1", src.Index("", src.Image("linux/amd64", 10)), src.Image("linux/arm64", 10))
	_, err := build(t, src, "linux/amd64")
	if err == nil || !strings.Contains(err.Error(), "indexes that name no platform") {
		t.Errorf("--platform linux/amd64 inside an unnamed nested index: %v", err)
	}
}
