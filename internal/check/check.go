// Package check proves a mirror: for one image it says whether the
// destination is equal to the source (the same digest, with every child and
// blob present), has the same content under another digest (every platform's
// rootfs.diff_ids the same, as the manifest and buildx strategies, --platform
// and --media-types leave it), is missing something, or differs. It only
// reads: HEADs wherever a HEAD can answer, GETs for the manifests and configs
// that name what to look for.
package check

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/docker-migrate/docker-migrate/internal/verify"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Result is what --check found for one image; --format json prints it.
type Result struct {
	Source            string          `json:"source"`
	Destination       string          `json:"destination"`
	SourceDigest      string          `json:"sourceDigest"`
	DestinationDigest string          `json:"destinationDigest,omitempty"`
	Status            outcome.Outcome `json:"status"`
	// Problems says what is missing or different, one sentence each.
	Problems []string `json:"problems"`
	// Signature is what --verify-key found at the destination.
	Signature *verify.Verdict `json:"signature,omitempty"`
}

// Request is one image to check.
type Request struct {
	Src, Dst            store.Store
	Source, Destination name.Reference
	Platforms           []v1.Platform
}

// Image checks one image.
func Image(ctx context.Context, req Request) (*Result, error) {
	res := &Result{Source: wording.Reference(req.Source), Destination: wording.Reference(req.Destination), Problems: []string{}}
	srcDesc, err := store.Describe(ctx, req.Src, req.Source.Identifier())
	if err != nil {
		if errdefs.Is(err, errdefs.NotFound) {
			return nil, plan.SourceNotFound(ctx, req.Src, req.Source, err)
		}
		return nil, err
	}
	res.SourceDigest = srcDesc.Digest.String()
	dstDesc, err := store.Describe(ctx, req.Dst, req.Destination.Identifier())
	if errdefs.Is(err, errdefs.NotFound) {
		res.Status = outcome.Missing
		res.Problems = append(res.Problems, fmt.Sprintf("%s does not exist", req.Destination.Name()))
		return res, nil
	} else if err != nil {
		return nil, err
	}
	res.DestinationDigest = dstDesc.Digest.String()

	if dstDesc.Digest == srcDesc.Digest && len(req.Platforms) == 0 {
		res.Problems = missingFrom(ctx, req.Dst, dstDesc.Digest, req.Destination)
		res.Status = outcome.Equal
		if len(res.Problems) > 0 {
			res.Status = outcome.Missing
		}
		return res, nil
	}

	// Another digest: compare what each platform holds.
	want, err := images(ctx, req.Src, srcDesc.Digest)
	if err != nil {
		return nil, fmt.Errorf("read the source %s: %w", req.Source.Name(), err)
	}
	have, err := images(ctx, req.Dst, dstDesc.Digest)
	if err != nil {
		return nil, fmt.Errorf("read the destination %s: %w", req.Destination.Name(), err)
	}
	if len(req.Platforms) > 0 {
		want = slices.DeleteFunc(want, func(pi platformImage) bool {
			return !slices.ContainsFunc(req.Platforms, func(p v1.Platform) bool { return platforms.Match(p, pi.platform) })
		})
	}
	res.Status = outcome.SameContent
	for _, w := range want {
		i := slices.IndexFunc(have, func(h platformImage) bool { return platforms.Match(w.platform, h.platform) })
		if i < 0 {
			res.Status = outcome.Missing
			res.Problems = append(res.Problems, fmt.Sprintf("platform %s is not in %s", platforms.Format(w.platform), req.Destination.Name()))
			continue
		}
		h := have[i]
		if gaps := missingFrom(ctx, req.Dst, h.digest, req.Destination); len(gaps) > 0 {
			res.Status = outcome.Missing
			res.Problems = append(res.Problems, gaps...)
			continue
		}
		a, err := strategy.DiffIDs(ctx, req.Src, w.digest)
		if err != nil {
			return nil, err
		}
		b, err := strategy.DiffIDs(ctx, req.Dst, h.digest)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(a, b) {
			if res.Status != outcome.Missing {
				res.Status = outcome.Different
			}
			res.Problems = append(res.Problems, fmt.Sprintf("platform %s holds other layers than the source's (rootfs.diff_ids differ: %s at the destination, %s at the source)",
				platforms.Format(w.platform), h.digest, w.digest))
		}
	}
	if res.Status == outcome.SameContent && dstDesc.Digest == srcDesc.Digest {
		res.Status = outcome.Equal
	}
	return res, nil
}

