package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/manifestcache"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/store"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// Source is an image in an engine opened as a SRC: a store.Archive of that
// one image, read through the engine's save endpoint on first use.
type Source struct {
	eng   *Engine
	loc   location.Location
	info  Info
	image name.Tag
	opts  SourceOptions

	once    sync.Once
	err     error
	dir     string
	archive store.Archive
	// diffIDs are the image's layers as the engine lists them; platform is
	// its platform, and label names that in progress.
	diffIDs  []v1.Hash
	platform v1.Platform
	label    string
	// Notify says when the save starts (it may take a while).
	notify func(format string, args ...any)
}

// SourceOptions tune a source.
type SourceOptions struct {
	// Platforms is --platform: what a containerd-store engine is asked to save.
	Platforms []v1.Platform
	// TempDir is where the save is unpacked ("" is $TMPDIR): it needs room for
	// the image's configs and its layers, compressed.
	TempDir string
	// Notify, when set, is told when the engine starts saving.
	Notify func(format string, args ...any)
	// Layers records what layers were compressed to in each registry, so a
	// run again sends none the registry has; nil is the user's cache
	// (manifestcache.OpenLayerRecord).
	Layers *manifestcache.LayerRecord
}

var _ store.Archive = (*Source)(nil)

// OpenSource opens the image loc names in eng. It checks at once that the
// engine answers and holds the image.
func OpenSource(ctx context.Context, eng *Engine, loc location.Location, opts SourceOptions) (*Source, error) {
	if loc.Image == "" {
		return nil, errdefs.New(errdefs.InvalidArgument, "%q names no image: write docker-daemon:NAME[:TAG] as a SRC, e.g. docker-daemon:myapp:1.0", loc.Text)
	}
	named, err := reference.ParseNormalizedNamed(loc.Image)
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "invalid image name in %q: %v", loc.Text, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, errdefs.New(errdefs.InvalidArgument, "%q names a digest: an engine saves images by name, so give NAME:TAG", loc.Text)
	}
	named = reference.TagNameOnly(named)
	tag, err := name.NewTag(named.String())
	if err != nil {
		return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "invalid image name in %q: %v", loc.Text, err)
	}
	info, err := eng.Probe(ctx)
	if err != nil {
		return nil, err
	}
	var inspectOpts []client.ImageInspectOption
	if info.platformParams() {
		inspectOpts = append(inspectOpts, client.ImageInspectWithManifests(true))
	}
	res, err := eng.client.ImageInspect(ctx, tag.Name(), inspectOpts...)
	if err != nil {
		if isNotFound(err) {
			return nil, errdefs.Wrap(err, errdefs.NotFound, "the Docker engine %s has no image %s: 'docker image ls' lists what it holds", eng, reference.FamiliarString(named))
		}
		return nil, eng.reachError(err)
	}
	s := &Source{eng: eng, loc: loc, info: info, image: tag, opts: opts, notify: opts.Notify,
		label:    platformLabel(res.Os, res.Architecture, res.Variant),
		platform: v1.Platform{OS: res.Os, Architecture: res.Architecture, Variant: res.Variant}}
	if s.opts.Layers == nil {
		s.opts.Layers = manifestcache.OpenLayerRecord("")
	}
	for _, l := range res.RootFS.Layers {
		if h, err := v1.NewHash(l); err == nil {
			s.diffIDs = append(s.diffIDs, h)
		}
	}
	if len(opts.Platforms) == 0 {
		s.opts.Platforms = availablePlatforms(res.Manifests)
		if len(s.opts.Platforms) > 0 && opts.Notify != nil {
			var have []string
			for _, p := range s.opts.Platforms {
				have = append(have, platforms.Format(p))
			}
			opts.Notify("note: the Docker engine %s holds only %s of %s (as `docker pull` fetches one platform): only that is copied",
				eng, strings.Join(have, ", "), reference.FamiliarString(named))
		}
	}
	return s, nil
}

// availablePlatforms is, for an image of a containerd-store engine that
// holds only some of its index's platforms (`docker pull` fetches one), the
// platforms it holds: what a save can give. It is nil when every platform is
// there, or none is known.
func availablePlatforms(ms []imagetypes.ManifestSummary) []v1.Platform {
	var have []v1.Platform
	missing := false
	for _, m := range ms {
		if m.Kind != imagetypes.ManifestKindImage || m.ImageData == nil {
			continue
		}
		if !m.Available {
			missing = true
			continue
		}
		p := m.ImageData.Platform
		have = append(have, v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion})
	}
	if !missing || len(have) == 0 {
		return nil
	}
	return have
}

func (s *Source) String() string { return fmt.Sprintf("%s (%s)", s.loc.Text, s.eng) }

// Images is the one image the location names.
func (s *Source) Images(ctx context.Context) ([]name.Reference, error) {
	return []name.Reference{s.image}, nil
}

// Repository is the store of the image's repository.
func (s *Source) Repository(repo name.Repository) store.Store {
	return &sourceRepo{s: s, repo: repo}
}

// Commit commits nothing: a source is only read.
func (s *Source) Commit(context.Context) error { return nil }

