package archive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/location"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestPeakRSS writes a 1 GiB layer through an archive (four 32 MiB ones at the
// same time) and reads it back, then
// reports the process's peak RSS. It runs only when asked, alone in its
// process, since the peak is the whole process's:
//
//	DOCKER_MIGRATE_RSS=.tar.zst go test -run TestPeakRSS -v ./internal/store/archive/
//
// DOCKER_MIGRATE_RSS is the archive's extension (.tar, .tar.gz, .tar.zst).
func TestPeakRSS(t *testing.T) {
	ext := os.Getenv("DOCKER_MIGRATE_RSS")
	if ext == "" {
		t.Skip("set DOCKER_MIGRATE_RSS=.tar.zst (or .tar, .tar.gz) to measure")
	}
	const size = 1 << 30
	layer := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{1}), size) }
	h := sha256.New()
	io.Copy(h, layer())
	d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}

	l := loc(t, location.OCIArchive, filepath.Join(t.TempDir(), "big"+ext))
	ctx := context.Background()
	start := time.Now()
	a := openArchive(t, l, true, Options{})
	s := a.Repository(mustRepo(t, "big/layer"))
	// Four 32 MiB layers arrive while the big one is written, as in a
	// copy with several transfers: they wait in the read-ahead pool.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			small := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{byte(2 + i)}), 32<<20) }
			sh := sha256.New()
			io.Copy(sh, small())
			sd := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sh.Sum(nil))}
			if err := s.PutBlob(ctx, sd, 32<<20, small()); err != nil {
				t.Error(err)
			}
		})
	}
	if err := s.PutBlob(ctx, d, size, layer()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + d.String() + `"]}}`)
	cd, cs, _ := v1.SHA256(strings.NewReader(string(cfg)))
	s.PutBlob(ctx, cd, cs, strings.NewReader(string(cfg)))
	m, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: cd, Size: cs},
		Layers: []v1.Descriptor{{MediaType: types.OCILayer, Digest: d, Size: size}}})
	if err := s.PutManifest(ctx, "v1", types.OCIManifestSchema1, m); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a.Close()
	written := time.Since(start)
	writePeak := peakRSS(t)
	st, _ := os.Stat(l.Path)

	start = time.Now()
	r := openArchive(t, l, false, Options{})
	defer r.Close()
	rc, err := r.Repository(mustRepo(t, "big/layer")).GetBlob(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	if n, err := io.Copy(h, rc); err != nil || n != size {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	rc.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
		t.Fatalf("read back %s", got)
	}
	peak := peakRSS(t)
	t.Logf("%s: archive %d MiB; write+commit %s (peak RSS %d MiB), open+read %s; peak RSS %d MiB", ext, st.Size()>>20, written.Round(time.Millisecond), writePeak>>20, time.Since(start).Round(time.Millisecond), peak>>20)
	if peak > 64<<20 {
		t.Errorf("peak RSS %d MiB, over 64 MiB", peak>>20)
	}
}

// peakRSS is VmHWM from /proc/self/status, in bytes.
func peakRSS(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// TestPeakRSSRead reads every blob of an existing archive and reports the peak
// RSS, for archives made elsewhere (a k3s airgap tarball, zstd --long):
//
//	DOCKER_MIGRATE_RSS_READ=k3s-airgap-images-amd64.tar.zst go test -run TestPeakRSSRead -v ./internal/store/archive/
func TestPeakRSSRead(t *testing.T) {
	file := os.Getenv("DOCKER_MIGRATE_RSS_READ")
	if file == "" {
		t.Skip("set DOCKER_MIGRATE_RSS_READ=FILE to measure")
	}
	start := time.Now()
	a := openArchive(t, loc(t, location.OCIArchive, file), false, Options{})
	defer a.Close()
	opened := time.Since(start)
	var n int64
	blobs := 0
	seen := map[v1.Hash]bool{}
	read := func(d v1.Hash) {
		if seen[d] {
			return
		}
		seen[d] = true
		rc, err := a.openBlob(context.Background(), d)
		if err != nil {
			return // a sparse archive
		}
		c, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += c
		blobs++
	}
	var walk func(d v1.Hash)
	walk = func(d v1.Hash) {
		body, desc, err := a.manifest(d, "")
		if err != nil {
			return
		}
		read(d)
		if desc.MediaType.IsIndex() {
			idx, _ := v1.ParseIndexManifest(strings.NewReader(string(body)))
			for _, m := range idx.Manifests {
				walk(m.Digest)
			}
			return
		}
		m, err := v1.ParseManifest(strings.NewReader(string(body)))
		if err != nil {
			return
		}
		read(m.Config.Digest)
		for _, l := range m.Layers {
			read(l.Digest)
		}
	}
	for _, e := range a.Entries() {
		walk(e.Descriptor.Digest)
	}
	t.Logf("%s: %d images, %d blobs, %d MiB read; open %s, total %s; peak RSS %d MiB",
		file, len(a.Entries()), blobs, n>>20, opened.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), peakRSS(t)>>20)
}
