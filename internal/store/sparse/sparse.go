// Package sparse reads an index of which only some children are at hand, as
// per-platform exports write it (`ctr images export --platform`, Docker 25+'s
// `docker save` of an image pulled for one platform): which children are
// whole, and the index of those alone. The archive store uses it for one
// archive, the merge store for several, so that one archive and two copies of
// it give the same index, byte for byte.
package sparse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The annotations BuildKit gives an attestation manifest in an index.
const (
	refTypeAnnotation   = "vnd.docker.reference.type"
	refDigestAnnotation = "vnd.docker.reference.digest"
	attestationType     = "attestation-manifest"
)

// IsAttestation reports an index entry that is a BuildKit attestation of
// another entry.
func IsAttestation(d v1.Descriptor) bool {
	return d.Annotations[refTypeAnnotation] == attestationType
}

// Complete reports whether every blob the image manifest body names is in s;
// foreign layers, which stay where their URLs point, aside. A body that is
// not an image manifest is not complete.
func Complete(ctx context.Context, s store.Store, body []byte) (bool, error) {
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil || m.Config.Digest.Hex == "" {
		return false, nil
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if len(d.URLs) > 0 {
			continue
		}
		ok, err := s.BlobExists(ctx, d.Digest)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Keep lists, in the index's order, the children to keep of those present:
// every one present, except an attestation whose image is not kept (an
// attestation of an absent image describes nothing the copy holds).
func Keep(manifests []v1.Descriptor, present func(v1.Descriptor) bool) []v1.Descriptor {
	have := map[v1.Hash]bool{}
	for _, d := range manifests {
		if !IsAttestation(d) && present(d) {
			have[d.Digest] = true
		}
	}
	var kept []v1.Descriptor
	for _, d := range manifests {
		switch {
		case !present(d):
		case IsAttestation(d):
			if subject, err := v1.NewHash(d.Annotations[refDigestAnnotation]); err == nil && have[subject] {
				kept = append(kept, d)
			}
		default:
			kept = append(kept, d)
		}
	}
	return kept
}

// Rewrite returns the index body with only the kept children. Every other
// field, and each kept entry, stays as it was written, so that what the
// index said of a platform (annotations, fields this program does not know)
// survives.
func Rewrite(body []byte, kept []v1.Descriptor) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil {
		return nil, fmt.Errorf("the index's manifests do not parse: %w", err)
	}
	keep := map[v1.Hash]bool{}
	for _, d := range kept {
		keep[d.Digest] = true
	}
	out := []json.RawMessage{}
	for _, raw := range entries {
		var d v1.Descriptor
		if err := json.Unmarshal(raw, &d); err == nil && keep[d.Digest] {
			out = append(out, raw)
		}
	}
	list, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	doc["manifests"] = list
	return json.Marshal(doc)
}

// Platforms names the platforms of ds, attestations and unknown platforms
// aside: "linux/amd64, linux/arm64/v8".
func Platforms(ds []v1.Descriptor) string {
	var out []string
	for _, d := range ds {
		if d.Platform != nil && !platforms.IsUnknown(d.Platform) && !IsAttestation(d) {
			out = append(out, platforms.Format(*d.Platform))
		}
	}
	return strings.Join(out, ", ")
}
