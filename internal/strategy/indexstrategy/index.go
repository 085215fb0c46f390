// Package indexstrategy is the index strategy, the default: a registry-to-registry copy of the
// index, its manifests and its blobs, byte for byte. Blobs stream from source to
// destination with their digest checked on the way; children are pushed by digest
// and the destination tag is written last.
package indexstrategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/ledger"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/referrers"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Stats counts what a run moved.
type Stats struct {
	ManifestsCopied, ManifestsSkipped       int
	BlobsCopied, BlobsMounted, BlobsSkipped int
	BytesCopied, BytesMounted, BytesSkipped int64
	// Resumed are the blobs whose upload went on from what an earlier run
	// sent; BytesCopied counts only what this run sent of them.
	Resumed []strategy.Resumed
}

// Execute carries out p: blobs first, then child manifests by digest, then the
// root under the destination tag. If anything fails before the last step, the
// tag is untouched.
func Execute(ctx context.Context, p *plan.Plan, src, dst store.Store, opts copyopts.Shared) (Stats, error) {
	e := &executor{src: src, dst: dst, opts: opts, referrersAPI: opts.ReferrersAPI}
	if debugf := e.opts.Debugf; debugf == nil {
		e.opts.Debugf = func(string, ...any) {}
	} else {
		// Errors may quote URLs: upload sessions and signed storage URLs
		// carry credentials in their queries.
		e.opts.Debugf = func(format string, args ...any) { debugf("%s", errdefs.Redact(fmt.Sprintf(format, args...))) }
	}
	expect(p, opts.Progress)
	start := time.Now()
	if err := e.copyGraph(ctx, p); err != nil {
		return e.stats(), err
	}
	e.opts.Debugf("blobs and child manifests done in %s", time.Since(start))
	// Not every store notices an ended context (an archive writes its index
	// in memory): the tag is written only by a run that is still wanted.
	if err := ctx.Err(); err != nil {
		return e.stats(), err
	}
	if err := e.listReferrers(ctx, p.Manifests); err != nil {
		return e.stats(), err
	}
	if p.Root.Action != plan.Skip {
		t := opts.Progress.Task(p.Root.Label, "manifest "+wording.ID(p.Root.Digest)+" as "+p.Destination.Identifier(), p.Root.Size)
		// A fallback tag copied as it is (from an archive that holds one)
		// is not written while a copy of this batch lists a referrer in it.
		unlock := referrers.Lock(dst, p.Destination.Identifier())
		err := dst.PutManifest(ctx, p.Destination.Identifier(), p.Root.MediaType, p.Root.Body)
		unlock()
		if err != nil {
			return e.stats(), fmt.Errorf("write %s: %w", p.Destination.Name(), err)
		}
		t.Done("pushed")
		e.manifestsCopied.Add(1)
	} else {
		e.manifestsSkipped.Add(1)
	}
	// The root, when it has a subject (an artifact copied by its tag), is
	// listed once it is there.
	if err := e.listReferrers(ctx, []*plan.Manifest{p.Root}); err != nil {
		return e.stats(), err
	}
	return e.stats(), nil
}

// expect tells the progress display all the work up front, per platform.
func expect(p *plan.Plan, pw *progress.Writer) {
	type work struct {
		n    int
		size int64
	}
	var order []string
	per := map[string]*work{}
	add := func(g string, size int64) {
		if per[g] == nil {
			per[g] = &work{}
			order = append(order, g)
		}
		per[g].n++
		per[g].size += size
	}
	for _, b := range p.Blobs {
		if b.Action == plan.Copy || b.Action == plan.Mount {
			add(group(b.Owner, p), b.Size)
		}
	}
	for _, m := range p.Manifests {
		if m.Action != plan.Skip {
			add(group(m.Label, p), m.Size)
		}
	}
	if p.Root.Action != plan.Skip {
		add(p.Root.Label, p.Root.Size)
	}
	for _, g := range order {
		pw.Expect(g, per[g].n, per[g].size)
	}
}

