package archive

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
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