// Close removes what the save left on disk.
func (s *Source) Close() error {
	var err error
	if s.archive != nil {
		err = s.archive.Close()
	}
	if s.dir != "" {
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// ensure reads the image out of the engine, once.
func (s *Source) ensure(ctx context.Context) (store.Archive, error) {
	s.once.Do(func() { s.err = s.save(ctx) })
	return s.archive, s.err
}

// save streams GET /images/get into a work directory: the small files as
// they are, classic layers (NAME/layer.tar, uncompressed) gzip-compressed on
// the way, then reads the directory as the archive it is.
func (s *Source) save(ctx context.Context) error {
	if s.notify != nil {
		s.notify("reading %s from the Docker engine %s", reference.FamiliarString(mustNamed(s.image)), s.eng)
	}
	dir, err := os.MkdirTemp(s.opts.TempDir, "docker-migrate-save-")
	if err != nil {
		return errdefs.Wrap(err, errdefs.Unknown, "cannot make a work directory for the save of %s: %v (set TMPDIR to a directory with room)", s.image, err)
	}
	s.dir = dir
	rc, err := s.openSave(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := unpack(ctx, rc, dir, s.layerRead); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errdefs.Wrap(err, errdefs.Unknown, "cannot read the save of %s from the Docker engine %s: %v", s.image, s.eng, err)
	}
	a, err := archive.Open(ctx, location.Location{Transport: location.OCIDir, Path: dir, Text: s.loc.Text}, false,
		archive.Options{Platforms: s.opts.Platforms})
	if err != nil {
		return err
	}
	s.archive = a
	return nil
}

// openSave starts GET /images/get of the image (only the platforms asked
// for, where the engine takes a platform).
func (s *Source) openSave(ctx context.Context) (io.ReadCloser, error) {
	var opts []client.ImageSaveOption
	if s.info.platformParams() && len(s.opts.Platforms) > 0 {
		opts = append(opts, client.ImageSaveWithPlatforms(ociPlatforms(s.opts.Platforms)...))
	}
	rc, err := s.eng.client.ImageSave(ctx, []string{s.image.Name()}, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errdefs.Wrap(err, errdefs.Unknown, "the Docker engine %s could not save %s: %s", s.eng, s.image, firstLine(err.Error()))
	}
	return rc, nil
}

// layerRead says, in plain progress, that a layer came out of the engine:
// the save of a large image takes a while before the copy starts.
func (s *Source) layerRead(name string, size int64) {
	if s.notify != nil {
		id := path.Base(path.Dir(name))
		s.notify("%s: layer %s read from the engine (%s)", reference.FamiliarString(mustNamed(s.image)), id[:min(len(id), 12)], units.HumanSize(float64(size)))
	}
}

// unpack writes a save stream's regular files and symlinks under dir;
// layerDone is told of each classic layer (NAME/layer.tar) written.
func unpack(ctx context.Context, r io.Reader, dir string, layerDone func(name string, size int64)) error {
	tr := tar.NewReader(r)
	var links [][2]string // link, file it names
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return linkFiles(links)
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			// dockerd links a layer that two images share. No symlink is
			// made (a path through one could lead out of dir): the file it
			// names is linked in once the stream is read.
			link := path.Clean(path.Join(path.Dir(name), h.Linkname))
			if link == ".." || strings.HasPrefix(link, "../") || path.IsAbs(h.Linkname) {
				continue
			}
			links = append(links, [2]string{target, filepath.Join(dir, filepath.FromSlash(link))})
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			layer := path.Base(name) == "layer.tar"
			if err := writeFile(ctx, target, tr, layer); err != nil {
				return err
			}
			if layer && layerDone != nil {
				layerDone(name, h.Size)
			}
		}
	}
}

// linkFiles gives each symlink of the stream the file it names, as a hard
// link; one whose file is not a regular file of the stream is left out.
func linkFiles(links [][2]string) error {
	for _, l := range links {
		st, err := os.Lstat(l[1])
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(l[0]), 0o755); err != nil {
			return err
		}
		if err := os.Link(l[1], l[0]); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes one file of the stream; a classic layer is gzipped on the
// way (a registry takes it compressed, and the disk holds less).
func writeFile(ctx context.Context, target string, r io.Reader, compress bool) error {
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	var w io.Writer = f
	var zw *gzip.Writer
	if compress {
		zw, _ = gzip.NewWriterLevel(f, gzip.DefaultCompression)
		w = zw
	}
	_, err = io.Copy(w, store.ContextReader{Ctx: ctx, R: r})
	if zw != nil {
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func mustNamed(t name.Tag) reference.Named {
	n, err := reference.ParseNormalizedNamed(t.Name())
	if err != nil {
		n, _ = reference.WithName("invalid")
	}
	return n
}

// sourceRepo is one repository's view of a source: the saved archive's.
type sourceRepo struct {
	s    *Source
	repo name.Repository
}

func (r *sourceRepo) String() string { return r.s.loc.Text }

func (r *sourceRepo) store(ctx context.Context) (store.Store, error) {
	a, err := r.s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	return a.Repository(r.repo), nil
}

func (r *sourceRepo) HeadManifest(ctx context.Context, ref string) (v1.Descriptor, error) {
	st, err := r.store(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return st.HeadManifest(ctx, ref)
}

func (r *sourceRepo) GetManifest(ctx context.Context, ref string) ([]byte, v1.Descriptor, error) {
	st, err := r.store(ctx)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return st.GetManifest(ctx, ref)
}

func (r *sourceRepo) PutManifest(context.Context, string, types.MediaType, []byte) error {
	return errors.New("an engine SRC is only read")
}

func (r *sourceRepo) BlobExists(ctx context.Context, d v1.Hash) (bool, error) {
	st, err := r.store(ctx)
	if err != nil {
		return false, err
	}
	return st.BlobExists(ctx, d)
}

func (r *sourceRepo) GetBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	st, err := r.store(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetBlob(ctx, d)
}

func (r *sourceRepo) PutBlob(context.Context, v1.Hash, int64, io.Reader) error {
	return errors.New("an engine SRC is only read")
}