type executor struct {
	src, dst store.Store
	opts     copyopts.Shared

	manifestsCopied, manifestsSkipped    atomic.Int64
	blobsCopied, blobsMounted, blobsSkip atomic.Int64
	bytesCopied, bytesMounted, bytesSkip atomic.Int64
	resumed                              resumedBlobs

	// referrersAPI is whether the destination has the referrers API, once
	// a manifest with a subject made it worth asking.
	referrersAPI *bool
}

func (e *executor) stats() Stats {
	return Stats{
		ManifestsCopied: int(e.manifestsCopied.Load()), ManifestsSkipped: int(e.manifestsSkipped.Load()),
		BlobsCopied: int(e.blobsCopied.Load()), BlobsMounted: int(e.blobsMounted.Load()), BlobsSkipped: int(e.blobsSkip.Load()),
		BytesCopied: e.bytesCopied.Load() - e.resumed.bytes(), BytesMounted: e.bytesMounted.Load(), BytesSkipped: e.bytesSkip.Load(),
		Resumed: e.resumed.list(),
	}
}

// group is the progress line a blob or manifest counts in: its platform, with
// a platform's attestation counted with the platform itself.
func group(label string, p *plan.Plan) string {
	if label == "" {
		return p.Root.Label
	}
	return strings.TrimPrefix(label, "attestation for ")
}

// copyGraph copies every blob once (the plan lists each digest once, so no
// digest is ever uploaded twice at the same time), at most Jobs at a time, and
// pushes each child manifest by digest as soon as every blob and child
// manifest it names is in: never before. It returns nil only when all of them
// are in: a cancelled run that stopped dispatching says so.
func (e *executor) copyGraph(ctx context.Context, p *plan.Plan) error {
	g, gctx := errgroup.WithContext(ctx)
	slots := e.opts.Slots
	if slots == nil {
		slots = copyopts.NewSlots(e.opts.Jobs)
	}
	copying := map[v1.Hash]bool{}
	for _, b := range p.Blobs {
		copying[b.Digest] = b.Action == plan.Copy || b.Action == plan.Mount
	}
	for _, m := range p.Manifests {
		if m.Action == plan.Skip {
			e.manifestsSkipped.Add(1)
		}
	}
	deps := newManifestDeps(p, copying)
	var push func(m *plan.Manifest)
	release := func(d v1.Hash) {
		for _, m := range deps.arrived(d) {
			push(m)
		}
	}
	push = func(m *plan.Manifest) {
		first := deps.first(m)
		g.Go(func() error {
			t := e.opts.Progress.Task(group(m.Label, p), "manifest "+wording.ID(m.Digest), m.Size)
			if !first {
				e.manifestsSkipped.Add(1)
				t.Done("pushed")
				return nil
			}
			if err := e.putChild(gctx, m); err != nil {
				return fmt.Errorf("push manifest %s (%s): %w", m.Digest, m.Label, err)
			}
			e.manifestsCopied.Add(1)
			t.Done("pushed")
			release(m.Digest)
			return nil
		})
	}
	for _, m := range deps.start() {
		push(m)
	}
	arrived := func(b *plan.Blob, t *progress.Task, how arrival) {
		e.count(b, how)
		t.Done(how.String())
		release(b.Digest)
	}
	err := e.dispatch(gctx, g, p, copying, slots, arrived)
	// The group's own failure, when there is one, is why dispatching stopped.
	return cmp.Or(g.Wait(), err)
}

// putChild pushes child manifest m by digest. The copies of a batch that
// push one manifest (two tags of one image, an index and the referrers tag
// that lists its SBOM) take turns through the ledger, as for blobs: Debian's
// registry 2.8 writes a manifest's files one by one, and refuses an index
// that names a manifest another request is still writing. A copy that finds
// it pushed to this very repository already pushes nothing.
func (e *executor) putChild(ctx context.Context, m *plan.Manifest) error {
	claim := e.opts.Ledger.Claim(e.dst, m.Digest)
	if claim.Follower() {
		holder, err := claim.Wait(ctx)
		if err != nil {
			return err
		}
		if holder != nil && holder.String() == e.dst.String() {
			return nil
		}
		return e.dst.PutManifest(ctx, m.Digest.String(), m.MediaType, m.Body)
	}
	err := e.dst.PutManifest(ctx, m.Digest.String(), m.MediaType, m.Body)
	claim.Finish(err == nil)
	return err
}

