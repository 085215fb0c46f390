package engine

import (
	"bytes"
	"context"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

var _ store.ImageHolder = (*targetRepo)(nil)

// HeldImage compares the image the engine holds under tag with root, the
// image a copy would load, by what the engine keeps of what it loaded:
//
//   - The classic store keeps an image by its config: the image ID is the
//     config's digest, and the config names every layer (rootfs.diff_ids),
//     which the store holds whenever it holds the image. The same ID as
//     root's config is the same image, whole.
//   - The containerd store (API 1.48 and later) keeps the manifest or index
//     it loaded, which inspect shows (Descriptor): the same digest as root,
//     and every platform of root available (not only the one `docker pull`
//     fetched), is the same image, whole. Earlier APIs do not say whether the
//     platforms are all there, and such an image is loaded again.
//
// Held.ID is the engine's image ID, which `docker image ls` shows.
func (r *targetRepo) HeldImage(ctx context.Context, tag string, root v1.Descriptor, body []byte) (store.Held, error) {
	t := r.t
	var opts []client.ImageInspectOption
	if t.info.platformParams() {
		opts = append(opts, client.ImageInspectWithManifests(true))
	}
	res, err := t.eng.client.ImageInspect(ctx, wording.Familiar(r.repo.Tag(tag)), opts...)
	if err != nil {
		if isNotFound(err) {
			return store.Held{}, errdefs.Wrap(err, errdefs.NotFound, "%s:%s is not in %s", r.repo.Name(), tag, t)
		}
		return store.Held{}, t.eng.reachError(err)
	}
	id, err := v1.NewHash(res.ID)
	if err != nil {
		return store.Held{}, errdefs.Wrap(err, errdefs.Unknown, "the Docker engine %s gave an image ID %q that is not a digest", t.eng, res.ID)
	}
	held := store.Held{ID: id}
	if !t.info.Containerd {
		if root.MediaType.IsImage() {
			if m, err := v1.ParseManifest(bytes.NewReader(body)); err == nil {
				held.Same = m.Config.Digest == id
			}
		}
		return held, nil
	}
	if res.Descriptor == nil || res.Descriptor.Digest.String() != root.Digest.String() {
		return held, nil
	}
	held.Same = allAvailable(platformManifests(root, body), res.Manifests)
	return held, nil
}

// platformManifests are the image manifests of root: root itself, or the
// entries of an index but its attestations.
func platformManifests(root v1.Descriptor, body []byte) []v1.Hash {
	if root.MediaType.IsImage() {
		return []v1.Hash{root.Digest}
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	var out []v1.Hash
	for _, d := range idx.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			out = append(out, d.Digest)
		}
	}
	return out
}

// allAvailable reports every one of want among the engine's manifests with
// all of its content.
func allAvailable(want []v1.Hash, have []image.ManifestSummary) bool {
	if len(want) == 0 {
		return false
	}
	available := map[string]bool{}
	for _, m := range have {
		available[m.Descriptor.Digest.String()] = m.Available
	}
	for _, d := range want {
		if !available[d.String()] {
			return false
		}
	}
	return true
}
