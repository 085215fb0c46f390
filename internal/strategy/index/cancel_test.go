package index_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/strategy/index"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
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
		loc, err := location.Parse("oci:" + dir)
		if err != nil {
			t.Fatal(err)
		}
		a, err := archive.Open(context.Background(), loc, true, archive.Options{})
		if err != nil {
			t.Fatal(err)
		}
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

// TestExecuteCancelled cancels a copy at each stage and checks that Execute
// says so (never nil) and leaves the destination tag unwritten.
func TestExecuteCancelled(t *testing.T) {
	stages := []struct {
		name string
		// arm sets hooks on the source and destination that cancel the copy,
		// and returns the slots to run with (nil: the run's own).
		arm func(t *testing.T, ctx context.Context, cancel context.CancelFunc, src *memstore.Store, hookDst func(memstore.Op, string, func())) *strategy.Slots
	}{
		{"waiting for a slot", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, src *memstore.Store, _ func(memstore.Op, string, func())) *strategy.Slots {
			// Another copy of the batch holds the only large slot; the run
			// is interrupted while its large blobs wait for it (the small
			// ones are there already, so nothing else notices).
			src.Hook = func(ctx context.Context, op memstore.Op, ref string) error {
				if op == memstore.GetBlob {
					t.Errorf("blob %s read while every slot is taken", ref)
				}
				return nil
			}
			slots := strategy.NewSlots(1)
			if _, err := slots.Acquire(ctx, largeLayer); err != nil {
				t.Fatal(err)
			}
			cancel()
			return slots
		}},
		{"mid-blob", func(t *testing.T, _ context.Context, cancel context.CancelFunc, src *memstore.Store, _ func(memstore.Op, string, func())) *strategy.Slots {
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
		{"between children and the tag", func(t *testing.T, _ context.Context, cancel context.CancelFunc, _ *memstore.Store, hookDst func(memstore.Op, string, func())) *strategy.Slots {
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
				p, err := plan.Build(context.Background(), src, dst, plan.Request{Source: srcRef, Destination: dstRef, Jobs: 2})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				slots := st.arm(t, ctx, cancel, src, func(op memstore.Op, _ string, f func()) { afterOp, after = op, f })
				_, err = index.Execute(ctx, p, src, dst, index.Options{Jobs: 2, Progress: progress.Discard(), Slots: slots})
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
	_, err := plan.Build(ctx, src, memstore.New("dst.test/app"), plan.Request{Source: srcRef, Destination: dstRef, Jobs: 2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Build after a cancel = %v, want context.Canceled", err)
	}
}
