package indexstrategy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/ledger"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/strategy/indexstrategy"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// largeLayer is past store.SmallBlobSize, so that its blob waits for a
// large slot.
const largeLayer = store.SmallBlobSize + 100<<10

// twoPlatforms is a source with an index of two images under tag v1.
func twoPlatforms() *memstore.Store {
	src := memstore.New("src.test/app")
	src.Index("v1", src.Image("linux/amd64", largeLayer, 100), src.Image("linux/arm64", largeLayer))
	return src
}

var (
	srcRef = name.MustParseReference("src.test/app:v1")
	dstRef = name.MustParseReference("dst.test/app:v1")
)

// destination is where a cancellation test copies to: a registry-like store
// in memory, or an OCI layout; check reports what it holds afterwards.
type destination struct {
	name string
	open func(t *testing.T) (dst store.Store, tagged func() bool, done func())
}

var destinations = []destination{
	{"registry", func(t *testing.T) (store.Store, func() bool, func()) {
		dst := memstore.New("dst.test/app")
		return dst, func() bool { _, ok := dst.Manifest("v1"); return ok }, func() {}
	}},
	{"oci layout", func(t *testing.T) (store.Store, func() bool, func()) {
		dir := filepath.Join(t.TempDir(), "layout")
		a := openLayout(t, dir)
		dst := a.Repository(dstRef.Context())
		tagged := func() bool { _, _, err := dst.GetManifest(context.Background(), "v1"); return err == nil }
		// As the command does on a failed or interrupted run: close without
		// a commit, which must leave no index.json behind.
		done := func() {
			if err := a.Close(); err != nil {
				t.Error(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
				t.Error("an interrupted copy left index.json in the layout")
			}
		}
		return dst, tagged, done
	}},
}

// openLayout opens an OCI layout in dir for writing.
func openLayout(t *testing.T, dir string) store.Archive {
	t.Helper()
	loc, err := location.Parse("oci:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(context.Background(), loc, true, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// destinationStore is a store in memory ("registry") or in a new OCI layout
// closed when the test ends.
func destinationStore(t *testing.T, kind string) store.Store {
	t.Helper()
	if kind == "registry" {
		return memstore.New("dst.test/app")
	}
	a := openLayout(t, filepath.Join(t.TempDir(), "l"))
	t.Cleanup(func() { _ = a.Close() })
	return a.Repository(dstRef.Context())
}

// TestExecuteCancelled cancels a copy at each stage and checks that Execute
// says so (never nil) and leaves the destination tag unwritten.
func TestExecuteCancelled(t *testing.T) {
	stages := []struct {
		name string
		// arm sets hooks on the source and destination that cancel the copy,
		// and returns the slots to run with (nil: the run's own).
		arm func(t *testing.T, ctx context.Context, cancel context.CancelFunc, src *memstore.Store, hookDst func(memstore.Op, string, func())) *copyopts.Slots
	}{
		{"waiting for a slot", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, src *memstore.Store, _ func(memstore.Op, string, func())) *copyopts.Slots {
			// Another copy of the batch holds the only large slot; the run
			// is interrupted while its large blobs wait for it (the small
			// ones are there already, so nothing else notices).
			src.Hook = func(ctx context.Context, op memstore.Op, ref string) error {
				if op == memstore.GetBlob {
					t.Errorf("blob %s read while every slot is taken", ref)
				}
				return nil
			}
			slots := copyopts.NewSlots(1)
			if _, err := slots.Acquire(ctx, largeLayer); err != nil {
				t.Fatal(err)
			}
			cancel()
			return slots
		}},
		{"mid-blob", func(t *testing.T, _ context.Context, cancel context.CancelFunc, src *memstore.Store, _ func(memstore.Op, string, func())) *copyopts.Slots {
			var reads atomic.Int32
			src.Hook = func(ctx context.Context, op memstore.Op, ref string) error {
				if op == memstore.ReadBlob && reads.Add(1) == 3 {
					cancel()
					return ctx.Err()
				}
				return nil
			}
			return nil
		}},
		{"between children and the tag", func(t *testing.T, _ context.Context, cancel context.CancelFunc, _ *memstore.Store, hookDst func(memstore.Op, string, func())) *copyopts.Slots {
			var children atomic.Int32
			hookDst(memstore.PutManifest, "", func() {
				if children.Add(1) == 2 {
					cancel() // after the last child is in, before the tag
				}
			})
			return nil
		}},
	}
	for _, d := range destinations {
		for _, st := range stages {
			t.Run(d.name+"/"+st.name, func(t *testing.T) {
				src := twoPlatforms()
				inner, tagged, done := d.open(t)
				var after func()
				var afterOp memstore.Op
				dst := memstore.Wrap(inner, func(ctx context.Context, op memstore.Op, ref string) error {
					if op == afterOp && after != nil && ref != "v1" {
						after()
					}
					return nil
				})
				if st.name == "waiting for a slot" {
					for _, d := range src.Blobs() {
						if b, _ := src.Blob(d); len(b) <= store.SmallBlobSize {
							if err := inner.PutBlob(context.Background(), d, int64(len(b)), bytes.NewReader(b)); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				slots := st.arm(t, ctx, cancel, src, func(op memstore.Op, _ string, f func()) { afterOp, after = op, f })
				_, err = indexstrategy.Execute(ctx, p, src, dst, copyopts.Shared{Jobs: 2, Progress: progress.Discard(), Slots: slots})
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Execute after a cancel = %v, want context.Canceled", err)
				}
				if tagged() {
					t.Error("the destination tag was written by a cancelled copy")
				}
				done()
			})
		}
	}
}

// TestPlanCancelled cancels while the plan reads the source.
func TestPlanCancelled(t *testing.T) {
	for _, kind := range []string{"registry", "oci layout"} {
		t.Run(kind, func(t *testing.T) {
			src := twoPlatforms()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src.Hook = func(ctx context.Context, op memstore.Op, ref string) error {
				if op == memstore.GetManifest && ref != "v1" {
					cancel()
					return ctx.Err()
				}
				return nil
			}
			_, err := plan.Build(ctx, src, destinationStore(t, kind), copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Build after a cancel = %v, want context.Canceled", err)
			}
		})
	}
}

// TestExecuteStoreFails makes each call of the copy fail, at the source or
// the destination: Execute returns that failure, and the tag is not
// written. (A read that fails once is a broken download, resumed: it fails
// every time here.)
func TestExecuteStoreFails(t *testing.T) {
	refused := errdefs.New(errdefs.Rejected, "refused by the test")
	cases := []struct {
		side string
		op   memstore.Op
	}{
		{"source", memstore.GetBlob}, {"source", memstore.ReadBlob},
		{"destination", memstore.PutBlob}, {"destination", memstore.PutManifest},
	}
	for _, tc := range cases {
		t.Run(tc.side+" "+string(tc.op), func(t *testing.T) {
			src, dst := twoPlatforms(), memstore.New("dst.test/app")
			p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
			if err != nil {
				t.Fatal(err)
			}
			var once atomic.Bool
			fail := func(_ context.Context, op memstore.Op, _ string) error {
				if op == tc.op && (op == memstore.ReadBlob || once.CompareAndSwap(false, true)) {
					return refused
				}
				return nil
			}
			if tc.side == "source" {
				src.Hook = fail
			} else {
				dst.Hook = fail
			}
			_, err = indexstrategy.Execute(context.Background(), p, src, dst, copyopts.Shared{Jobs: 2, Progress: progress.Discard()})
			if !errors.Is(err, refused) {
				t.Errorf("Execute = %v, want the store's failure", err)
			}
			if _, ok := dst.Manifest("v1"); ok {
				t.Error("the tag was written after a failure")
			}
		})
	}
}

// TestExecuteNestedIndex copies an index of indexes: every manifest is
// pushed after the manifests and blobs it names, the tag last, and the copy
// holds the source's digests.
func TestExecuteNestedIndex(t *testing.T) {
	src := memstore.New("src.test/app")
	arm := src.Image("linux/arm64", 10)
	art := src.Manifest2("application/vnd.cncf.helm.config.v1+json", []byte("not json"))
	inner := src.Index("", arm, art)
	middle := src.Index("", inner)
	root := src.Index("v1", src.Image("linux/amd64", 10), middle)

	dst := memstore.New("dst.test/app")
	var mu sync.Mutex
	var order []string
	dst.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		if op == memstore.PutManifest {
			mu.Lock()
			defer mu.Unlock()
			// Everything this manifest names must be there already.
			if body, ok := src.Manifest(ref); ok {
				var m struct {
					Manifests []v1.Descriptor `json:"manifests"`
					Config    *v1.Descriptor  `json:"config"`
					Layers    []v1.Descriptor `json:"layers"`
				}
				if err := json.Unmarshal(body, &m); err != nil {
					t.Error(err)
				}
				for _, c := range m.Manifests {
					if _, ok := dst.Manifest(c.Digest.String()); !ok {
						t.Errorf("%s pushed before its child %s", ref, c.Digest)
					}
				}
				for _, b := range m.Layers {
					if _, ok := dst.Blob(b.Digest); !ok {
						t.Errorf("%s pushed before its blob %s", ref, b.Digest)
					}
				}
			}
			order = append(order, ref)
		}
		return nil
	}
	p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef, Destination: dstRef}, copyopts.Shared{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := indexstrategy.Execute(context.Background(), p, src, dst, copyopts.Shared{Jobs: 2, Progress: progress.Discard()}); err != nil {
		t.Fatal(err)
	}
	if len(order) != 6 || order[len(order)-1] != "v1" {
		t.Errorf("pushed %v, want 5 manifests by digest and then the tag", order)
	}
	if got, _ := dst.Manifest("v1"); !bytes.Equal(got, mustGet(t, src, root.Digest.String())) {
		t.Error("the tag holds another index than the source's")
	}
	for _, d := range src.Blobs() {
		if _, ok := dst.Blob(d); !ok {
			t.Errorf("blob %s was not copied", d)
		}
	}
}

func mustGet(t *testing.T, s *memstore.Store, ref string) []byte {
	t.Helper()
	b, ok := s.Manifest(ref)
	if !ok {
		t.Fatalf("%s has no manifest %s", s, ref)
	}
	return b
}

// TestExecuteSharedManifestsOnce runs two copies of one index to one
// repository at once, as a batch does for two tags of one image: each child
// manifest is pushed once, never by both at the same time.
func TestExecuteSharedManifestsOnce(t *testing.T) {
	src := twoPlatforms()
	body, _ := src.Manifest("v1")
	src.Put("v2", types.OCIImageIndex, body)
	dst := memstore.New("dst.test/app")
	var mu sync.Mutex
	inflight, puts := map[string]int{}, map[string]int{}
	dst.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		if op != memstore.PutManifest || strings.HasPrefix(ref, "v") {
			return nil
		}
		mu.Lock()
		inflight[ref]++
		puts[ref]++
		if inflight[ref] > 1 {
			t.Errorf("manifest %s pushed by two copies at once", ref)
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // room for the other copy to overlap, were it allowed to
		mu.Lock()
		inflight[ref]--
		mu.Unlock()
		return nil
	}
	opts := copyopts.Shared{Jobs: 2, Progress: progress.Discard(), Ledger: ledger.New(), Slots: copyopts.NewSlots(2)}
	var wg sync.WaitGroup
	for _, tag := range []string{"v1", "v2"} {
		p, err := plan.Build(context.Background(), src, dst, copyopts.Image{Source: srcRef.Context().Tag(tag), Destination: dstRef.Context().Tag(tag)}, copyopts.Shared{Jobs: 2})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := indexstrategy.Execute(context.Background(), p, src, dst, opts); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for ref, n := range puts {
		if n != 1 {
			t.Errorf("manifest %s pushed %d times, want once", ref, n)
		}
	}
	if len(puts) != 2 {
		t.Errorf("%d child manifests pushed, want 2", len(puts))
	}
}
