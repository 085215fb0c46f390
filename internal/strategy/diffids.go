package strategy

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DiffIDs reads the rootfs.diff_ids of the image manifest d in repo: the
// digests of the uncompressed layers, which survive recompression and media-type
// conversion, so they say whether two images hold the same files.
func DiffIDs(ctx context.Context, repo store.Store, d v1.Hash) ([]v1.Hash, error) {
	body, _, err := repo.GetManifest(ctx, d.String())
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("manifest %s in %s: %w", d, repo, err)
	}
	rc, err := repo.GetBlob(ctx, m.Config.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	cf, err := v1.ParseConfigFile(rc)
	if err != nil {
		return nil, fmt.Errorf("config %s in %s: %w", m.Config.Digest, repo, err)
	}
	return cf.RootFS.DiffIDs, nil
}

// CompareDiffIDs checks every platform's destination image against its source
// image and returns the platforms whose diff_ids differ.
func CompareDiffIDs(ctx context.Context, src, dst store.Store, pairs []plan.PlatformDigest) ([]string, error) {
	var differ []string
	for _, p := range pairs {
		want, err := DiffIDs(ctx, src, p.SourceDigest)
		if err != nil {
			return nil, fmt.Errorf("read the source image for %s: %w", p.Platform, err)
		}
		got, err := DiffIDs(ctx, dst, p.DestinationDigest)
		if err != nil {
			return nil, fmt.Errorf("read the pushed image for %s: %w", p.Platform, err)
		}
		if !slices.Equal(want, got) {
			differ = append(differ, p.Platform)
		}
	}
	return differ, nil
}

// CheckPushed reads back an image another tool (the engine, BuildKit) pushed
// and checks that every blob its manifest names is there and has a real size:
// a registry that lied about a blob's size to that tool would otherwise leave
// an image that looks pushed and cannot be pulled.
func CheckPushed(ctx context.Context, repo store.Store, d v1.Hash, label string) error {
	body, _, err := repo.GetManifest(ctx, d.String())
	if err != nil {
		return err
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("manifest %s in %s: %w", d, repo, err)
	}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		// The size the manifest gives is checked, not the one a HEAD answers:
		// the registries this guards against are the ones whose HEADs lie.
		if b.Size <= 0 {
			return errdefs.New(errdefs.Rejected, "the image pushed for %s (%s) describes blob %s as %d bytes: the registry told the pushing tool a wrong size; try another strategy", label, d, b.Digest, b.Size)
		}
		if ok, err := repo.BlobExists(ctx, b.Digest); err != nil {
			return err
		} else if !ok {
			return errdefs.New(errdefs.Rejected, "the image pushed for %s (%s) names blob %s, which %s does not have", label, d, b.Digest, repo)
		}
	}
	return nil
}
