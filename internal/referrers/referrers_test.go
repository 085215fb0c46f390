package referrers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/referrers"
	"github.com/docker-migrate/docker-migrate/internal/testutil/memstore"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestUpdateFallbackTagConcurrent lists referrers of one subject from many
// goroutines, as a batch's copies may: none is lost.
func TestUpdateFallbackTagConcurrent(t *testing.T) {
	dst := memstore.New("dst.test/app")
	subject := dst.Image("linux/amd64", 10).Digest
	const n = 20
	// Every copy reads the tag before any writes it, as they would on a
	// network: without the lock, each write drops the others' entries.
	var read sync.WaitGroup
	read.Add(n)
	dst.Hook = func(_ context.Context, op memstore.Op, ref string) error {
		if op == memstore.GetManifest && ref == referrers.FallbackTag(subject) {
			read.Done()
			done := make(chan struct{})
			go func() { read.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(50 * time.Millisecond): // serialised: the others wait for this one
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	for i := range n {
		d := dst.Put("", types.OCIManifestSchema1, fmt.Appendf(nil, `{"n":%d}`, i))
		wg.Go(func() {
			if err := referrers.UpdateFallbackTag(context.Background(), dst, subject, []v1.Descriptor{d}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	body, ok := dst.Manifest(referrers.FallbackTag(subject))
	var idx v1.IndexManifest
	if !ok || json.Unmarshal(body, &idx) != nil || len(idx.Manifests) != n {
		t.Errorf("the fallback tag lists %d referrers, want %d", len(idx.Manifests), n)
	}
}

// TestSubject reads a manifest's subject and its referrers entry.
func TestSubject(t *testing.T) {
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
		"config":{"mediaType":"application/vnd.example.config","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
		"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270","size":7},
		"annotations":{"a":"b"}}`)
	s, e, ok := referrers.Subject(types.OCIManifestSchema1, body)
	if !ok || s.Hex != "5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270" || e.ArtifactType != "application/vnd.example.config" || e.Annotations["a"] != "b" || e.Size != int64(len(body)) {
		t.Errorf("Subject = %v %+v %v", s, e, ok)
	}
	if _, _, ok := referrers.Subject(types.OCIManifestSchema1, []byte(`{"schemaVersion":2}`)); ok {
		t.Error("a manifest without a subject has one")
	}
}
