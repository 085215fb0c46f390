package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// memArchive is an archive of one repository held in a memstore, with the
// images refs names.
type memArchive struct {
	s    *memstore.Store
	refs []name.Reference
}

func (a memArchive) String() string                                   { return a.s.String() }
func (a memArchive) Images(context.Context) ([]name.Reference, error) { return a.refs, nil }
func (a memArchive) Repository(name.Repository) store.Store           { return a.s }
func (a memArchive) Commit(context.Context) error                     { return nil }
func (a memArchive) Close() error                                     { return nil }

var ref = name.MustParseReference("example.test/app:v1")

func archiveOf(s *memstore.Store) memArchive {
	return memArchive{s: s, refs: []name.Reference{ref}}
}

// platformImage stores in each of stores a platform's image with one uncompressed
// layer (its diff_id is its digest) whose bytes are seed's; configOS, when
// set, is the OS its config claims instead of the platform's.
func platformImage(platform, seed, configOS string, stores ...*memstore.Store) v1.Descriptor {
	p, _ := v1.ParsePlatform(platform)
	var d v1.Descriptor
	for _, s := range stores {
		layer := s.AddBlob(types.OCIUncompressedLayer, []byte("layer of "+seed))
		cf := v1.ConfigFile{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
			RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{layer.Digest}}}
		if configOS != "" {
			cf.OS = configOS
		}
		cfg, _ := json.Marshal(cf)
		d = s.Manifest2(types.OCIConfigJSON, cfg, layer)
	}
	d.Platform = p
	return d
}

// tagIndex is the OCI index of children, as bytes and descriptor, stored under
// the tag in each of stores.
func tagIndex(children []v1.Descriptor, stores ...*memstore.Store) v1.Descriptor {
	var d v1.Descriptor
	for _, s := range stores {
		d = s.Index(ref.Identifier(), children...)
	}
	return d
}

func open(t *testing.T, stores ...*memstore.Store) (*Archive, []string, error) {
	t.Helper()
	var parts []store.Archive
	for _, s := range stores {
		parts = append(parts, archiveOf(s))
	}
	var notes []string
	a, err := Open(context.Background(), parts, func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) })
	return a, notes, err
}

