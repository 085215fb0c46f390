package engine

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/client"
)

// fakeEngine answers the engine API endpoints a target uses, in the shapes
// the Engine API documents (/_ping, /version, /info, POST /images/load),
// and records the entries of every load body it reads.
type fakeEngine struct {
	containerd bool
	// refuse, when set, is the error message the load answers with.
	refuse string
	// api is the API version it speaks (1.41 when empty).
	api string
	// images answer GET /images/NAME/json, by NAME.
	images map[string]any
	// save is the body of GET /images/get.
	save []byte

	// loaded gets a value each time a load body has been read.
	loaded chan struct{}

	mu      sync.Mutex
	loads   [][]string // entry names of each load, in order
	bodies  []map[string][]byte
	readErr []error
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := cmp.Or(f.api, "1.41")
	w.Header().Set("Api-Version", api)
	path := r.URL.Path
	if i := strings.Index(path[1:], "/"); strings.HasPrefix(path, "/v1.") && i > 0 {
		path = path[i+1:]
	}
	switch {
	case path == "/_ping":
		fmt.Fprint(w, "OK")
	case path == "/version":
		json.NewEncoder(w).Encode(map[string]string{"Os": "linux", "Arch": "arm64", "ApiVersion": api, "Version": "20.10.24"})
	case path == "/info":
		status := [][2]string{{"Backing Filesystem", "extfs"}}
		if f.containerd {
			status = append(status, [2]string{"driver-type", "io.containerd.snapshotter.v1"})
		}
		json.NewEncoder(w).Encode(map[string]any{"DriverStatus": status})
	case path == "/images/load" && r.Method == http.MethodPost:
		var names []string
		files := map[string][]byte{}
		tr := tar.NewReader(r.Body)
		var err error
		for {
			var h *tar.Header
			if h, err = tr.Next(); err != nil {
				break
			}
			names = append(names, h.Name)
			if b, rerr := io.ReadAll(tr); rerr == nil && len(b) < 1<<20 {
				files[h.Name] = b
			}
		}
		if err == io.EOF {
			err = nil
		}
		f.mu.Lock()
		f.loads, f.bodies, f.readErr = append(f.loads, names), append(f.bodies, files), append(f.readErr, err)
		f.mu.Unlock()
		f.loaded <- struct{}{}
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case f.refuse != "":
			json.NewEncoder(w).Encode(map[string]any{"errorDetail": map[string]string{"message": f.refuse}, "error": f.refuse})
		default:
			json.NewEncoder(w).Encode(map[string]string{"stream": "Loaded image: app:v1\n"})
		}
	case path == "/images/get":
		w.Header().Set("Content-Type", "application/x-tar")
		w.Write(f.save)
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		img, ok := f.images[strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"message": "No such image"})
			return
		}
		json.NewEncoder(w).Encode(img)
	default:
		http.NotFound(w, r)
	}
}

