package batch

import (
	"bytes"
	"context"
	"fmt"
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The scheduler over in-memory stores: no server, milliseconds each.

const large = store.SmallBlobSize + 1

// memImage is the image tag of src copied to the same tag of dst.
func memImage(src, dst store.Store, tag string) Image {
	srcRef, err := name.ParseReference("src.test/app:" + tag)
	if err != nil {
		panic(err)
	}
	dstRef, err := name.ParseReference("dst.test/app:" + tag)
	if err != nil {
		panic(err)
	}
	return Image{Image: copyopts.Image{Source: srcRef, Destination: dstRef, SourceStore: src, DestinationStore: dst}}
}

// runOptions writes DST@DIGEST on out for each image that arrived.
func runOptions(out io.Writer, jobs int) Options {
	return Options{Copy: migrate.Options{Shared: copyopts.Shared{Jobs: jobs}}, Jobs: jobs, Progress: progress.Discard(), Ended: func(e Ended) {
		if e.Outcome.Arrived() && e.Result != nil {
			fmt.Fprintf(out, "%s@%s\n", e.Image.DestinationLabel(), e.Result.DestinationDigest)
		}
	}}
}

// Every image arrives, is printed as DST@DIGEST, and a layer two images
// share crosses once even when both planned it at the same time (the
// ledger makes the second copy wait for the first).
func TestRunSharesALayer(t *testing.T) {
	src, dst := memstore.New("src.test/app"), memstore.New("dst.test/app")
	a := src.Index("v1", src.Image("linux/amd64", large, 10))
	b := src.Index("v2", src.Image("linux/amd64", large, 20))
	shared := firstLayer(t, src, "v1")

	// Hold each plan at the destination's check of the shared layer until
	// both copies have asked: both find it missing.
	var asked sync.WaitGroup
	asked.Add(2)
	var checks atomic.Int32
	dst.Hook = func(ctx context.Context, op memstore.Op, ref string) error {
		if op == memstore.BlobExists && ref == shared.String() && checks.Add(1) <= 2 {
			asked.Done()
			return waitFor(ctx, &asked)
		}
		return nil
	}
	var reads sync.Map
	src.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		if op == memstore.GetBlob {
			n, _ := reads.LoadOrStore(ref, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
		return nil
	}

	var out bytes.Buffer
	sum := Run(context.Background(), []Image{memImage(src, dst, "v1"), memImage(src, dst, "v2")}, runOptions(&out, 2))
	if sum.Counts[outcome.Copied] != 2 || len(sum.Failures) != 0 {
		t.Fatalf("summary %+v; want both copied", sum)
	}
	want := fmt.Sprintf("dst.test/app:v1@%s\ndst.test/app:v2@%s\n", a.Digest, b.Digest)
	if got := sortedLines(out.String()); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	if n, _ := reads.Load(shared.String()); n == nil || n.(*atomic.Int32).Load() != 1 {
		t.Errorf("the shared layer was read %v times from the source; want once", n)
	}
	for _, tag := range []string{"v1", "v2"} {
		if _, ok := dst.Manifest(tag); !ok {
			t.Errorf("no tag %s at the destination", tag)
		}
	}
}

// waitFor waits for wg, or for ctx, or fails after a bound: a hook never
// holds a test forever.
func waitFor(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return errdefs.New(errdefs.Unknown, "the other copy never asked")
	}
}

func firstLayer(t *testing.T, s *memstore.Store, tag string) v1.Hash {
	t.Helper()
	body, _ := s.Manifest(tag)
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = s.Manifest(idx.Manifests[0].Digest.String())
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers[0].Digest
}

func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		for j := i + 1; j < len(lines); j++ {
			if lines[j] < lines[i] {
				lines[i], lines[j] = lines[j], lines[i]
			}
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// tracked counts the large uploads under way at its destination. Each one
// lingers (20ms, or until one too many is under way) so that uploads the
// slots let through together do overlap.
type tracked struct {
	*memstore.Store
	now, most *atomic.Int32
	limit     int32
	over      chan struct{}
	overOnce  *sync.Once
}

func (s tracked) PutBlob(ctx context.Context, d v1.Hash, size int64, body io.Reader) error {
	if size >= store.SmallBlobSize {
		n := s.now.Add(1)
		defer s.now.Add(-1)
		for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
		}
		if n > s.limit {
			s.overOnce.Do(func() { close(s.over) })
		}
		select {
		case <-s.over:
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s.Store.PutBlob(ctx, d, size, body)
}

// The images of a batch share Jobs transfer slots for large blobs: four
// images of two large layers each, two at a time, never move more than two
// large blobs at once.
func TestRunSharesSlots(t *testing.T) {
	var now, most atomic.Int32
	over, overOnce := make(chan struct{}), &sync.Once{}
	var images []Image
	for i := range 4 {
		src := memstore.New(fmt.Sprintf("src.test/app%d", i))
		src.Index("v1", src.Image(fmt.Sprintf("linux/arch%d", i), large, large))
		dst := tracked{memstore.New(fmt.Sprintf("dst.test/app%d", i)), &now, &most, 2, over, overOnce}
		images = append(images, memImage(src, dst, "v1"))
	}
	sum := Run(context.Background(), images, runOptions(io.Discard, 2))
	if sum.Counts[outcome.Copied] != 4 {
		t.Fatalf("summary %+v; want 4 copied", sum)
	}
	if m := most.Load(); m > 2 || m < 1 {
		t.Errorf("%d large uploads at once; want at most 2 (the slots)", m)
	}
}

// A store that fails at any step fails that image alone, with the store's
// sentence, and leaves no tag; the other images arrive.
func TestRunFailingStore(t *testing.T) {
	tests := []struct {
		side string
		op   memstore.Op
	}{
		{"source", memstore.GetManifest},
		{"source", memstore.GetBlob},
		{"source", memstore.ReadBlob},
		{"destination", memstore.PutBlob},
		{"destination", memstore.PutManifest},
	}
	for _, tc := range tests {
		t.Run(tc.side+" "+string(tc.op), func(t *testing.T) {
			var images []Image
			var dsts []*memstore.Store
			for i := range 2 {
				src := memstore.New(fmt.Sprintf("src.test/app%d", i))
				src.Index("v1", src.Image("linux/amd64", large, 10))
				dst := memstore.New(fmt.Sprintf("dst.test/app%d", i))
				images, dsts = append(images, memImage(src, dst, "v1")), append(dsts, dst)
				if i == 1 {
					fail := func(_ context.Context, op memstore.Op, _ string) error {
						if op == tc.op {
							return errdefs.New(errdefs.Rejected, "%s refused %s (injected)", tc.side, op)
						}
						return nil
					}
					if tc.side == "source" {
						src.Hook = fail
					} else {
						dst.Hook = fail
					}
				}
			}
			sum := Run(context.Background(), images, runOptions(io.Discard, 2))
			if sum.Counts[outcome.Copied] != 1 || sum.Counts[outcome.Failed] != 1 || len(sum.Failures) != 1 {
				t.Fatalf("summary %+v; want one copied, one failed", sum)
			}
			if f := sum.Failures[0]; f.Image.SourceStore != images[1].SourceStore || !strings.Contains(f.Reason, "(injected)") {
				t.Errorf("failure %+v; want the second image, with the store's sentence", f)
			}
			if _, ok := dsts[1].Manifest("v1"); ok {
				t.Error("the failed image's tag was written")
			}
			if _, ok := dsts[0].Manifest("v1"); !ok {
				t.Error("the other image did not arrive")
			}
		})
	}
}

// An interrupt stops the batch: the image under way and the ones not
// started are NotDone, none is counted as arrived, no tag is written, and
// the summary says it was interrupted.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var images []Image
	var dsts []*memstore.Store
	for i := range 3 {
		src := memstore.New(fmt.Sprintf("src.test/app%d", i))
		src.Index("v1", src.Image("linux/amd64", large))
		if i == 0 {
			src.Hook = func(ctx context.Context, op memstore.Op, _ string) error {
				if op == memstore.ReadBlob {
					cancel()
					return ctx.Err()
				}
				return nil
			}
		}
		dst := memstore.New(fmt.Sprintf("dst.test/app%d", i))
		images, dsts = append(images, memImage(src, dst, "v1")), append(dsts, dst)
	}
	sum := Run(ctx, images, runOptions(io.Discard, 1))
	if !sum.Interrupted || sum.Counts[outcome.NotDone] != 3 || len(sum.NotDone) != 3 {
		t.Fatalf("summary %+v; want interrupted with 3 not done", sum)
	}
	if !strings.Contains(sum.Failures[0].Reason, "interrupted while copying") {
		t.Errorf("the image under way: %q", sum.Failures[0].Reason)
	}
	for i, d := range dsts {
		if _, ok := d.Manifest("v1"); ok {
			t.Errorf("image %d: a tag was written", i)
		}
	}
}

// --fail-fast: the first failure stops the rest, which are NotDone and say
// why; the run is not an interrupt.
func TestRunFailFast(t *testing.T) {
	var images []Image
	for i := range 3 {
		src := memstore.New(fmt.Sprintf("src.test/app%d", i))
		src.Index("v1", src.Image("linux/amd64", 10))
		dst := memstore.New(fmt.Sprintf("dst.test/app%d", i))
		if i == 0 {
			dst.Hook = func(_ context.Context, op memstore.Op, _ string) error {
				if op == memstore.PutManifest {
					return errdefs.New(errdefs.Rejected, "refused (injected)")
				}
				return nil
			}
		}
		images = append(images, memImage(src, dst, "v1"))
	}
	o := runOptions(io.Discard, 1)
	o.FailFast = true
	sum := Run(context.Background(), images, o)
	if sum.Interrupted || sum.Counts[outcome.Failed] != 1 || sum.Counts[outcome.NotDone] != 2 {
		t.Fatalf("summary %+v; want 1 failed, 2 not done, not interrupted", sum)
	}
	for _, f := range sum.Failures[1:] {
		if !strings.Contains(f.Reason, "--fail-fast") {
			t.Errorf("a stopped image says %q; want --fail-fast named", f.Reason)
		}
	}
}

// A run of one image named in full ends that image once, with the copy's
// own error kept beside its sentence, so that the command can say it as a
// single copy does (its exit code, -D's detail).
func TestRunOneImageKeepsTheError(t *testing.T) {
	src, dst := memstore.New("src.test/app"), memstore.New("dst.test/app")
	src.Index("v1", src.Image("linux/amd64", large))
	dst.Hook = func(_ context.Context, op memstore.Op, _ string) error {
		if op == memstore.PutManifest {
			return errdefs.New(errdefs.InvalidArgument, "refused (injected)")
		}
		return nil
	}
	var ends []Ended
	o := runOptions(io.Discard, 1)
	o.OneImage = true
	o.Ended = func(e Ended) { ends = append(ends, e) }
	sum := Run(context.Background(), []Image{memImage(src, dst, "v1")}, o)
	if len(ends) != 1 || ends[0].Outcome != outcome.Failed || !errdefs.Is(ends[0].Err, errdefs.InvalidArgument) || ends[0].Result == nil {
		t.Fatalf("ends %+v; want one failure with the copy's error and its attempts", ends)
	}
	if len(sum.Failures) != 1 || sum.Failures[0].Err != ends[0].Err || !sum.AllUsage() {
		t.Errorf("summary %+v; want the failure, bad input, with its error", sum)
	}
}
