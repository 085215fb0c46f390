// Package buildx is the strategy for users who have a BuildKit builder but no
// registry-to-registry copy that works: it rebuilds `FROM SRC@sha256:<index>`
// for the source's platforms with `docker buildx build`, has BuildKit push the
// result by digest, checks every platform's rootfs.diff_ids against the source
// and only then writes the destination tag. It is the seed articles'
//
//	echo "FROM SRC" | docker buildx build --platform … -t DST --push -
//
// pinned to one source index, without the attestations buildx adds by
// default, and with its failures explained.
//
// It runs buildx through the docker CLI that launched the plugin rather than
// driving BuildKit's Go client, so that every kind of buildx builder works as it
// does for `docker buildx build` (docker-container, kubernetes, remote, cloud),
// with buildx's own credential handling; a bare BuildKit address is reached
// through a temporary remote builder in a buildx configuration of its own.
package buildx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Config builds the strategy.
type Config struct {
	// Docker runs the docker CLI that launched the plugin.
	Docker Docker
	// Builder is the buildx builder to build with; empty means buildx's
	// current one (docker buildx use, BUILDX_BUILDER).
	Builder string
	// BuildKitAddr is the address of a BuildKit daemon (unix://, tcp://,
	// docker-container://…) to build with instead of a buildx builder.
	BuildKitAddr string
	// Provenance and SBOM are buildx's --provenance and --sbom values. Empty
	// means "false": a migration adds no manifests of its own unless asked.
	Provenance, SBOM string
}

// Strategy is the buildx strategy.
type Strategy struct {
	cfg Config
	// builder is what the lookup found; Describe and Execute use it.
	builder *builder
}

// New checks cfg and returns the strategy. It runs nothing.
func New(cfg Config) (*Strategy, error) {
	if cfg.Builder != "" && cfg.BuildKitAddr != "" {
		return nil, errdefs.New(errdefs.InvalidArgument, "--builder and --buildkit-addr both name the BuildKit to use: pass one of them")
	}
	if cfg.Provenance == "" {
		cfg.Provenance = "false"
	}
	if cfg.SBOM == "" {
		cfg.SBOM = "false"
	}
	return &Strategy{cfg: cfg}, nil
}

// Name is "buildx".
func (*Strategy) Name() string { return "buildx" }

// Available finds the builder and checks that it can be used: a docker CLI
// and buildx to run, a builder that exists, answers, and can push by digest
// (`docker buildx inspect`); for --buildkit-addr, something listening there.
// It writes nothing.
func (s *Strategy) Available(ctx context.Context) error {
	_, err := s.findBuilder(ctx)
	return err
}

func (s *Strategy) findBuilder(ctx context.Context) (*builder, error) {
	if s.builder != nil {
		return s.builder, nil
	}
	if s.cfg.Docker.Path == "" {
		return nil, errNoDocker()
	}
	var b *builder
	var err error
	if s.cfg.BuildKitAddr != "" {
		if err := checkAddr(ctx, s.cfg.BuildKitAddr); err != nil {
			return nil, err
		}
		b, err = s.cfg.Docker.addrBuilder(ctx, s.cfg.BuildKitAddr)
	} else {
		b, err = s.cfg.Docker.inspect(ctx, s.cfg.Builder)
	}
	if err != nil {
		return nil, err
	}
	s.builder = b
	return b, nil
}

// job is one rebuild.
type job struct {
	// from is SRC@sha256:<the digest the plan resolved>.
	from       string
	dockerfile string
	platforms  []string
	// output is buildx's --output: push to DST's repository by digest only.
	output string
}

