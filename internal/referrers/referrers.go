// Package referrers keeps the OCI 1.1 referrers rule where a destination has
// no referrers API: a manifest with a subject is listed in the index tagged
// sha256-<subject hex> (the fallback tag), beside what is there already.
// A registry with the API indexes subjects itself; an OCI layout has no API,
// so the tag is written there too, as regclient's ocidir does.
package referrers

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Lister is a store with the OCI 1.1 referrers API (a registry that answers
// GET /v2/NAME/referrers/DIGEST); supported is false where it has none.
type Lister interface {
	Referrers(ctx context.Context, d v1.Hash) (descs []v1.Descriptor, supported bool, err error)
}

// FallbackTag is where a store without the referrers API keeps the
// referrers of d: an index tagged sha256-HEX (the OCI 1.1 fallback schema).
func FallbackTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex }

// HasAPI reports whether dst indexes subjects itself. A registry that
// accepts a manifest with a subject says so with an OCI-Subject header; its
// referrers API, asked once, says the same for every manifest of a run. When
// the question fails, the answer is no: the fallback tag is harmless where
// the API exists.
func HasAPI(ctx context.Context, dst store.Store, d v1.Hash) bool {
	l, ok := dst.(Lister)
	if !ok {
		return false
	}
	_, supported, err := l.Referrers(ctx, d)
	return err == nil && supported
}

// UpdateFallbackTag adds descs to the index tagged sha256-HEX of subject d
// in dst, keeping the entries another tool put there. It writes nothing
// when every one is listed already.
func UpdateFallbackTag(ctx context.Context, dst store.Store, d v1.Hash, descs []v1.Descriptor) error {
	tag := FallbackTag(d)
	defer Lock(dst, tag)()
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	body, _, err := dst.GetManifest(ctx, tag)
	switch {
	case errdefs.Is(err, errdefs.NotFound):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(body, &idx); err != nil {
			return errdefs.New(errdefs.Rejected, "%s: the referrers tag %s is not an index (%v); remove it or fix it, then run again", dst, tag, err)
		}
	}
	added := false
	for _, r := range descs {
		if !slices.ContainsFunc(idx.Manifests, func(x v1.Descriptor) bool { return x.Digest == r.Digest }) {
			idx.Manifests = append(idx.Manifests, r)
			added = true
		}
	}
	if !added {
		return nil
	}
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if bytes.Equal(out, body) {
		return nil
	}
	return dst.PutManifest(ctx, tag, types.OCIImageIndex, out)
}

// tagLocks serialise the writes of one fallback tag within this process:
// the copies of a batch may list referrers of one subject at the same time
// (the last write would drop the other's entries), or copy the tag itself
// from an archive that holds it while another lists a referrer there (and
// distribution 2.8 answers 500 to a GET of a tag being written).
var tagLocks sync.Map // string → *sync.Mutex

// Lock takes the lock of tag in dst when it is a fallback tag (sha256-HEX),
// and returns its release; for any other tag it does nothing.
func Lock(dst store.Store, tag string) (unlock func()) {
	if !isFallbackTag(tag) {
		return func() {}
	}
	m, _ := tagLocks.LoadOrStore(dst.String()+":"+tag, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// isFallbackTag reports a tag of the form sha256-HEX.
func isFallbackTag(tag string) bool {
	alg, hex, ok := strings.Cut(tag, "-")
	if !ok || alg != "sha256" {
		return false
	}
	_, err := v1.NewHash(alg + ":" + hex)
	return err == nil
}

// manifestFields are the fields of a manifest that its referrers entry
// repeats.
type manifestFields struct {
	MediaType    types.MediaType   `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// Subject reads the subject of a manifest, and the descriptor that lists the
// manifest among its subject's referrers: its media type, digest, size,
// artifact type (the config's media type when it names none) and
// annotations, as the distribution spec has a referrers list say. ok is
// false for a manifest with no subject.
func Subject(mt types.MediaType, body []byte) (subject v1.Hash, entry v1.Descriptor, ok bool) {
	var m manifestFields
	if json.Unmarshal(body, &m) != nil || m.Subject == nil || m.Subject.Digest.Hex == "" {
		return v1.Hash{}, v1.Descriptor{}, false
	}
	d, n, _ := v1.SHA256(bytes.NewReader(body))
	entry = v1.Descriptor{MediaType: mt, Digest: d, Size: n, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if m.MediaType != "" {
		entry.MediaType = m.MediaType
	}
	if entry.ArtifactType == "" && m.Config != nil {
		entry.ArtifactType = string(m.Config.MediaType)
	}
	return m.Subject.Digest, entry, true
}