// dispatch starts the copy of every blob in copying, small ones first and
// then the largest first, each in a slot; it stops at the first slot it
// cannot get (the run was cancelled or failed) and returns why.
func (e *executor) dispatch(ctx context.Context, g *errgroup.Group, p *plan.Plan, copying map[v1.Hash]bool, slots *copyopts.Slots, arrived func(*plan.Blob, *progress.Task, arrival)) error {
	// The small blobs first: they have slots of their own and are started
	// at once, so that they are in by the time the large ones are. Then the
	// largest first, so that no large blob runs alone at the end after all
	// the others are done.
	blobs := slices.Clone(p.Blobs)
	slices.SortStableFunc(blobs, func(a, b *plan.Blob) int {
		aSmall, bSmall := a.Size <= store.SmallBlobSize, b.Size <= store.SmallBlobSize
		switch {
		case aSmall && !bSmall:
			return -1
		case bSmall && !aSmall:
			return 1
		}
		return cmp.Compare(b.Size, a.Size)
	})
	for _, b := range blobs {
		if !copying[b.Digest] {
			e.blobsSkip.Add(1)
			e.bytesSkip.Add(b.Size)
			continue
		}
		owner := group(b.Owner, p)
		claim := e.opts.Ledger.Claim(e.dst, b.Digest)
		if claim.Follower() {
			// Another copy of the batch moves this blob: wait for it without a
			// slot, then mount it from there.
			g.Go(func() error {
				t := e.opts.Progress.Task(owner, "blob "+wording.ID(b.Digest), b.Size)
				how, err := e.follow(ctx, p, b, t, claim, slots)
				if err != nil {
					return err
				}
				arrived(b, t, how)
				return nil
			})
			continue
		}
		copyOne := func(release func()) error {
			t := e.opts.Progress.Task(owner, "blob "+wording.ID(b.Digest), b.Size)
			how, err := e.copyBlob(ctx, p, b, t)
			release()
			claim.Finish(err == nil)
			if err != nil {
				return err
			}
			arrived(b, t, how)
			return nil
		}
		if b.Size <= store.SmallBlobSize {
			// A small blob waits for a slot of its own kind in its goroutine,
			// so that the large ones behind it in the list start now.
			g.Go(func() error {
				release, err := slots.Acquire(ctx, b.Size)
				if err != nil {
					claim.Finish(false)
					return err
				}
				return copyOne(release)
			})
			continue
		}
		// Take the slot here, in order, so the largest blobs really go first.
		release, err := slots.Acquire(ctx, b.Size)
		if err != nil {
			claim.Finish(false)
			return fmt.Errorf("blob %s (%s) waited for a transfer slot: %w", wording.ID(b.Digest), owner, err)
		}
		g.Go(func() error { return copyOne(release) })
	}
	return nil
}

// count adds blob b, arrived as how, to the stats.
func (e *executor) count(b *plan.Blob, how arrival) {
	switch how {
	case present:
		e.blobsSkip.Add(1)
		e.bytesSkip.Add(b.Size)
	case mounted:
		e.blobsMounted.Add(1)
		e.bytesMounted.Add(b.Size)
	default:
		e.blobsCopied.Add(1)
		e.bytesCopied.Add(b.Size)
	}
}

// arrival is how a blob got to the destination.
type arrival int

const (
	copied  arrival = iota // its bytes crossed the wire
	mounted                // the registry mounted it from another repository
	present                // another copy of the batch had already put it there
)

// String is how a blob's progress line ends.
func (a arrival) String() string {
	switch a {
	case present:
		return "exists"
	case mounted:
		return "mounted"
	}
	return "copied"
}