func (s *Strategy) newJob(p *plan.Plan) (*job, error) {
	j := &job{from: reference(p.Source.Context()) + "@" + p.SourceDigest.String()}
	j.dockerfile = "FROM " + j.from + "\n"
	for _, pd := range p.Platforms {
		if platforms.IsUnknown(pd.Source.Platform) || strings.HasPrefix(pd.Platform, "unknown/") {
			return nil, errdefs.New(errdefs.InvalidArgument,
				"the buildx strategy cannot rebuild %s's image for platform %s: BuildKit builds for a real os/arch; pick the others with --platform", p.Source.Name(), pd.Platform)
		}
		j.platforms = append(j.platforms, pd.Platform)
	}
	if len(j.platforms) == 0 {
		return nil, errdefs.New(errdefs.InvalidArgument, "the source %s lists no platforms for the buildx strategy to build", p.Source.Name())
	}
	// Keep the source's family of media types: OCI stays OCI, Docker v2 stays
	// Docker v2 (BuildKit's default). Attestations need OCI; BuildKit then
	// switches by itself.
	oci := p.Root.MediaType == types.OCIImageIndex || p.Root.MediaType == types.OCIManifestSchema1
	j.output = fmt.Sprintf("type=image,name=%s,push=true,push-by-digest=true,oci-mediatypes=%t", reference(p.Destination.Context()), oci)
	return j, nil
}

// reference is how BuildKit is told about a repository: Docker Hub as
// docker.io, like the docker CLI writes it.
func reference(r name.Repository) string {
	return displayRegistry(r.RegistryStr()) + "/" + r.RepositoryStr()
}

// buildArgs is the `docker buildx build` command line, Dockerfile on stdin.
func (s *Strategy) buildArgs(b *builder, j *job, metadataFile string) []string {
	args := []string{"buildx", "build"}
	if b.Name != "" {
		// Pin the builder inspected, even if the current one changes meanwhile.
		args = append(args, "--builder", b.Name)
	}
	args = append(args,
		"--progress", "rawjson",
		"--platform", strings.Join(j.platforms, ","),
		"--provenance="+s.cfg.Provenance,
		"--sbom="+s.cfg.SBOM,
		"--output", j.output,
		"--metadata-file", metadataFile,
		"-",
	)
	return args
}

// Supports is nil: a platform BuildKit cannot build for is refused when the
// build is made (newJob).
func (*Strategy) Supports(*plan.Plan) error { return nil }

// DryRun says that the digests are BuildKit's to make, and prints the
// Dockerfile, the platforms and the builder, which it looks up only then.
func (s *Strategy) DryRun(ctx context.Context, in strategy.Input) (strategy.Output, strategy.Describer, error) {
	return strategy.NewManifests(s.Name()), func(w io.Writer) error { return s.describe(ctx, w, in) }, nil
}

// describe prints the Dockerfile, the platforms and the builder.
func (s *Strategy) describe(ctx context.Context, w io.Writer, in strategy.Input) error {
	b, err := s.findBuilder(ctx)
	if err != nil {
		return err
	}
	j, err := s.newJob(in.Plan)
	if err != nil {
		return err
	}
	p := in.Plan
	fmt.Fprintf(w, "Plan: rebuild %s as %s with BuildKit (strategy buildx)\n", p.Source.Name(), p.Destination.Name())
	fmt.Fprintf(w, "Source digest: %s\n", p.SourceDigest)
	fmt.Fprintf(w, "Builder:       %s\n", b.Describe())
	fmt.Fprintf(w, "Platforms:     %s\n", strings.Join(j.platforms, ", "))
	fmt.Fprintf(w, "Attestations:  %s\n", s.attestations())
	fmt.Fprintf(w, "\nDockerfile:\n    %s\n", strings.TrimSpace(j.dockerfile))
	fmt.Fprintf(w, "Command:\n    docker %s < Dockerfile\n\n", strings.Join(s.buildArgs(b, j, "METADATA.json"), " "))
	_, err = fmt.Fprintf(w, "The destination digest will differ: BuildKit writes new configs, manifests and index around the source's layers. "+
		"After the push, each platform's rootfs.diff_ids are checked against the source, and only then is %s written. Nothing was written.\n", p.Destination.Name())
	return err
}