func newTarget(t *testing.T, f *fakeEngine, plats []v1.Platform) *Target {
	t.Helper()
	f.loaded = make(chan struct{}, 8)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := location.Parse("docker-daemon:")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := OpenTarget(context.Background(), New(c, "fake", ""), loc, TargetOptions{Platforms: plats})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// image writes one single-platform image (a config and a layer) and its
// manifest under tag into tg.
func putImage(t *testing.T, tg *Target, tag string) v1.Hash {
	t.Helper()
	ctx := context.Background()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	s := tg.Repository(ref.Context())
	cfg := []byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := bytes.Repeat([]byte{7}, 3000)
	var m v1.Manifest
	m.SchemaVersion, m.MediaType = 2, types.DockerManifestSchema2
	for i, b := range [][]byte{cfg, layer} {
		d, n, _ := v1.SHA256(bytes.NewReader(b))
		if err := s.PutBlob(ctx, d, n, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		desc := v1.Descriptor{Digest: d, Size: n, MediaType: types.DockerLayer}
		if i == 0 {
			desc.MediaType, m.Config = types.DockerConfigJSON, desc
		} else {
			m.Layers = append(m.Layers, desc)
		}
	}
	body, _ := json.Marshal(m)
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	if err := s.PutManifest(ctx, ref.TagStr(), types.DockerManifestSchema2, body); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTargetStreamsNamesLast(t *testing.T) {
	f := &fakeEngine{}
	tg := newTarget(t, f, nil)
	if p, one := tg.OnePlatform(); !one || p.Architecture != "arm64" {
		t.Fatalf("OnePlatform() = %v, %v; want arm64, true (a classic store)", p, one)
	}
	putImage(t, tg, "localhost:5000/app:v1")
	putImage(t, tg, "app:v2")
	if err := tg.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if len(f.loads) != 1 || f.readErr[0] != nil {
		t.Fatalf("loads %v, errors %v", f.loads, f.readErr)
	}
	names := f.loads[0]
	if names[0] != "oci-layout" || names[len(names)-2] != "index.json" || names[len(names)-1] != "manifest.json" {
		t.Errorf("entries %v: want oci-layout first, index.json and manifest.json last", names)
	}
	var saved []saveImage
	if err := json.Unmarshal(f.bodies[0]["manifest.json"], &saved); err != nil || len(saved) != 2 {
		t.Fatalf("manifest.json %s: %v", f.bodies[0]["manifest.json"], err)
	}
	if saved[0].RepoTags[0] != "app:v2" || saved[1].RepoTags[0] != "localhost:5000/app:v1" {
		t.Errorf("RepoTags %v %v", saved[0].RepoTags, saved[1].RepoTags)
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(f.bodies[0]["index.json"], &index); err != nil || len(index.Manifests) != 2 ||
		index.Manifests[0].Annotations[archive.AnnotationImageName] != "docker.io/library/app:v2" {
		t.Errorf("index.json %s: %v", f.bodies[0]["index.json"], err)
	}
}

func TestTargetClosedWithoutCommitLoadsNothing(t *testing.T) {
	f := &fakeEngine{}
	tg := newTarget(t, f, nil)
	putImage(t, tg, "app:v1")
	tg.Close()
	assertNothingLoaded(t, f)
}

// assertNothingLoaded checks that the engine got no whole stream: either no
// request at all (the stream was cut before its first bytes left the
// buffer) or a body that broke off, without names.
func assertNothingLoaded(t *testing.T, f *fakeEngine) {
	t.Helper()
	select {
	case <-f.loaded:
	case <-time.After(2 * time.Second):
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr[0] == nil {
		t.Errorf("the engine read a whole stream: %v", f.loads[0])
	}
	for _, n := range f.loads[0] {
		if n == "index.json" || n == "manifest.json" {
			t.Errorf("an abandoned load named images: %v", f.loads[0])
		}
	}
}

func TestTargetRefused(t *testing.T) {
	f := &fakeEngine{refuse: "no space left on device"}
	tg := newTarget(t, f, nil)
	putImage(t, tg, "app:v1")
	err := tg.Commit(context.Background())
	if err == nil || !strings.Contains(errdefs.Message(err), "refused the images: no space left on device") {
		t.Fatalf("Commit() = %v", err)
	}
}

func TestTargetBrokenBlob(t *testing.T) {
	f := &fakeEngine{}
	tg := newTarget(t, f, nil)
	ref, _ := name.NewTag("app:v1")
	s := tg.Repository(ref.Context())
	// A blob larger than the stream's buffer, so that the load is under way.
	big := bytes.Repeat([]byte{1}, 3<<20)
	bd, _, _ := v1.SHA256(bytes.NewReader(big))
	if err := s.PutBlob(context.Background(), bd, int64(len(big)), bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	body := []byte("some bytes")
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	err := s.PutBlob(context.Background(), d, 100, io.MultiReader(bytes.NewReader(body), errReader{}))
	if err == nil {
		t.Fatal("a broken blob was taken")
	}
	if err2 := s.PutBlob(context.Background(), d, int64(len(body)), bytes.NewReader(body)); err2 == nil {
		t.Fatal("a stream with a broken entry took another blob")
	}
	tg.Close()
	select {
	case <-f.loaded:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine never saw the load end")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr[0] == nil {
		t.Errorf("the engine read a whole stream after a broken blob: %v", f.loads[0])
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestTargetClassicRefusesIndex(t *testing.T) {
	tg := newTarget(t, &fakeEngine{}, nil)
	defer tg.Close()
	ref, _ := name.NewTag("app:v1")
	err := tg.Repository(ref.Context()).PutManifest(context.Background(), "v1", types.OCIImageIndex, []byte(`{"schemaVersion":2,"manifests":[]}`))
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("PutManifest(index) = %v, want a usage error", err)
	}
	tg2 := newTarget(t, &fakeEngine{containerd: true}, nil)
	defer tg2.Close()
	if _, one := tg2.OnePlatform(); one {
		t.Errorf("a containerd-store engine is taken for one platform per image")
	}
}

// TestUnpack reads a save stream as dockerd writes one (a layer two images
// share is a symlink) and one that tries to leave its directory.
func TestUnpack(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	file := func(name, body string) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: 0o644})
		tw.Write([]byte(body))
	}
	link := func(name, target string) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
	}
	link("b/layer.tar", "../a/layer.tar") // before the file it names
	file("a/layer.tar", "layer bytes")
	file("manifest.json", "[]")
	file("../evil", "x")
	link("up", "../../etc/passwd")
	link("c", "..")
	link("c/escape", "x")
	tw.Close()

	root := t.TempDir()
	dir := filepath.Join(root, "save")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unpack(context.Background(), &buf, dir, nil); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(filepath.Join(dir, "a", "layer.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(a, []byte{0x1f, 0x8b}) {
		t.Errorf("a classic layer was not compressed")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "b", "layer.tar")); err != nil || !bytes.Equal(a, b) {
		t.Errorf("the shared layer's link: %v", err)
	}
	for _, p := range []string{filepath.Join(root, "evil"), filepath.Join(dir, "up"), filepath.Join(dir, "c")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}

// TestHeldImage compares what an engine holds under a name with the image a
// copy would load: by the config's digest (the image ID) in a classic
// store, by the descriptor and every platform's availability in a
// containerd one.
func TestHeldImage(t *testing.T) {
	ctx := context.Background()
	digest := func(s string) v1.Hash { d, _, _ := v1.SHA256(strings.NewReader(s)); return d }
	cfg := digest("config")
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2, Config: v1.Descriptor{Digest: cfg}}
	body, _ := json.Marshal(m)
	root := v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: digest(string(body))}
	repo, _ := name.NewRepository("app")

	t.Run("classic store", func(t *testing.T) {
		f := &fakeEngine{images: map[string]any{
			"app:v1": map[string]any{"Id": cfg.String()},
			"app:v2": map[string]any{"Id": digest("other").String()},
		}}
		s := newTarget(t, f, nil).Repository(repo).(*targetRepo)
		if h, err := s.HeldImage(ctx, "v1", root, body); err != nil || !h.Same {
			t.Errorf("same config: %+v, %v", h, err)
		}
		if h, err := s.HeldImage(ctx, "v2", root, body); err != nil || h.Same || h.ID != digest("other") {
			t.Errorf("another image: %+v, %v", h, err)
		}
		if _, err := s.HeldImage(ctx, "v3", root, body); !errdefs.Is(err, errdefs.NotFound) {
			t.Errorf("no image: %v", err)
		}
	})
	t.Run("containerd store", func(t *testing.T) {
		idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{
			{MediaType: types.OCIManifestSchema1, Digest: digest("amd64")},
			{MediaType: types.OCIManifestSchema1, Digest: digest("arm64")},
		}}
		ib, _ := json.Marshal(idx)
		iroot := v1.Descriptor{MediaType: types.OCIImageIndex, Digest: digest(string(ib))}
		held := func(arm64 bool) map[string]any {
			return map[string]any{"Id": iroot.Digest.String(), "Descriptor": map[string]any{"digest": iroot.Digest.String()},
				"Manifests": []map[string]any{
					{"Descriptor": map[string]any{"digest": digest("amd64").String()}, "Available": true},
					{"Descriptor": map[string]any{"digest": digest("arm64").String()}, "Available": arm64},
				}}
		}
		f := &fakeEngine{containerd: true, api: "1.48", images: map[string]any{"app:whole": held(true), "app:part": held(false)}}
		s := newTarget(t, f, nil).Repository(repo).(*targetRepo)
		if h, err := s.HeldImage(ctx, "whole", iroot, ib); err != nil || !h.Same {
			t.Errorf("the index whole: %+v, %v", h, err)
		}
		if h, err := s.HeldImage(ctx, "part", iroot, ib); err != nil || h.Same {
			t.Errorf("one platform of the index: %+v, %v", h, err)
		}
		if h, err := s.HeldImage(ctx, "whole", root, body); err != nil || h.Same {
			t.Errorf("another image: %+v, %v", h, err)
		}
	})
}
