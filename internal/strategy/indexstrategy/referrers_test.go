package indexstrategy_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/referrers"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy/indexstrategy"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifactFor stores an artifact manifest whose subject is subject.
func artifactFor(t *testing.T, s *memstore.Store, artifactType string, subject v1.Descriptor) v1.Descriptor {
	t.Helper()
	subject.Platform = nil
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config: s.AddBlob("application/vnd.oci.empty.v1+json", []byte("{}")), Layers: []v1.Descriptor{s.AddBlob("application/vnd.example", []byte(artifactType))},
		Subject: &subject, Annotations: map[string]string{"org.example": artifactType}}
	return s.Put("", types.OCIManifestSchema1, mustJSON(t, m))
}

// fallbackEntries lists the fallback tag of subject d in s.
func fallbackEntries(t *testing.T, s store.Store, d v1.Hash) []v1.Descriptor {
	t.Helper()
	body, _, err := s.GetManifest(context.Background(), referrers.FallbackTag(d))
	if err != nil {
		t.Fatalf("no referrers tag for %s: %v", d, err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	return idx.Manifests
}

// TestExecuteReferrersRule copies an index whose children include an
// artifact with a subject (an attestation, say) to stores without a
// referrers API: the subject's fallback tag lists it, beside what was there.
func TestExecuteReferrersRule(t *testing.T) {
	for _, kind := range []string{"registry", "oci layout"} {
		t.Run(kind, func(t *testing.T) {
			src := memstore.New("src.test/app")
			amd := src.Image("linux/amd64", 10)
			sbom := artifactFor(t, src, "application/spdx+json", amd)
			src.Index("v1", amd, sbom)

			dst := destinationStore(t, kind)
			// Another tool listed a signature there already.
			other := memstore.New("other")
			sig := artifactFor(t, other, "application/vnd.dev.cosign.artifact.sig.v1+json", amd)
			body, _ := other.Manifest(sig.Digest.String())
			for _, d := range other.Blobs() {
				b, _ := other.Blob(d)
				if err := dst.PutBlob(context.Background(), d, int64(len(b)), bytesReader(b)); err != nil {
					t.Fatal(err)
				}
			}
			// The subject first: an index's children must be there.
			if err := dst.PutManifest(context.Background(), sig.Digest.String(), sig.MediaType, body); err != nil {
				t.Fatal(err)
			}
			amdBody, _ := src.Manifest(amd.Digest.String())
			if err := dst.PutManifest(context.Background(), amd.Digest.String(), amd.MediaType, amdBody); err != nil {
				t.Fatal(err)
			}
			if err := referrers.UpdateFallbackTag(context.Background(), dst, amd.Digest, []v1.Descriptor{{MediaType: sig.MediaType, Digest: sig.Digest, Size: sig.Size}}); err != nil {
				t.Fatal(err)
			}

			p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := indexstrategy.Execute(context.Background(), p, src, dst, copyopts.Shared{Jobs: 2, Progress: progress.Discard()}); err != nil {
				t.Fatal(err)
			}
			got := fallbackEntries(t, dst, amd.Digest)
			if len(got) != 2 || got[0].Digest != sig.Digest || got[1].Digest != sbom.Digest {
				t.Fatalf("referrers tag lists %v, want the signature and then the SBOM", got)
			}
			if got[1].ArtifactType != "application/spdx+json" || got[1].Annotations["org.example"] != "application/spdx+json" || got[1].Size != sbom.Size {
				t.Errorf("the SBOM's entry is %+v, want its artifactType, size and annotations", got[1])
			}
		})
	}
}

// TestExecuteReferrersRuleRoot copies one artifact with a subject under a
// tag: it too is listed in its subject's fallback tag.
func TestExecuteReferrersRuleRoot(t *testing.T) {
	src := memstore.New("src.test/app")
	amd := src.Image("linux/amd64", 10)
	sig := artifactFor(t, src, "application/vnd.example.sig", amd)
	body, _ := src.Manifest(sig.Digest.String())
	src.Put("v1", sig.MediaType, body)
	dst := memstore.New("dst.test/app")
	amdBody, _ := src.Manifest(amd.Digest.String())
	dst.Put("", amd.MediaType, amdBody)

	p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := indexstrategy.Execute(context.Background(), p, src, dst, copyopts.Shared{Jobs: 2, Progress: progress.Discard()}); err != nil {
		t.Fatal(err)
	}
	if got := fallbackEntries(t, dst, amd.Digest); len(got) != 1 || got[0].Digest != sig.Digest {
		t.Errorf("referrers tag lists %v, want the artifact", got)
	}
}