// follow waits for the copy of the batch that moves blob b, then mounts it from
// the repository that received it, or finds it already there (one layout holds
// the blobs of all its images). Only when that copy failed, or the mount was
// declined, are the bytes moved here, in a slot like any other copy.
func (e *executor) follow(ctx context.Context, p *plan.Plan, b *plan.Blob, t *progress.Task, c ledger.Claim, slots *copyopts.Slots) (arrival, error) {
	holder, err := c.Wait(ctx)
	if err != nil {
		return copied, err
	}
	if holder != nil {
		if m, ok := e.dst.(store.Mounter); ok && m.CanMount(holder) {
			if ok, err := m.Mount(ctx, b.Digest, holder); err == nil && ok {
				return mounted, e.mountedSize(ctx, b)
			}
		} else if ok, err := store.BlobPresent(ctx, e.dst, b.Digest, b.Size, e.src); err == nil && ok {
			return present, nil
		} else if errors.Is(err, store.ErrSizeMismatch) {
			return present, err
		}
	}
	release, err := slots.Acquire(ctx, b.Size)
	if err != nil {
		return copied, err
	}
	defer release()
	return e.copyBlob(ctx, p, b, t)
}

// copyBlob mounts or streams one blob. A broken download or upload resumes
// within copyBlobOnce; what is left is started over here, a few times, unless
// it was retried already (a stall, a refused storage URL) or is the source's
// own fault twice (a corrupt blob).
func (e *executor) copyBlob(ctx context.Context, p *plan.Plan, b *plan.Blob, t *progress.Task) (how arrival, err error) {
	const attempts = 5
	mismatches := 0
	for i := range attempts {
		how, err = e.copyBlobOnce(ctx, p, b, t)
		if err == nil || ctx.Err() != nil || i == attempts-1 {
			break
		}
		if errors.Is(err, registry.ErrRetried) {
			break
		}
		if _, ok := errors.AsType[*registry.StallError](err); ok {
			break
		}
		if rl, ok := errors.AsType[*registry.RateLimitError](err); ok && rl.RetryAfter <= time.Minute {
			// The upload itself was told to wait (the client retries the other
			// requests on its own): wait as asked, then start the blob again.
			wait := max(rl.RetryAfter, time.Second)
			e.opts.Debugf("blob %s: rate limited; waiting %s", b.Digest, wait)
			t.Reset()
			if serr := registry.Sleep(ctx, wait); serr != nil {
				return how, serr
			}
			continue
		}
		switch errdefs.KindOf(err) {
		case errdefs.DigestMismatch:
			// Once may be the wire; twice is what the source holds.
			if mismatches++; mismatches > 1 {
				return how, err
			}
			fallthrough
		case errdefs.Unreachable, errdefs.Unavailable:
			e.opts.Debugf("blob %s: %v; retrying", b.Digest, err)
			t.Reset()
			if serr := registry.Sleep(ctx, time.Duration(100<<i)*time.Millisecond); serr != nil {
				return how, serr
			}
			continue
		}
		break
	}
	if err != nil && ctx.Err() != nil {
		return how, ctx.Err()
	}
	return how, err
}

func (e *executor) copyBlobOnce(ctx context.Context, p *plan.Plan, b *plan.Blob, t *progress.Task) (arrival, error) {
	if b.Action == plan.Mount {
		// Where an earlier run saw the blob at this registry (bounded by the
		// record), then the source when it is a repository of this registry.
		if m, ok := e.dst.(store.RecordedMounter); ok {
			for _, from := range b.MountFrom {
				if ok, err := m.MountFrom(ctx, b.Digest, from); err != nil {
					return copied, err
				} else if ok {
					return mounted, e.mountedSize(ctx, b)
				}
				e.opts.Debugf("blob %s: not mounted from %s, where an earlier run saw it", wording.ID(b.Digest), from)
			}
		}
		if m, ok := e.dst.(store.Mounter); ok && m.CanMount(e.src) {
			if ok, err := m.Mount(ctx, b.Digest, e.src); err != nil {
				return copied, err
			} else if ok {
				return mounted, e.mountedSize(ctx, b)
			}
		}
	}
	br := newBlobReader(ctx, e.src, b.Digest, b.Size, t, e.opts.Progress.Logf, e.opts.Debugf)
	defer br.Close()
	br.session = e.sessionFor(b)
	// Open the source before the destination: a blob the source lacks
	// should not open an upload session first.
	if err := br.open(); err != nil {
		return copied, err
	}
	var body io.Reader = br
	if b.Size == 0 {
		// net/http never reads an empty body, so check it here.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return copied, err
		}
		body = http.NoBody
	}
	if err := e.dst.PutBlob(ctx, b.Digest, b.Size, body); err != nil {
		if br.err != nil && ctx.Err() == nil {
			return copied, br.err // the source, not the aborted request, is the cause
		}
		return copied, err
	}
	if !br.verified {
		// The store claims success but we never saw the whole blob: do not trust it.
		return copied, errdefs.New(errdefs.DigestMismatch, "digest mismatch: blob %s from %s was not read to its end", b.Digest, e.src)
	}
	if br.resumedFrom > 0 {
		e.resumed.add(b, br.resumedFrom)
	}
	return copied, nil
}

