package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzOpen reads arbitrary bytes as an archive (tar, gzip or zstd; OCI layout
// or docker save): it is refused with one sentence that names the file, or
// every image it lists can be looked up, and every manifest and blob read
// back; nothing panics and nothing hangs.
func FuzzOpen(f *testing.F) {
	// Seeds: the smallest real archives this package writes (one image of
	// one tiny layer; coverage-guided fuzzing crawls on large inputs), and
	// their torn halves.
	dir := f.TempDir()
	img, err := fixture.NewImage(fixture.Options{LayersPerImage: 1, LayerSize: 8, Seed: 5})
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range []location.Location{
		loc(f, location.OCIArchive, filepath.Join(dir, "seed.tar")),
		loc(f, location.OCIArchive, filepath.Join(dir, "seed.tar.gz")),
		loc(f, location.OCIArchive, filepath.Join(dir, "seed.tar.zst")),
		loc(f, location.DockerArchive, filepath.Join(dir, "docker.tar")),
	} {
		a := openArchive(f, l, true, Options{})
		putImage(f, a.Repository(mustRepo(f, nginx)), "1.27", img)
		if err := a.Commit(context.Background()); err != nil {
			f.Fatal(err)
		}
		a.Close()
		data, err := os.ReadFile(l.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte("not a tar at all"))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})

	// One directory for all inputs, each input's own below it: t.TempDir in a
	// fuzz body slows Go's fuzzer to a few inputs a second.
	work := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := os.MkdirTemp(work, "in-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(in)
		p := filepath.Join(in, "in.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		a, err := Open(ctx, location.Location{Transport: location.OCIArchive, Path: p, Text: "oci-archive:" + p}, false, Options{TempDir: in})
		if err != nil {
			if !strings.Contains(err.Error(), "in.tar") || strings.Contains(err.Error(), "\n") {
				t.Errorf("the error does not name the file in one line: %q", err)
			}
			return
		}
		defer a.Close()
		refs, err := a.Images(ctx)
		if err != nil {
			return
		}
		for _, ref := range refs {
			s := a.Repository(ref.Context())
			body, desc, err := s.GetManifest(ctx, ref.Identifier())
			if err != nil {
				continue
			}
			if len(body) == 0 && desc.Size != 0 {
				t.Errorf("%s: empty body for a manifest of %d bytes", ref, desc.Size)
			}
			for _, blob := range blobsOf(body) {
				rc, err := s.GetBlob(ctx, blob)
				if err != nil {
					if !errdefs.Is(err, errdefs.NotFound) && !errdefs.Is(err, errdefs.InvalidArgument) && !errdefs.Is(err, errdefs.DigestMismatch) {
						t.Logf("%s: blob %s: %v", ref, blob, err)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
				rc.Close()
			}
		}
	})
}

// blobsOf lists the digests a manifest's config and layers name, or none.
func blobsOf(body []byte) []v1.Hash {
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	var out []v1.Hash
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		out = append(out, d.Digest)
	}
	return out
}

// FuzzLayout reads a whole OCI layout directory, as other tools write them:
// index.json, a manifest (an image manifest or an index), a config, a layer
// and an optional manifest.json, each blob stored under its own digest so
// that what the fuzzer changes stays linked. In index.json and the manifest,
// @M, @C and @L stand for the manifest's, config's and layer's digests (@m,
// @c and @l for their sizes); in manifest.json, for their paths. The layout
// is refused with one sentence naming it, or what it serves holds together:
// every manifest is its digest's bytes, and every child of a served index is
// in the layout whole (an index of which the layout holds only some
// children is served as an index of those).
func FuzzLayout(f *testing.F) {
	const (
		image    = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"@C","size":@c},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"@L","size":@l}]}`
		index    = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@M","size":@m,"annotations":{"io.containerd.image.name":"docker.io/library/x:1"}}]}`
		sparse   = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@M","size":@m,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + "0000000000000000000000000000000000000000000000000000000000000000" + `","size":3,"platform":{"os":"linux","architecture":"arm64"}}]}`
		null     = `{"schemaVersion":2,"manifests":null}`
		saveJSON = `[{"Config":"@C","RepoTags":["x:1"],"Layers":["@L"]}]`
	)
	layer := gzipOf(f, tarOf(f, "hello.txt", "hello"))
	diffID, _, _ := v1.SHA256(bytes.NewReader(tarOf(f, "hello.txt", "hello")))
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + diffID.String() + `"]}}`)
	f.Add([]byte(index), []byte(image), config, layer, []byte(nil))
	f.Add([]byte(index), []byte(image), config, layer, []byte(saveJSON))
	f.Add([]byte(null), []byte(image), config, layer, []byte(saveJSON))
	f.Add([]byte(null), []byte(image), config, layer, []byte(nil))
	f.Add([]byte(image), []byte(image), config, layer, []byte(nil))
	f.Add([]byte(strings.Replace(index, "@M", "@L", 1)), []byte(image), config, layer, []byte(nil))
	f.Add([]byte(strings.Replace(index, `"@M","size":@m`, `"@M","size":@m},{"digest":"@M","size":@m`, 1)), []byte(sparse), config, layer, []byte(saveJSON))
	f.Add([]byte(index), []byte(image), []byte(`{"rootfs":{"diff_ids":["sha256:`+strings.Repeat("1", 64)+`"]}}`), layer, []byte(nil))

	work := f.TempDir()
	f.Fuzz(func(t *testing.T, indexJSON, manifest, config, layer, manifestJSON []byte) {
		dir, err := os.MkdirTemp(work, "layout-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
			t.Fatal(err)
		}
		put := func(b []byte) v1.Hash {
			d, _, _ := v1.SHA256(bytes.NewReader(b))
			if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Hex), b, 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}
		cd, ld := put(config), put(layer)
		links := func(b []byte, d v1.Hash, name string) []byte {
			s := strings.NewReplacer("@C", cd.String(), "@L", ld.String(), "@c", fmt.Sprint(len(config)), "@l", fmt.Sprint(len(layer))).Replace(string(b))
			if d.Hex != "" {
				s = strings.NewReplacer("@M", d.String(), "@m", name).Replace(s)
			}
			return []byte(s)
		}
		manifest = links(manifest, v1.Hash{}, "")
		md := put(manifest)
		os.WriteFile(filepath.Join(dir, "index.json"), links(indexJSON, md, fmt.Sprint(len(manifest))), 0o644)
		if len(manifestJSON) > 0 {
			mj := strings.NewReplacer("@C", "blobs/sha256/"+cd.Hex, "@L", "blobs/sha256/"+ld.Hex).Replace(string(manifestJSON))
			os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(mj), 0o644)
		}

		ctx := context.Background()
		a, err := Open(ctx, location.Location{Transport: location.OCIDir, Path: dir, Text: "oci:" + dir}, false, Options{})
		if err != nil {
			checkSentence(t, err, dir)
			return
		}
		defer a.Close()
		refs, err := a.Images(ctx)
		if err != nil {
			checkSentence(t, err, dir)
			return
		}
		for _, ref := range refs {
			s := a.Repository(ref.Context())
			body, desc, err := s.GetManifest(ctx, ref.Identifier())
			if err != nil {
				checkSentence(t, err, dir)
				continue
			}
			if got, _, _ := v1.SHA256(bytes.NewReader(body)); got != desc.Digest {
				t.Errorf("%s: served as %s, but its bytes are %s", ref, desc.Digest, got)
			}
			if !desc.MediaType.IsIndex() {
				readBlobs(t, s, body)
				continue
			}
			idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
			if err != nil {
				t.Errorf("%s: served an index that does not parse: %v", ref, err)
				continue
			}
			for _, c := range idx.Manifests {
				cb, _, err := s.GetManifest(ctx, c.Digest.String())
				if err != nil {
					t.Errorf("%s: the served index names %s, which is not in the layout: %v", ref, c.Digest, err)
					continue
				}
				readBlobs(t, s, cb)
			}
		}
	})
}

// checkSentence fails unless err is one line that names the layout.
func checkSentence(t *testing.T, err error, dir string) {
	t.Helper()
	if msg := errdefs.Message(err); !strings.Contains(msg, dir) || strings.Contains(msg, "\n") {
		t.Errorf("the error does not name the layout in one line: %q", msg)
	}
}

// readBlobs reads every blob a manifest names; a damaged one is an error of
// a known kind, naming the layout.
func readBlobs(t *testing.T, s store.Store, body []byte) {
	t.Helper()
	for _, blob := range blobsOf(body) {
		rc, err := s.GetBlob(context.Background(), blob)
		if err != nil {
			switch errdefs.KindOf(err) {
			case errdefs.NotFound, errdefs.InvalidArgument, errdefs.DigestMismatch:
			default:
				t.Errorf("blob %s: %v", blob, err)
			}
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
		rc.Close()
	}
}
