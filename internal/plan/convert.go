package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Format is a family of manifest media types.
type Format string

const (
	FormatDocker Format = "docker" // Docker image manifest v2 schema 2 and manifest list
	FormatOCI    Format = "oci"    // OCI image manifest and index
)

// mediaTypeMap maps a media type to its counterpart in the other family.
// zstd layers and artifacts have no Docker counterpart, so they are absent.
var toDocker = map[types.MediaType]types.MediaType{
	types.OCIImageIndex:                  types.DockerManifestList,
	types.OCIManifestSchema1:             types.DockerManifestSchema2,
	types.OCIConfigJSON:                  types.DockerConfigJSON,
	types.OCILayer:                       types.DockerLayer,
	types.OCIRestrictedLayer:             types.DockerForeignLayer,
	types.DockerManifestList:             types.DockerManifestList,
	types.DockerManifestSchema2:          types.DockerManifestSchema2,
	types.DockerConfigJSON:               types.DockerConfigJSON,
	types.DockerLayer:                    types.DockerLayer,
	types.DockerForeignLayer:             types.DockerForeignLayer,
	types.DockerUncompressedLayer:        types.DockerUncompressedLayer,
	types.OCIUncompressedLayer:           types.DockerUncompressedLayer,
	types.OCIUncompressedRestrictedLayer: types.DockerForeignLayer,
}

var toOCI = map[types.MediaType]types.MediaType{
	types.DockerManifestList:      types.OCIImageIndex,
	types.DockerManifestSchema2:   types.OCIManifestSchema1,
	types.DockerConfigJSON:        types.OCIConfigJSON,
	types.DockerLayer:             types.OCILayer,
	types.DockerForeignLayer:      types.OCIRestrictedLayer,
	types.DockerUncompressedLayer: types.OCIUncompressedLayer,
}

func (f Format) convert(mt types.MediaType) (types.MediaType, bool) {
	if f == FormatDocker {
		out, ok := toDocker[mt]
		return out, ok
	}
	if out, ok := toOCI[mt]; ok {
		return out, true
	}
	// OCI types, and types with no Docker form (in-toto, artifacts), stay.
	return mt, !strings.HasPrefix(string(mt), "application/vnd.docker.")
}

// CanConvert says why p's images cannot be written in format f, or nil: Docker
// v2 has no type for zstd layers or for artifacts.
func (p *Plan) CanConvert(f Format) error {
	for _, b := range p.Blobs {
		if _, ok := f.convert(b.MediaType); !ok && !p.onlyInAttestations(b, f) {
			return fmt.Errorf("layer %s has media type %s, which has no %s counterpart", b.Digest, b.MediaType, f)
		}
	}
	return nil
}

// onlyInAttestations reports a blob used only by attestation manifests, which a
// Docker list drops anyway.
func (p *Plan) onlyInAttestations(b *Blob, f Format) bool {
	if f != FormatDocker {
		return false
	}
	for _, m := range p.Manifests {
		if !m.Attestation {
			for _, d := range m.Blobs {
				if d == b.Digest {
					return false
				}
			}
		}
	}
	return len(p.Manifests) > 0
}

