package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// tarOf makes an uncompressed tar of the given files, in order.
func tarOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: files[i], Size: int64(len(files[i+1])), Mode: 0o644})
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	return buf.Bytes()
}

// validArchive writes a good oci-archive and returns its bytes.
func validArchive(t testing.TB, file string) []byte {
	t.Helper()
	imgs := newTestImages(t, 201)
	l := loc(t, location.OCIArchive, filepath.Join(t.TempDir(), file))
	writeAll(t, l, imgs, Options{})
	b, err := os.ReadFile(l.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInput opens archives that are wrong in every way the issue lists: each
// error is one sentence naming the file, of kind InvalidArgument, and no
// temporary file is left.
func TestBadInput(t *testing.T) {
	t.Parallel()
	tarball := validArchive(t, "good.tar")
	gz := validArchive(t, "good.tar.gz")
	zst := validArchive(t, "good.tar.zst")
	for _, tc := range []struct {
		name    string
		content []byte // nil: the file does not exist
		want    string
	}{
		{"missing.tar", nil, "does not exist"},
		{"empty.tar", []byte{}, "is empty"},
		{"truncated.tar", tarball[:len(tarball)/2], "is truncated"},
		{"truncated-header.tar", tarball[:len(tarball)-1024-300], "is truncated"},
		{"truncated.tar.gz", gz[:len(gz)/2], "is truncated"},
		{"truncated.tar.zst", zst[:len(zst)/2], "is truncated"},
		{"text.tar", []byte(strings.Repeat("not a tar at all\n", 100)), "is not a tar archive"},
		{"neither.tar", tarOf(t, "hello.txt", "hi"), "is neither an OCI image layout (it has no index.json) nor a docker save archive (it has no manifest.json)"},
		{"bad-index.tar", tarOf(t, "oci-layout", layoutFile, "index.json", `{"manifests": [`), "has an index.json that does not parse"},
		{"bad-entry.tar", tarOf(t, "index.json", `{"manifests": [{"digest": "sha256:xyz"}]}`), "has an index.json whose entry 1 does not parse"},
		{"bad-manifest.tar", tarOf(t, "manifest.json", `[{"Config": 3}]`), "has a manifest.json that does not parse"},
		{"missing-config.tar", tarOf(t, "manifest.json", `[{"Config": "abc.json", "Layers": []}]`), "has a manifest.json naming config abc.json, which is not in the archive"},
		{"missing-layer.tar", tarOf(t, "manifest.json", `[{"Config": "c.json", "Layers": ["l/layer.tar"]}]`, "c.json", `{"rootfs":{"type":"layers","diff_ids":["sha256:`+strings.Repeat("0", 64)+`"]}}`), "has a manifest.json naming layer l/layer.tar, which is not in the archive"},
		{"bzip2.tar.bz2", []byte("BZh91AY&SY\x00\x00"), "is compressed with bzip2"},
		{"xz.tar", []byte("\xfd7zXZ\x00\x00\x04"), "is compressed with xz"},
		{"zip.tar", []byte("PK\x03\x04\x14\x00"), "is a zip file"},
		{"gzip-not-tar.tar.gz", gzipOf(t, []byte("plain text, not a tar")), "is not a tar archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			file := filepath.Join(t.TempDir(), tc.name)
			if tc.content != nil {
				os.WriteFile(file, tc.content, 0o644)
			}
			for _, transport := range []location.Transport{location.OCIArchive, location.DockerArchive} {
				_, err := Open(context.Background(), loc(t, transport, file), false, Options{TempDir: tmp})
				assertBad(t, err, file, tc.want)
			}
			assertOnly(t, tmp)
		})
	}
}

func assertBad(t testing.TB, err error, file, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s opened without error", file)
	}
	msg := errdefs.Message(err)
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("%s: kind %s, want invalid argument: %v", file, errdefs.KindOf(err), err)
	}
	if !strings.Contains(msg, file) || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("%s: message %q, want one line naming the file with %q", file, msg, want)
	}
}

func gzipOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestBadTarget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "other"), 0o755)
	os.WriteFile(filepath.Join(dir, "other", "notes.txt"), []byte("x"), 0o644)
	for _, tc := range []struct {
		loc, file, want string
	}{
		{"oci-archive:" + filepath.Join(dir, "missing", "x.tar"), filepath.Join(dir, "missing", "x.tar"), "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{"docker-archive:" + filepath.Join(dir, "missing", "x.tar"), filepath.Join(dir, "missing", "x.tar"), "does not exist"},
		{"oci:" + filepath.Join(dir, "missing", "layout"), filepath.Join(dir, "missing", "layout"), "does not exist"},
		{"oci-archive:" + dir, dir, "is a directory"},
		{"oci:" + filepath.Join(dir, "file"), filepath.Join(dir, "file"), "is a file, not a directory"},
		{"oci:" + filepath.Join(dir, "other"), filepath.Join(dir, "other"), "is neither empty nor an OCI image layout"},
	} {
		l, _ := location.Parse(tc.loc)
		_, err := Open(context.Background(), l, true, Options{Force: true})
		assertBad(t, err, tc.file, tc.want)
	}
}

// TestDamagedBlob reads a manifest whose file does not match its digest.
func TestDamagedBlob(t *testing.T) {
	t.Parallel()
	imgs := newTestImages(t, 211)
	dir := filepath.Join(t.TempDir(), "layout")
	l := loc(t, location.OCIDir, dir)
	writeAll(t, l, imgs, Options{})
	d, _ := imgs.single.Digest()
	p := filepath.Join(dir, "blobs", "sha256", d.Hex)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte("schemaVersion"), []byte("schemaversion"), 1), 0o644)
	a := openArchive(t, l, false, Options{})
	defer a.Close()
	s := a.Repository(mustRepo(t, nginx))
	for _, ref := range []string{d.String(), "1.27"} {
		_, _, err := s.GetManifest(context.Background(), ref)
		if !errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(err.Error(), dir) {
			t.Errorf("GET %s of a damaged manifest: %v", ref, err)
		}
	}
	if err := s.PutBlob(context.Background(), d, 1, bytes.NewReader(nil)); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("PutBlob into an archive opened for reading: %v", err)
	}
	if err := s.PutManifest(context.Background(), "x", types.OCIManifestSchema1, b); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("PutManifest into an archive opened for reading: %v", err)
	}
}

// TestOpenCancelled stops decompressing when the context is cancelled and
// leaves no temporary file.
func TestOpenCancelled(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "images.tar.zst")
	os.WriteFile(file, validArchive(t, "x.tar.zst"), 0o644)
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Open(ctx, loc(t, location.OCIArchive, file), false, Options{TempDir: tmp})
	if err != context.Canceled {
		t.Errorf("open with a cancelled context: %v", err)
	}
	assertOnly(t, tmp)
}