// missingFrom lists what of the manifest d (and, for an index, its children)
// dst lacks, one sentence each.
func missingFrom(ctx context.Context, dst store.Store, d v1.Hash, ref name.Reference) []string {
	body, desc, err := dst.GetManifest(ctx, d.String())
	if err != nil {
		return []string{fmt.Sprintf("manifest %s of %s cannot be read: %s", d, ref.Name(), errdefs.Message(err))}
	}
	if desc.MediaType.IsIndex() || isIndex(body) {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return []string{fmt.Sprintf("index %s of %s does not parse: %v", d, ref.Name(), err)}
		}
		var out []string
		for _, m := range idx.Manifests {
			label := m.Digest.String()
			if m.Platform != nil {
				label = platforms.Format(*m.Platform) + " (" + m.Digest.String() + ")"
			}
			if _, err := dst.HeadManifest(ctx, m.Digest.String()); err != nil {
				out = append(out, fmt.Sprintf("manifest %s is not in %s", label, ref.Name()))
				continue
			}
			out = append(out, missingFrom(ctx, dst, m.Digest, ref)...)
		}
		return out
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return []string{fmt.Sprintf("manifest %s of %s does not parse: %v", d, ref.Name(), err)}
	}
	var out []string
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if len(b.URLs) > 0 {
			continue // foreign layers stay where their URLs point
		}
		if bs, ok := dst.(store.BlobSizer); ok {
			// A blob of another size than its descriptor says does not pull.
			switch n, ok, err := bs.BlobSize(ctx, b.Digest); {
			case err != nil || !ok:
				out = append(out, fmt.Sprintf("blob %s of manifest %s is not in %s", b.Digest, d, ref.Name()))
			case store.SizeDisagrees(b.Digest, n, b.Size):
				out = append(out, fmt.Sprintf("blob %s of manifest %s is %d bytes in %s, but the manifest says %d: the image does not pull; the source's manifest is damaged", b.Digest, d, n, ref.Name(), b.Size))
			}
			continue
		}
		if ok, err := dst.BlobExists(ctx, b.Digest); err != nil || !ok {
			out = append(out, fmt.Sprintf("blob %s of manifest %s is not in %s", b.Digest, d, ref.Name()))
		}
	}
	return out
}

func isIndex(body []byte) bool {
	return bytes.Contains(body, []byte(`"manifests"`))
}

type platformImage struct {
	platform v1.Platform
	digest   v1.Hash
}

// images lists the platform images of the manifest d: an index's children
// (attestations left out), or the single image with its config's platform.
func images(ctx context.Context, s store.Store, d v1.Hash) ([]platformImage, error) {
	body, desc, err := s.GetManifest(ctx, d.String())
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() || isIndex(body) {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		var out []platformImage
		for _, m := range idx.Manifests {
			if m.Platform != nil && !platforms.IsUnknown(m.Platform) {
				out = append(out, platformImage{platform: *m.Platform, digest: m.Digest})
			}
		}
		return out, nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if m.Config.MediaType != types.OCIConfigJSON && m.Config.MediaType != types.DockerConfigJSON {
		// An artifact (a Helm chart, a WASM module): its config is no image
		// config and says no platform.
		return []platformImage{{platform: v1.Platform{OS: "unknown", Architecture: "unknown"}, digest: d}}, nil
	}
	rc, err := s.GetBlob(ctx, m.Config.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	cf, err := v1.ParseConfigFile(rc)
	if err != nil {
		return nil, err
	}
	return []platformImage{{platform: v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}, digest: d}}, nil
}
