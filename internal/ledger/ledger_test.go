package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var blob = v1.Hash{Algorithm: "sha256", Hex: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}

// placed is a repository of a registry: its blobs are reachable from the
// other repositories of host.
type placed struct {
	*memstore.Store
	host string
}

func (p placed) Place() string { return p.host }

func TestNilLedgerMakesOwners(t *testing.T) {
	var l *Ledger
	dst := memstore.New("dst")
	for range 2 {
		c := l.Claim(dst, blob)
		if c.Follower() {
			t.Fatal("a nil ledger made a follower")
		}
		c.Finish(true) // no-op, no panic
	}
}

// One owner per blob and place; the followers learn, once it is done,
// which store has the blob.
func TestFollowersWaitForTheOwner(t *testing.T) {
	l := New()
	a := placed{memstore.New("reg.test/a"), "reg.test"}
	b := placed{memstore.New("reg.test/b"), "reg.test"}
	owner := l.Claim(a, blob)
	if owner.Follower() {
		t.Fatal("the first claim is a follower")
	}
	const followers = 4
	got := make(chan any, followers)
	var wg sync.WaitGroup
	for range followers {
		f := l.Claim(b, blob)
		if !f.Follower() {
			t.Fatal("a second claim for the same place and blob is an owner")
		}
		wg.Go(func() {
			holder, err := f.Wait(context.Background())
			if err != nil {
				got <- err
				return
			}
			got <- holder
		})
	}
	select {
	case v := <-got:
		t.Fatalf("a follower returned %v before the owner finished", v)
	case <-time.After(10 * time.Millisecond):
	}
	owner.Finish(true)
	wg.Wait()
	close(got)
	for v := range got {
		if v != any(a) {
			t.Errorf("a follower got %v; want the owner's store %v", v, a)
		}
	}
}

// A failed transfer hands the blob to the next claim: followers get nil,
// and a later copy owns it and tries again.
func TestFailedOwnerHandsOver(t *testing.T) {
	l := New()
	dst := memstore.New("dst")
	owner := l.Claim(dst, blob)
	f := l.Claim(dst, blob)
	owner.Finish(false)
	if holder, err := f.Wait(context.Background()); holder != nil || err != nil {
		t.Errorf("follower of a failed owner got %v, %v; want nil, nil", holder, err)
	}
	if again := l.Claim(dst, blob); again.Follower() {
		t.Error("a claim after a failure is a follower; want it to own the retry")
	}
}

// Places keep apart: a blob in one registry (or layout) is no help to
// another, and a store with no Place is a place of its own.
func TestPlaces(t *testing.T) {
	l := New()
	other := v1.Hash{Algorithm: "sha256", Hex: blob.Hex[1:] + "0"}
	for _, tc := range []struct {
		name     string
		first    Claim
		second   Claim
		follower bool
	}{
		{"same host", l.Claim(placed{memstore.New("r1/a"), "r1"}, blob), l.Claim(placed{memstore.New("r1/b"), "r1"}, blob), true},
		{"other host", l.Claim(placed{memstore.New("r2/a"), "r2"}, blob), l.Claim(placed{memstore.New("r3/a"), "r3"}, blob), false},
		{"other blob", l.Claim(placed{memstore.New("r4/a"), "r4"}, blob), l.Claim(placed{memstore.New("r4/a"), "r4"}, other), false},
		{"no place, same name", l.Claim(memstore.New("x.tar"), blob), l.Claim(memstore.New("x.tar"), blob), true},
		{"no place, other name", l.Claim(memstore.New("y.tar"), blob), l.Claim(memstore.New("z.tar"), blob), false},
	} {
		if tc.first.Follower() || tc.second.Follower() != tc.follower {
			t.Errorf("%s: first follower %v, second follower %v; want false, %v", tc.name, tc.first.Follower(), tc.second.Follower(), tc.follower)
		}
	}
}

// A follower stops waiting when its copy is cancelled.
func TestWaitCancelled(t *testing.T) {
	l := New()
	dst := memstore.New("dst")
	owner := l.Claim(dst, blob)
	defer owner.Finish(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if holder, err := l.Claim(dst, blob).Wait(ctx); holder != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled ctx = %v, %v; want nil, context.Canceled", holder, err)
	}
}

// A blob an engine's save streams (ClaimBlob) and the same blob a registry
// copy moves (Claim) are one claim: whichever comes second follows, and
// learns whose destination the owner sends it into. A layer by diff_id
// (ClaimLayer) is another claim, even with the same hash.
func TestClaimBlobIsTheCopysClaim(t *testing.T) {
	l := New()
	a := placed{memstore.New("reg.test/a"), "reg.test"}
	b := placed{memstore.New("reg.test/b"), "reg.test"}
	owner := l.Claim(a, blob)
	f := l.ClaimBlob(b, blob)
	if !f.Follower() {
		t.Fatal("ClaimBlob of a blob a copy owns is an owner")
	}
	if f.Owner() != a {
		t.Errorf("the follower names %v as the owner's destination; want %v", f.Owner(), a)
	}
	if l.ClaimLayer(b, blob).Follower() {
		t.Error("a layer by diff_id follows a blob by digest")
	}
	owner.Finish(true)
	if holder, err := f.Wait(context.Background()); err != nil || holder != a {
		t.Errorf("the follower found %v (%v); want %v", holder, err, a)
	}
	var nl *Ledger
	if c := nl.ClaimBlob(b, blob); c.Follower() || c.Owner() != nil {
		t.Error("a nil ledger made a follower, or names an owner")
	}
}
