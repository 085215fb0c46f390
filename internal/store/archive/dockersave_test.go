package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/testutil/fixture"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// saveTar writes a docker save archive the way dockerd 20.10 does: a directory
// per layer holding layer.tar (uncompressed), the config as HEX.json, and
// manifest.json. With gzipSecond the second layer is stored compressed, as some
// tools do; with a link, a third image reuses a layer through a symlink.
func saveTar(t testing.TB, imgs []v1.Image, repoTags [][]string, gzipSecond bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644})
		tw.Write(b)
	}
	var manifest []saveImage
	written := map[string]string{}
	for i, img := range imgs {
		raw, _ := img.RawConfigFile()
		cfg, _ := img.ConfigName()
		add(cfg.Hex+".json", raw)
		entry := saveImage{Config: cfg.Hex + ".json", RepoTags: repoTags[i]}
		layers, _ := img.Layers()
		for j, l := range layers {
			diffID, _ := l.DiffID()
			dir := fmt.Sprintf("%x", diffID.Hex[:16])
			if prev, ok := written[diffID.Hex]; ok {
				// Reused: a symlink to the first copy, as docker save does.
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: dir + fmt.Sprint(i) + "/layer.tar", Linkname: "../" + prev})
				entry.Layers = append(entry.Layers, dir+fmt.Sprint(i)+"/layer.tar")
				continue
			}
			var b []byte
			if gzipSecond && j == 1 {
				rc, _ := l.Compressed()
				b, _ = io.ReadAll(rc)
			} else {
				rc, _ := l.Uncompressed()
				b, _ = io.ReadAll(rc)
			}
			add(dir+"/VERSION", []byte("1.0"))
			add(dir+"/layer.tar", b)
			written[diffID.Hex] = dir + "/layer.tar"
			entry.Layers = append(entry.Layers, dir+"/layer.tar")
		}
		manifest = append(manifest, entry)
	}
	mj, _ := json.Marshal(manifest)
	add("manifest.json", mj)
	add("repositories", []byte("{}"))
	tw.Close()
	return buf.Bytes()
}

func TestDockerSave(t *testing.T) {
	t.Parallel()
	amd, _ := fixture.NewImage(fixture.Options{LayerSize: 2000, Seed: 301, Docker: true})
	arm, _ := fixture.NewImage(fixture.Options{Platforms: fixture.EightPlatforms()[1:2], LayerSize: 2000, Seed: 301, Docker: true})
	b := saveTar(t, []v1.Image{amd, arm, amd}, [][]string{{"rancher/klipper-lb:v0.3.4", "klipper:latest"}, {"registry.lan:5000/arm/app:1"}, nil}, true)

	dir := t.TempDir()
	plain := filepath.Join(dir, "save.tar")
	os.WriteFile(plain, b, 0o644)
	// The same archive zstd-compressed under a name that says nothing.
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	compressed := filepath.Join(dir, "save-images.tar")
	os.WriteFile(compressed, z.Bytes(), 0o644)

	for _, file := range []string{plain, compressed} {
		for _, transport := range []location.Transport{location.DockerArchive, location.OCIArchive} {
			a := openArchive(t, loc(t, transport, file), false, Options{})
			var names []string
			for _, e := range a.Entries() {
				names = append(names, fmt.Sprintf("%s %v", e.Name.Name(), e.Unnamed))
			}
			entries := a.Entries()
			want := []string{
				"index.docker.io/rancher/klipper-lb:v0.3.4 false",
				"index.docker.io/library/klipper:latest false",
				"registry.lan:5000/arm/app:1 false",
				fmt.Sprintf("localhost/save@%s true", entries[0].Descriptor.Digest),
			}
			if file == compressed {
				want[3] = fmt.Sprintf("localhost/save-images@%s true", entries[0].Descriptor.Digest)
			}
			if !slices.Equal(names, want) {
				t.Errorf("%s: names %v, want %v", file, names, want)
			}
			s := a.Repository(mustRepo(t, "rancher/klipper-lb"))
			head, err := s.HeadManifest(context.Background(), "v0.3.4")
			if err != nil || head.MediaType != types.DockerManifestSchema2 {
				t.Fatalf("HEAD: %+v, %v", head, err)
			}
			body, desc, err := s.GetManifest(context.Background(), "v0.3.4")
			if err != nil || desc.Digest != head.Digest {
				t.Fatalf("GET: %v %v", desc, err)
			}
			again, _, err := a.Repository(mustRepo(t, "anything")).GetManifest(context.Background(), head.Digest.String())
			if err != nil || !bytes.Equal(again, body) {
				t.Errorf("GET by digest: %v", err)
			}
			checkSaveManifest(t, body, amd)
			m, _ := v1.ParseManifest(bytes.NewReader(body))
			raw, _ := amd.RawConfigFile()
			checkBlob(t, s, m.Config.Digest, raw)
			layers, _ := amd.Layers()
			for j, l := range layers {
				rc, _ := l.Uncompressed()
				if j == 1 {
					rc, _ = l.Compressed()
				}
				want, _ := io.ReadAll(rc)
				checkBlob(t, s, m.Layers[j].Digest, want)
			}
			// A docker save archive has no other manifests.
			if _, err := s.HeadManifest(context.Background(), m.Config.Digest.String()); err == nil {
				t.Error("a config read as a manifest")
			}
			a.Close()
		}
	}
}

// checkSaveManifest checks a made-up manifest: containerd's field order, the
// config's bytes, the first layer uncompressed under its diff_id, the second
// gzip under its own digest.
func checkSaveManifest(t testing.TB, body []byte, img v1.Image) {
	t.Helper()
	cfg, _ := img.ConfigName()
	raw, _ := img.RawConfigFile()
	layers, _ := img.Layers()
	diffID, _ := layers[0].DiffID()
	ucSize, _ := layers[0].Uncompressed()
	n, _ := io.Copy(io.Discard, ucSize)
	gz, _ := layers[1].Digest()
	gzSize, _ := layers[1].Size()
	want := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","digest":"%s","size":%d},`+
		`{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"%s","size":%d}]}`,
		cfg, len(raw), diffID, n, gz, gzSize)
	if string(body) != want {
		t.Errorf("made-up manifest\n%s\nwant\n%s", body, want)
	}
}
