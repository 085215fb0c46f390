package strategy

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DiffIDs reads the rootfs.diff_ids of the image manifest d in repo: the
// digests of the uncompressed layers, which survive recompression and media-type
// conversion, so they say whether two images hold the same files.
func DiffIDs(ctx context.Context, repo *registry.Repository, d v1.Hash) ([]v1.Hash, error) {
	body, _, err := repo.GetManifest(ctx, d.String())
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("manifest %s in %s: %w", d, repo.Name.Name(), err)
	}
	rc, err := repo.GetBlob(ctx, m.Config.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	cf, err := v1.ParseConfigFile(rc)
	if err != nil {
		return nil, fmt.Errorf("config %s in %s: %w", m.Config.Digest, repo.Name.Name(), err)
	}
	return cf.RootFS.DiffIDs, nil
}

// CompareDiffIDs checks every platform's destination image against its source
// image and returns the platforms whose diff_ids differ.
func CompareDiffIDs(ctx context.Context, src, dst *registry.Repository, pairs []plan.PlatformDigest) ([]string, error) {
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