func children(t *testing.T, a *Archive) (v1.Descriptor, []v1.Descriptor) {
	t.Helper()
	body, d, err := a.Repository(ref.Context()).GetManifest(context.Background(), ref.Identifier())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v1.ParseIndexManifest(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return d, idx.Manifests
}

// Two sparse archives (one architecture each of the same upstream index)
// together serve the upstream index byte for byte, and each child's blobs
// from the archive that holds them.
func TestMergeSparseComplete(t *testing.T) {
	amd, arm := memstore.New("amd64.tar"), memstore.New("arm64.tar")
	amdImage := platformImage("linux/amd64", "amd", "", amd)
	armImage := platformImage("linux/arm64", "arm", "", arm)
	upstream := tagIndex([]v1.Descriptor{amdImage, armImage}, amd, arm)

	a, notes, err := open(t, amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := children(t, a); d.Digest != upstream.Digest || len(notes) != 0 {
		t.Errorf("merged root %s with notes %q; want the upstream index %s and no note", d.Digest, notes, upstream.Digest)
	}
	repo := a.Repository(ref.Context())
	body, _ := arm.Manifest(armImage.Digest.String())
	m, _ := v1.ParseManifest(strings.NewReader(string(body)))
	rc, err := repo.GetBlob(context.Background(), m.Layers[0].Digest)
	if err != nil {
		t.Fatalf("the arm64 layer through the merge: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "layer of arm" {
		t.Errorf("the arm64 layer reads %q", got)
	}
	if err := repo.PutBlob(context.Background(), m.Layers[0].Digest, 1, strings.NewReader("x")); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("PutBlob into a merged archive: %v; want it refused as read-only", err)
	}
}

// Archives that together lack a child of the upstream index give an index
// of what they hold: a new digest, and a note that says so.
func TestMergeSparseIncomplete(t *testing.T) {
	one, two := memstore.New("one.tar"), memstore.New("two.tar")
	amdImage := platformImage("linux/amd64", "amd", "", one, two)
	armImage := platformImage("linux/arm64", "arm", "", memstore.New("elsewhere")) // in neither archive
	upstream := tagIndex([]v1.Descriptor{amdImage, armImage}, one, two)

	a, notes, err := open(t, one, two)
	if err != nil {
		t.Fatal(err)
	}
	d, got := children(t, a)
	if d.Digest == upstream.Digest || len(got) != 1 || got[0].Digest != amdImage.Digest {
		t.Errorf("merged root %s with %d children; want a new index of the amd64 image alone", d.Digest, len(got))
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "1 of the 2 manifests") || !strings.Contains(notes[0], d.Digest.String()) {
		t.Errorf("notes %q; want one that gives the count and the new digest", notes)
	}
}

// docker-save archives of one platform each become one list per name.
func TestMergeSinglePlatformImages(t *testing.T) {
	amd, arm := memstore.New("amd64.tar"), memstore.New("arm64.tar")
	amdImage := platformImage("linux/amd64", "amd", "", amd)
	armImage := platformImage("linux/arm64", "arm", "", arm)
	amd.Put(ref.Identifier(), amdImage.MediaType, mustManifestOf(amd, amdImage))
	arm.Put(ref.Identifier(), armImage.MediaType, mustManifestOf(arm, armImage))

	a, notes, err := open(t, amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	d, got := children(t, a)
	if d.MediaType != types.OCIImageIndex || len(got) != 2 || got[0].Platform.Architecture != "amd64" || got[1].Platform.Architecture != "arm64" {
		t.Errorf("merged root %s (%s) with children %v; want an index of amd64 then arm64", d.Digest, d.MediaType, got)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "a list of linux/amd64, linux/arm64") {
		t.Errorf("notes %q", notes)
	}
}

// What the archives cannot both be is refused with a sentence that names
// the archives and what to do.
func TestMergeRefuses(t *testing.T) {
	tests := []struct {
		name string
		make func(one, two *memstore.Store)
		want string
	}{
		{"one platform, two contents", func(one, two *memstore.Store) {
			a, b := platformImage("linux/amd64", "a", "", one), platformImage("linux/amd64", "b", "", two)
			one.Put(ref.Identifier(), a.MediaType, mustManifestOf(one, a))
			two.Put(ref.Identifier(), b.MediaType, mustManifestOf(two, b))
		}, "both hold linux/amd64 with different content"},
		{"index and config disagree", func(one, two *memstore.Store) {
			tagIndex([]v1.Descriptor{platformImage("linux/arm64", "arm", "windows", one, two)}, one, two)
		}, "the index says linux/arm64 but the image's config says windows/arm64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			one, two := memstore.New("one.tar"), memstore.New("two.tar")
			tc.make(one, two)
			_, _, err := open(t, one, two)
			if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(errdefs.Message(err), tc.want) {
				t.Errorf("Open = %v; want InvalidArgument saying %q", err, tc.want)
			}
		})
	}
}

// mustManifestOf is the body of manifest d in s.
func mustManifestOf(s *memstore.Store, d v1.Descriptor) []byte {
	body, _ := s.Manifest(d.Digest.String())
	return body
}

// A layer that does not uncompress to its config's diff_id is refused.
func TestMergeDiffIDMismatch(t *testing.T) {
	s := memstore.New("one.tar")
	layer := s.AddBlob(types.OCIUncompressedLayer, []byte("the layer"))
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	cfg, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{other}}})
	d := s.Manifest2(types.OCIConfigJSON, cfg, layer)
	s.Put(ref.Identifier(), d.MediaType, mustManifestOf(s, d))
	if _, _, err := open(t, s); !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(errdefs.Message(err), "the archive is corrupt") {
		t.Errorf("Open = %v; want the layer refused as corrupt", err)
	}
}