func (s *Strategy) attestations() string {
	if s.cfg.Provenance == "false" && s.cfg.SBOM == "false" {
		return "none (--provenance=false --sbom=false)"
	}
	return fmt.Sprintf("--provenance=%s --sbom=%s", s.cfg.Provenance, s.cfg.SBOM)
}

// Execute builds and pushes, checks, and writes the tag.
func (s *Strategy) Execute(ctx context.Context, in strategy.Input) (strategy.Output, error) {
	var out strategy.Output
	if in.Debugf == nil {
		in.Debugf = func(string, ...any) {}
	}
	p := in.Plan
	digest, err := s.buildAndPush(ctx, in)
	if err != nil {
		return out, err
	}
	root, err := readPushed(ctx, in, digest)
	if err != nil {
		return out, err
	}
	if err := s.check(ctx, in, root.pushed, &out); err != nil {
		return out, err
	}
	ok := true
	out.ContentVerified = &ok

	// The tag, last: BuildKit pushed by digest only.
	kind := "index"
	if !root.mediaType.IsIndex() {
		kind = "manifest"
	}
	t := in.Progress.Task(kind, kind+" "+root.digest.Hex[:12]+" as "+p.Destination.Identifier(), int64(len(root.body)))
	if err := in.Dst.PutManifest(ctx, p.Destination.Identifier(), root.mediaType, root.body); err != nil {
		return out, fmt.Errorf("write %s: %w", p.Destination.Name(), err)
	}
	t.Done("pushed")

	out.DestinationDigest = root.digest
	out.MediaType = root.mediaType
	out.Platforms = root.pushed.platforms
	out.DigestChanged = root.digest != p.SourceDigest
	out.DigestNote = "the buildx strategy rebuilds the image with BuildKit, which writes new configs, manifests and index around the source's layers"
	if s.cfg.Provenance != "false" || s.cfg.SBOM != "false" {
		out.DigestNote += fmt.Sprintf(", with attestations (%s)", s.attestations())
	}
	return out, nil
}

// buildAndPush rebuilds the source with the builder, which pushes the
// result to the destination by digest only, and returns that digest.
func (s *Strategy) buildAndPush(ctx context.Context, in strategy.Input) (v1.Hash, error) {
	b, err := s.findBuilder(ctx)
	if err != nil {
		return v1.Hash{}, err
	}
	j, err := s.newJob(in.Plan)
	if err != nil {
		return v1.Hash{}, err
	}
	dir, err := os.MkdirTemp("", "docker-migrate-buildx-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)

	var env []string
	if b.Addr != "" {
		if env, err = s.cfg.Docker.tempBuilder(ctx, dir, b.Addr); err != nil {
			return v1.Hash{}, err
		}
	}
	metadataFile := filepath.Join(dir, "metadata.json")
	if err := s.build(ctx, in, b, j, env, metadataFile); err != nil {
		return v1.Hash{}, err
	}
	digest, err := readMetadata(metadataFile)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("read what buildx pushed: %w", err)
	}
	return digest, nil
}

// pushedRoot is what the destination tag gets: the root BuildKit pushed,
// made to carry the source's shape (an index for an index) and platforms.
type pushedRoot struct {
	body      []byte
	digest    v1.Hash
	mediaType types.MediaType
	pushed    *pushedImage
}

