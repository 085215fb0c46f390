package merge

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// streamedStore is a memstore read as a stream: it records what a copy says
// it will read, and places each blob at its position in the store's order.
type streamedStore struct {
	*memstore.Store
	expected []v1.Hash
	order    []v1.Hash
}

func (s *streamedStore) Expect(_ context.Context, ds []v1.Hash) {
	s.expected = append(s.expected, ds...)
}

func (s *streamedStore) StreamOrder(d v1.Hash) (int, bool) {
	i := slices.Index(s.order, d)
	return i, i >= 0
}

type streamedArchive struct {
	memArchive
	s *streamedStore
}

func (a streamedArchive) Repository(name.Repository) store.Store { return a.s }

// TestMergeStreamed tells each archive of a merge, read as a stream, which of
// its own blobs a copy will read, and where they pass: each archive's blobs
// are read in its own pass.
func TestMergeStreamed(t *testing.T) {
	amd, arm := memstore.New("amd64.tar.zst"), memstore.New("arm64.tar.zst")
	amdImage := platformImage("linux/amd64", "amd", "", amd)
	armImage := platformImage("linux/arm64", "arm", "", arm)
	tagIndex([]v1.Descriptor{amdImage, armImage}, amd, arm)
	layerOf := func(s *memstore.Store, d v1.Descriptor) v1.Hash {
		body, _ := s.Manifest(d.Digest.String())
		m, _ := v1.ParseManifest(strings.NewReader(string(body)))
		return m.Layers[0].Digest
	}
	amdLayer, armLayer := layerOf(amd, amdImage), layerOf(arm, armImage)
	parts := []*streamedStore{{Store: amd, order: []v1.Hash{amdLayer}}, {Store: arm, order: []v1.Hash{armLayer}}}
	a, err := Open(context.Background(), []store.Archive{
		streamedArchive{archiveOf(amd), parts[0]}, streamedArchive{archiveOf(arm), parts[1]},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, ok := a.Repository(ref.Context()).(store.Streamed)
	if !ok {
		t.Fatal("a merged archive's repository is not a store.Streamed")
	}
	repo.Expect(context.Background(), []v1.Hash{amdLayer, armLayer})
	if !slices.Equal(parts[0].expected, []v1.Hash{amdLayer}) || !slices.Equal(parts[1].expected, []v1.Hash{armLayer}) {
		t.Errorf("expected: amd64 archive %v, arm64 archive %v; want each its own layer", parts[0].expected, parts[1].expected)
	}
	if i, ok := repo.StreamOrder(armLayer); !ok || i != 0 {
		t.Errorf("the arm64 layer's place in its stream: %d %v, want 0 true", i, ok)
	}
}