// Convert returns the plan rewritten to write every manifest in format f. The
// blobs are the same bytes; the manifests are new, so every manifest digest
// changes. A Docker list cannot hold attestation manifests: they are dropped.
// What the destination already has (from an earlier attempt, say) is skipped.
func Convert(ctx context.Context, p *Plan, src, dst store.Store, f Format, jobs int) (*Plan, error) {
	if err := p.fillBodies(ctx, src, dst, jobs); err != nil {
		return nil, err
	}
	if err := p.CanConvert(f); err != nil {
		return nil, errdefs.New(errdefs.InvalidArgument, "cannot convert %s to %s media types: %v", p.Source.Name(), f, err)
	}
	for _, m := range p.Manifests {
		if len(m.Children) > 0 {
			// Its entries would name the converted children by new digests,
			// and its parent it by a new one in turn: not done (yet).
			return nil, errdefs.New(errdefs.InvalidArgument, "cannot convert %s to %s media types: it holds a nested index (%s); copy it without --media-types", p.Source.Name(), f, m.Digest)
		}
	}
	q := &Plan{Source: p.Source, Destination: p.Destination, SourceDigest: p.SourceDigest, DigestChanged: true,
		DestinationTag: p.DestinationTag, DestinationTagRead: p.DestinationTagRead, ConvertedTo: f}
	reasons := []string{fmt.Sprintf("manifests converted to %s media types", f)}
	if p.ChangeReason != "" {
		reasons = append([]string{p.ChangeReason}, reasons...)
	}

	converted := map[v1.Hash]*Manifest{}
	dropped := 0
	for _, m := range p.Manifests {
		if m.Attestation && f == FormatDocker {
			dropped++
			continue
		}
		body, mt, err := convertImage(m.Body, f)
		if err != nil {
			return nil, fmt.Errorf("convert %s (%s): %w", m.Digest, m.Label, err)
		}
		d, _, _ := v1.SHA256(bytes.NewReader(body))
		n := &Manifest{Digest: d, MediaType: mt, Size: int64(len(body)), Body: body, Label: m.Label, Action: Copy, Blobs: m.Blobs, Attestation: m.Attestation}
		converted[m.Digest] = n
		q.Manifests = append(q.Manifests, n)
	}
	if dropped > 0 {
		reasons = append(reasons, fmt.Sprintf("%d attestation manifests dropped (a Docker list cannot hold them)", dropped))
	}
	q.ChangeReason = strings.Join(reasons, "; ")

	var err error
	if p.Root.MediaType.IsIndex() {
		q.Root, err = convertIndex(p.Root, converted, f)
	} else {
		var body []byte
		var mt types.MediaType
		if body, mt, err = convertImage(p.Root.Body, f); err == nil {
			d, _, _ := v1.SHA256(bytes.NewReader(body))
			q.Root = &Manifest{Digest: d, MediaType: mt, Size: int64(len(body)), Body: body, Label: p.Root.Label, Action: Copy, Blobs: p.Root.Blobs}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", p.Source.Name(), err)
	}
	if q.Root.Digest == p.Root.Digest {
		// Nothing needed converting: the copy is byte for byte after all.
		q.DigestChanged, q.ChangeReason = p.DigestChanged, p.ChangeReason
	}
	for _, pd := range p.Platforms {
		if n, ok := converted[pd.SourceDigest]; ok {
			pd.DestinationDigest = n.Digest
		} else {
			pd.DestinationDigest = q.Root.Digest
		}
		q.Platforms = append(q.Platforms, pd)
	}

	// Only the blobs a kept manifest uses, each checked again at the destination.
	used := map[v1.Hash]bool{}
	for _, m := range append([]*Manifest{q.Root}, q.Manifests...) {
		for _, d := range m.Blobs {
			used[d] = true
		}
	}
	for _, b := range p.Blobs {
		if used[b.Digest] {
			c := *b
			if c.Action == Skip {
				c.Action = Copy
			}
			q.Blobs = append(q.Blobs, &c)
		}
	}
	w := &walker{dst: dst, jobs: jobs, order: q.Blobs}
	if err := w.checkBlobs(ctx, canMount(src, dst)); err != nil {
		return nil, err
	}
	if err := q.skipExisting(ctx, dst, jobs); err != nil {
		return nil, err
	}
	return q, nil
}

// fillBodies fetches the manifests the plan skipped without reading (the
// destination had them): a conversion needs every one. They are read from the
// destination, which has them, so the source is not asked again.
func (p *Plan) fillBodies(ctx context.Context, src, dst store.Store, jobs int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for _, m := range p.Manifests {
		if m.Body != nil {
			continue
		}
		g.Go(func() error {
			body, _, err := dst.GetManifest(gctx, m.Digest.String())
			if err != nil {
				if body, _, err = src.GetManifest(gctx, m.Digest.String()); err != nil {
					return err
				}
			}
			m.Body = body
			if mf, err := v1.ParseManifest(bytes.NewReader(body)); err == nil {
				m.Blobs = append([]v1.Hash{mf.Config.Digest}, digests(mf.Layers)...)
			}
			return nil
		})
	}
	return g.Wait()
}

func digests(ds []v1.Descriptor) []v1.Hash {
	out := make([]v1.Hash, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}

// skipExisting marks the manifests the destination already has.
func (p *Plan) skipExisting(ctx context.Context, dst store.Store, jobs int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for _, m := range p.Manifests {
		g.Go(func() error {
			if _, err := dst.HeadManifest(gctx, m.Digest.String()); err == nil {
				m.Action = Skip
			}
			return nil
		})
	}
	return g.Wait()
}

// convertImage rewrites an image manifest's media types. Docker v2 has no
// annotations, artifactType or subject, so they go.
func convertImage(body []byte, f Format) ([]byte, types.MediaType, error) {
	out, mt, err := rewriteImage(body, f)
	if err != nil {
		return nil, "", err
	}
	if f == FormatOCI && unchanged(body, out) {
		// Already in that family: keep the bytes, and so the digest, that
		// attestations and users' pins refer to.
		return body, mt, nil
	}
	return out, mt, nil
}

// unchanged reports whether a rewrite only re-encoded the same JSON.
func unchanged(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xa, yb)
}

func rewriteImage(body []byte, f Format) ([]byte, types.MediaType, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, "", err
	}
	var mt types.MediaType
	_ = json.Unmarshal(doc["mediaType"], &mt)
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	newMT, ok := f.convert(mt)
	if !ok || newMT.IsIndex() {
		return nil, "", fmt.Errorf("manifest media type %s has no %s counterpart", mt, f)
	}
	set(doc, "mediaType", newMT)
	var err error
	if doc["config"], err = convertDescriptor(doc["config"], f); err != nil {
		return nil, "", err
	}
	var layers []json.RawMessage
	if err := json.Unmarshal(doc["layers"], &layers); err != nil {
		return nil, "", fmt.Errorf("layers: %w", err)
	}
	for i := range layers {
		if layers[i], err = convertDescriptor(layers[i], f); err != nil {
			return nil, "", err
		}
	}
	set(doc, "layers", layers)
	if f == FormatDocker {
		delete(doc, "annotations")
		delete(doc, "artifactType")
		delete(doc, "subject")
	}
	out, err := json.Marshal(doc)
	return out, newMT, err
}

