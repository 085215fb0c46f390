package indexstrategy

import (
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/plan"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// manifestDeps is the bookkeeping of children first: each child manifest
// waits for the blobs it names that are being copied, and for the child
// manifests it names (a nested index), and is released for its push once
// the last of them is in; one listed more than once is pushed once.
type manifestDeps struct {
	mu sync.Mutex
	// waiting counts, per manifest, what it still waits for; users lists,
	// per blob or manifest digest, the manifests that wait for it.
	waiting map[*plan.Manifest]int
	users   map[v1.Hash][]*plan.Manifest
	ready   []*plan.Manifest
	pushed  map[v1.Hash]bool
}

// newManifestDeps lists what each manifest of p to be pushed waits for:
// the blobs among copying, and the child manifests that are pushed too.
func newManifestDeps(p *plan.Plan, copying map[v1.Hash]bool) *manifestDeps {
	md := &manifestDeps{waiting: map[*plan.Manifest]int{}, users: map[v1.Hash][]*plan.Manifest{}, pushed: map[v1.Hash]bool{}}
	pushing := map[v1.Hash]bool{}
	for _, m := range p.Manifests {
		if m.Action != plan.Skip {
			pushing[m.Digest] = true
		}
	}
	for _, m := range p.Manifests {
		if m.Action == plan.Skip {
			continue
		}
		seen := map[v1.Hash]bool{}
		wait := func(d v1.Hash) {
			if !seen[d] {
				seen[d] = true
				md.waiting[m]++
				md.users[d] = append(md.users[d], m)
			}
		}
		for _, d := range m.Blobs {
			if copying[d] {
				wait(d)
			}
		}
		for _, d := range m.Children {
			if pushing[d] && d != m.Digest {
				wait(d)
			}
		}
		if md.waiting[m] == 0 {
			md.ready = append(md.ready, m)
		}
	}
	return md
}

// start returns the manifests that wait for nothing.
func (md *manifestDeps) start() []*plan.Manifest {
	md.mu.Lock()
	defer md.mu.Unlock()
	r := md.ready
	md.ready = nil
	return r
}

// arrived records that blob or manifest d is at the destination and returns
// the manifests that now wait for nothing more.
func (md *manifestDeps) arrived(d v1.Hash) []*plan.Manifest {
	md.mu.Lock()
	defer md.mu.Unlock()
	var now []*plan.Manifest
	for _, m := range md.users[d] {
		if md.waiting[m]--; md.waiting[m] == 0 {
			now = append(now, m)
		}
	}
	delete(md.users, d)
	return now
}

// first reports whether m is pushed for the first time: a manifest listed
// more than once (one attestation shared by several platforms) is pushed
// once.
func (md *manifestDeps) first(m *plan.Manifest) bool {
	md.mu.Lock()
	defer md.mu.Unlock()
	again := md.pushed[m.Digest]
	md.pushed[m.Digest] = true
	return !again
}