// readPushed reads the root BuildKit pushed as digest, pairs its platforms
// with the source's, and makes of it what the destination tag gets.
func readPushed(ctx context.Context, in strategy.Input, digest v1.Hash) (*pushedRoot, error) {
	p := in.Plan
	body, desc, err := in.Dst.GetManifest(ctx, digest.String())
	if err != nil {
		return nil, fmt.Errorf("read the index BuildKit pushed (%s): %w", digest, err)
	}
	if desc.Digest != digest {
		return nil, errdefs.New(errdefs.DigestMismatch, "digest mismatch: %s returned %s for the index BuildKit pushed as %s; %s was not changed", p.Destination.Context().RegistryStr(), desc.Digest, digest, p.Destination.Name())
	}
	mt, err := mediaType(body, desc.MediaType)
	if err != nil {
		return nil, err
	}
	pushed, err := pairPlatforms(p, body, mt, digest)
	if err != nil {
		return nil, err
	}
	if !mt.IsIndex() && p.Root.MediaType.IsIndex() {
		// BuildKit pushes one platform as a bare manifest; the source was an
		// index, and so is what DST gets.
		if body, digest, mt, err = wrapInIndex(pushed, body, mt); err != nil {
			return nil, err
		}
	} else if mt.IsIndex() {
		// BuildKit normalises platforms (linux/arm64/v8 becomes linux/arm64):
		// the index DST gets carries the source's fields for every child.
		if body, digest, err = restorePlatforms(body, pushed.platforms); err != nil {
			return nil, err
		}
	}
	return &pushedRoot{body: body, digest: digest, mediaType: mt, pushed: pushed}, nil
}