// mountedSize checks that blob b, just mounted, has the size the manifest
// gives it: a mount moves no bytes, so nothing else would notice a
// descriptor with the wrong size before the manifest is refused or, worse,
// accepted and unpullable. A failed check of a mount that worked is no
// reason to fail the copy; only a wrong size is.
func (e *executor) mountedSize(ctx context.Context, b *plan.Blob) error {
	if _, err := store.BlobPresent(ctx, e.dst, b.Digest, b.Size, e.src); errors.Is(err, store.ErrSizeMismatch) {
		return err
	}
	return nil
}

// Strategy is the index strategy as a strategy.Strategy. With Format set it
// rewrites every manifest to that family of media types on the way (the
// "index-docker" step of auto, or --media-types).
type Strategy struct {
	Format plan.Format
}

// Name is "index", or "index-docker" / "index-oci" when it converts.
func (s Strategy) Name() string {
	if s.Format != "" {
		return "index-" + string(s.Format)
	}
	return "index"
}

// Available is always nil: the index strategy needs nothing but the registries.
func (Strategy) Available(context.Context) error { return nil }

// Supports says why p cannot be converted to Format (zstd layers or
// artifacts have no Docker media types), or nil.
func (s Strategy) Supports(p *plan.Plan) error {
	if s.Format == "" {
		return nil
	}
	return p.CanConvert(s.Format)
}

// prepare returns the plan this strategy carries out: the input's, or its
// conversion to Format. It only reads.
func (s Strategy) prepare(ctx context.Context, in strategy.Input) (*plan.Plan, error) {
	if s.Format == "" {
		return in.Plan, nil
	}
	return plan.Convert(ctx, in.Plan, in.Src, in.Dst, s.Format, in.Jobs)
}

// DryRun returns the plan, converted when Format is set, and prints it.
func (s Strategy) DryRun(ctx context.Context, in strategy.Input) (strategy.Output, strategy.Describer, error) {
	p, err := s.prepare(ctx, in)
	if err != nil {
		return strategy.Output{}, nil, err
	}
	return strategy.PlanOutput(p), func(w io.Writer) error { return p.Describe(w, s.Name()) }, nil
}

// Execute copies the graph.
func (s Strategy) Execute(ctx context.Context, in strategy.Input) (strategy.Output, error) {
	p, err := s.prepare(ctx, in)
	if err != nil {
		return strategy.Output{}, err
	}
	switch {
	case p.UpToDate && p.ConvertedTo == "":
		// The summary says "up to date"; progress says what was found, once.
		in.Logf("nothing to copy: %s already points at %s", p.Destination.Name(), p.Root.Digest)
	case p.DigestChanged && !p.UpToDate:
		in.Logf("note: the destination digest differs from the source (%s): %s → %s", p.ChangeReason, p.SourceDigest, p.Root.Digest)
	}
	stats, err := Execute(ctx, p, in.Src, in.Dst, in.Shared)
	out := strategy.PlanOutput(p)
	out.Manifests = strategy.ManifestCounts{Copied: stats.ManifestsCopied, Skipped: stats.ManifestsSkipped}
	out.Blobs = strategy.Counts{Copied: int64(stats.BlobsCopied), Mounted: int64(stats.BlobsMounted), Skipped: int64(stats.BlobsSkipped)}
	out.Bytes = strategy.Counts{Copied: stats.BytesCopied, Mounted: stats.BytesMounted, Skipped: stats.BytesSkipped}
	out.Resumed = stats.Resumed
	return out, err
}