func convertDescriptor(raw json.RawMessage, f Format) (json.RawMessage, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	var mt types.MediaType
	_ = json.Unmarshal(d["mediaType"], &mt)
	newMT, ok := f.convert(mt)
	if !ok {
		return nil, fmt.Errorf("media type %s has no %s counterpart", mt, f)
	}
	set(d, "mediaType", newMT)
	if f == FormatDocker {
		delete(d, "annotations")
	}
	return json.Marshal(d)
}

// convertIndex rewrites the root index to point at the converted children.
func convertIndex(root *Manifest, converted map[v1.Hash]*Manifest, f Format) (*Manifest, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(root.Body, &doc); err != nil {
		return nil, err
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil {
		return nil, err
	}
	var kept []map[string]json.RawMessage
	for _, e := range entries {
		var d v1.Hash
		if err := json.Unmarshal(e["digest"], &d); err != nil {
			return nil, err
		}
		n, ok := converted[d]
		if !ok {
			continue // dropped (an attestation in a Docker list)
		}
		set(e, "digest", n.Digest)
		set(e, "size", n.Size)
		set(e, "mediaType", n.MediaType)
		if f == FormatDocker {
			delete(e, "annotations")
			delete(e, "artifactType")
		} else if raw, ok := e["annotations"]; ok {
			// An attestation names the image it describes by digest: follow
			// that image to its converted digest.
			var ann map[string]string
			if json.Unmarshal(raw, &ann) == nil {
				if subject, err := v1.NewHash(ann[refDigestAnnotation]); err == nil {
					if c, ok := converted[subject]; ok {
						ann[refDigestAnnotation] = c.Digest.String()
						set(e, "annotations", ann)
					}
				}
			}
		}
		kept = append(kept, e)
	}
	mt, ok := f.convert(root.MediaType)
	if !ok {
		return nil, fmt.Errorf("index media type %s has no %s counterpart", root.MediaType, f)
	}
	set(doc, "mediaType", mt)
	set(doc, "manifests", kept)
	if f == FormatDocker {
		delete(doc, "annotations")
		delete(doc, "artifactType")
		delete(doc, "subject")
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if f == FormatOCI && unchanged(root.Body, body) {
		body = root.Body
	}
	d, _, _ := v1.SHA256(bytes.NewReader(body))
	return &Manifest{Digest: d, MediaType: mt, Size: int64(len(body)), Body: body, Label: root.Label, Action: Copy}, nil
}

func set(doc map[string]json.RawMessage, key string, v any) {
	b, _ := json.Marshal(v)
	doc[key] = b
}