// check checks every platform BuildKit pushed (each blob there, the content
// the source's) and counts what was pushed into out, all at once.
func (s *Strategy) check(ctx context.Context, in strategy.Input, pushed *pushedImage, out *strategy.Output) error {
	differs := make([]bool, len(pushed.platforms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(in.Jobs, 1) + 1)
	g.Go(func() error { return s.count(gctx, in, pushed, out) })
	for i, pd := range pushed.platforms {
		g.Go(func() error {
			if err := strategy.CheckPushed(gctx, in.Dst, pd.DestinationDigest, pd.Platform); err != nil {
				return err
			}
			d, err := strategy.CompareDiffIDs(gctx, in.Src, in.Dst, []plan.PlatformDigest{pd})
			differs[i] = len(d) > 0
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var differ []string
	for i, d := range differs {
		if d {
			differ = append(differ, pushed.platforms[i].Platform)
		}
	}
	if len(differ) > 0 {
		return errdefs.New(errdefs.DigestMismatch,
			"BuildKit pushed different content for %s (rootfs.diff_ids differ from the source); %s was not changed", strings.Join(differ, ", "), in.Plan.Destination.Name())
	}
	return nil
}

// build runs `docker buildx build` and shows its progress.
func (s *Strategy) build(ctx context.Context, in strategy.Input, b *builder, j *job, env []string, metadataFile string) error {
	args := s.buildArgs(b, j, metadataFile)
	in.Debugf("running docker %s with the Dockerfile %q on stdin", strings.Join(args, " "), j.dockerfile)
	// The metadata file needs only the digest: not the build's provenance,
	// which buildx would otherwise fetch from BuildKit after the push.
	cmd := s.cfg.Docker.command(ctx, append(slices.Clone(env), "BUILDX_METADATA_PROVENANCE=disabled"), args...)
	cmd.Stdin = strings.NewReader(j.dockerfile)
	// buildx writes nothing on stdout with rawjson progress, but stdout is the
	// plugin's result line: keep anything out of it.
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return errdefs.Wrap(err, errdefs.Unavailable, "%s: cannot run %s: %v", needsBuilder, s.cfg.Docker.Path, err)
	}
	display := newBuildDisplay(in.Progress, in.Debugf, j.platforms)
	readErr := display.consume(stderr)
	waitErr := cmd.Wait()
	if stdout.Len() > 0 {
		in.Debugf("buildx stdout: %s", strings.TrimSpace(stdout.String()))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if waitErr != nil {
		return buildFailure(display.errorText(), b,
			displayRegistry(in.Plan.Source.Context().RegistryStr()), displayRegistry(in.Plan.Destination.Context().RegistryStr()))
	}
	if readErr != nil {
		return fmt.Errorf("read buildx's progress: %w", readErr)
	}
	display.finish()
	return nil
}

// readMetadata reads the digest buildx's --metadata-file reports.
func readMetadata(path string) (v1.Hash, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return v1.Hash{}, err
	}
	var md struct {
		Digest string `json:"containerimage.digest"`
	}
	if err := json.Unmarshal(data, &md); err != nil {
		return v1.Hash{}, fmt.Errorf("%s: %w", path, err)
	}
	if md.Digest == "" {
		return v1.Hash{}, errors.New("buildx's metadata has no containerimage.digest: nothing was pushed")
	}
	return v1.NewHash(md.Digest)
}

// mediaType reads the manifest's own mediaType, the registry's Content-Type
// being the fallback.
func mediaType(body []byte, header types.MediaType) (types.MediaType, error) {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", fmt.Errorf("the manifest BuildKit pushed is not JSON: %w", err)
	}
	if probe.MediaType != "" {
		return probe.MediaType, nil
	}
	return header, nil
}

// pushedImage is what BuildKit pushed, as the destination holds it.
type pushedImage struct {
	platforms []plan.PlatformDigest
	// manifests are every manifest under the root (images and attestations).
	manifests []v1.Descriptor
}

// pairPlatforms matches each planned platform with the image BuildKit pushed
// for it, and checks that there is nothing else but attestations.
func pairPlatforms(p *plan.Plan, body []byte, mt types.MediaType, digest v1.Hash) (*pushedImage, error) {
	pushed := &pushedImage{}
	if !mt.IsIndex() {
		// One platform makes a single manifest, like the seed command's.
		if len(p.Platforms) != 1 {
			return nil, errdefs.New(errdefs.Rejected, "BuildKit pushed a single manifest (%s) for %d platforms; %s was not changed", digest, len(p.Platforms), p.Destination.Name())
		}
		pd := p.Platforms[0]
		pd.DestinationDigest = digest
		pushed.platforms = []plan.PlatformDigest{pd}
		return pushed, nil
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("the index BuildKit pushed (%s): %w", digest, err)
	}
	images := map[v1.Hash]bool{}
	for _, d := range idx.Manifests {
		pushed.manifests = append(pushed.manifests, d)
		if d.Annotations[annotationReferenceType] != attestationManifest && d.Platform != nil {
			images[d.Digest] = false
		}
	}
	for _, pd := range p.Platforms {
		want, err := platformOf(pd)
		if err != nil {
			return nil, err
		}
		found := false
		for _, d := range idx.Manifests {
			if seen, isImage := images[d.Digest]; isImage && !seen && platforms.Match(want, *d.Platform) {
				images[d.Digest] = true
				pd.DestinationDigest = d.Digest
				pushed.platforms = append(pushed.platforms, pd)
				found = true
				break
			}
		}
		if !found {
			return nil, errdefs.New(errdefs.PlatformMissing, "BuildKit pushed no image for %s in %s; %s was not changed", pd.Platform, digest, p.Destination.Name())
		}
	}
	for d, seen := range images {
		if !seen {
			return nil, errdefs.New(errdefs.Rejected, "BuildKit pushed an image (%s) for a platform that was not asked for; %s was not changed", d, p.Destination.Name())
		}
	}
	return pushed, nil
}

// restorePlatforms gives every image of BuildKit's index the platform the
// source's index gives it (variant, os.version and features included), keeping
// everything else in the index as BuildKit wrote it. Unchanged, the bytes (and
// so the digest) are BuildKit's.
func restorePlatforms(body []byte, pushed []plan.PlatformDigest) ([]byte, v1.Hash, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, v1.Hash{}, fmt.Errorf("the index BuildKit pushed: %w", err)
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil {
		return nil, v1.Hash{}, fmt.Errorf("the index BuildKit pushed: %w", err)
	}
	changed := false
	for _, e := range entries {
		var d v1.Hash
		if err := json.Unmarshal(e["digest"], &d); err != nil {
			continue
		}
		for _, pd := range pushed {
			if pd.DestinationDigest != d || pd.Source.Platform == nil {
				continue
			}
			want, err := json.Marshal(pd.Source.Platform)
			if err != nil {
				return nil, v1.Hash{}, err
			}
			if !bytes.Equal(e["platform"], want) {
				e["platform"] = want
				changed = true
			}
		}
	}
	digest, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil || !changed {
		return body, digest, err
	}
	if doc["manifests"], err = json.Marshal(entries); err != nil {
		return nil, v1.Hash{}, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	digest, _, err = v1.SHA256(bytes.NewReader(out))
	return out, digest, err
}

// wrapInIndex makes a one-platform index of the manifest BuildKit pushed,
// with the source's platform for it, in the manifest's family of media types.
func wrapInIndex(pushed *pushedImage, manifest []byte, mt types.MediaType) ([]byte, v1.Hash, types.MediaType, error) {
	pd := pushed.platforms[0]
	plat, err := platformOf(pd)
	if err != nil {
		return nil, v1.Hash{}, "", err
	}
	child := v1.Descriptor{MediaType: mt, Size: int64(len(manifest)), Digest: pd.DestinationDigest, Platform: &plat}
	indexType := types.OCIImageIndex
	if mt == types.DockerManifestSchema2 {
		indexType = types.DockerManifestList
	}
	body, err := json.Marshal(struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Manifests     []v1.Descriptor `json:"manifests"`
	}{2, indexType, []v1.Descriptor{child}})
	if err != nil {
		return nil, v1.Hash{}, "", err
	}
	digest, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return nil, v1.Hash{}, "", err
	}
	pushed.manifests = []v1.Descriptor{child}
	return body, digest, indexType, nil
}

const (
	annotationReferenceType = "vnd.docker.reference.type"
	attestationManifest     = "attestation-manifest"
)

func platformOf(pd plan.PlatformDigest) (v1.Platform, error) {
	if pd.Source.Platform != nil {
		return *pd.Source.Platform, nil
	}
	return platforms.Parse(pd.Platform)
}

// count fills the manifest and blob counts from what the destination now
// holds. Layers the plan found at the destination before the build count as
// skipped; the rest (new configs, the layers BuildKit pushed) as copied.
func (s *Strategy) count(ctx context.Context, in strategy.Input, pushed *pushedImage, out *strategy.Output) error {
	before := map[v1.Hash]bool{}
	for _, b := range in.Plan.Blobs {
		if b.Action == plan.Skip {
			before[b.Digest] = true
		}
	}
	digests := make([]v1.Hash, 0, len(pushed.manifests))
	for _, d := range pushed.manifests {
		digests = append(digests, d.Digest)
	}
	if len(digests) == 0 && len(pushed.platforms) == 1 {
		digests = append(digests, pushed.platforms[0].DestinationDigest)
	}
	blobLists := make([][]v1.Descriptor, len(digests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(in.Jobs, 1))
	for i, d := range digests {
		g.Go(func() error {
			body, _, err := in.Dst.GetManifest(gctx, d.String())
			if err != nil {
				return fmt.Errorf("read manifest %s that BuildKit pushed: %w", d, err)
			}
			m, err := v1.ParseManifest(bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("manifest %s that BuildKit pushed: %w", d, err)
			}
			blobLists[i] = append([]v1.Descriptor{m.Config}, m.Layers...)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, list := range blobLists {
		for _, b := range list {
			if seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			if before[b.Digest] {
				out.Blobs.Skipped++
				out.Bytes.Skipped += b.Size
			} else {
				out.Blobs.Copied++
				out.Bytes.Copied += b.Size
			}
		}
	}
	out.Manifests = strategy.ManifestCounts{Copied: len(digests)}
	if len(pushed.manifests) > 0 {
		out.Manifests.Copied++ // the index
	}
	return nil
}
