// Package manifest is the strategy for registries that choke on a
// registry-to-registry copy: for each platform it pulls the source's child by
// digest through the Docker engine, tags it DST:TAG-<arch><variant> and pushes it
// through the engine, then writes a manifest list of what the engine pushed to
// the destination tag, through the registry API, last. This is the shell loop of
// docker pull --platform / tag / push + docker manifest create, done right.
package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/plan"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/strategy"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Engine is the part of the engine API the strategy uses; the docker CLI's
// client (client.APIClient) satisfies it.
type Engine interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
	ImagePush(ctx context.Context, image string, options client.ImagePushOptions) (client.ImagePushResponse, error)
	ImageTag(ctx context.Context, options client.ImageTagOptions) (client.ImageTagResult, error)
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
}

// DefaultTagSuffix gives the seed articles' per-platform tags:
// 1.25-alpine-amd64, 1.25-alpine-arm64v8, 1.25-alpine-armv7.
const DefaultTagSuffix = "-{{.Arch}}{{.Variant}}"

// Config builds the strategy.
type Config struct {
	Engine Engine
	// EngineDesc names the engine in messages: "unix:///var/run/docker.sock (context default)".
	EngineDesc string
	// RegistryAuth returns the X-Registry-Auth value for the registry of ref.
	RegistryAuth func(ref string) (string, error)
	// TagSuffix is a text/template over .OS, .Arch and .Variant.
	TagSuffix string
}

// Strategy is the manifest strategy.
type Strategy struct {
	cfg    Config
	suffix *template.Template
}

// New checks cfg and returns the strategy.
func New(cfg Config) (*Strategy, error) {
	if cfg.TagSuffix == "" {
		cfg.TagSuffix = DefaultTagSuffix
	}
	t, err := template.New("suffix").Option("missingkey=error").Parse(cfg.TagSuffix)
	if err != nil {
		return nil, fmt.Errorf("invalid --tag-suffix %q: %v", cfg.TagSuffix, err)
	}
	return &Strategy{cfg: cfg, suffix: t}, nil
}

// Name is "manifest".
func (*Strategy) Name() string { return "manifest" }

// Available pings the engine.
func (s *Strategy) Available(ctx context.Context) error {
	if s.cfg.Engine == nil {
		return errdefs.New(errdefs.Unavailable, "the manifest strategy needs a Docker engine: none is configured")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Engine.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return errdefs.Wrap(err, errdefs.Unavailable, "the manifest strategy needs a Docker engine: cannot connect to %s; start dockerd or pick another context with 'docker context use'", s.cfg.EngineDesc)
	}
	return nil
}

// step is one platform's way through the engine.
type step struct {
	pd        plan.PlatformDigest
	platform  v1.Platform
	pullRef   string // SRC_REPO@sha256:child
	pushRef   string // DST_REPO:TAG-suffix
	pushed    v1.Hash
	pulledNew bool // the engine did not have pullRef before
	pullDone  bool // the engine's pull stream ended without error
	// pullStarted: the engine accepted the pull; if it did not end, the engine
	// may still be at it.
	pullStarted bool
	// tagBefore is the image ID pushRef pointed at before the run, if any.
	tagBefore string
	tagged    bool
}

func (s *Strategy) steps(in strategy.Input) ([]*step, error) {
	p := in.Plan
	tag := p.Destination.Identifier()
	var out []*step
	for _, pd := range p.Platforms {
		plat := v1.Platform{}
		if pd.Source.Platform != nil {
			plat = *pd.Source.Platform
		}
		var b strings.Builder
		if err := s.suffix.Execute(&b, map[string]string{"OS": plat.OS, "Arch": plat.Architecture, "Variant": plat.Variant}); err != nil {
			return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "invalid --tag-suffix %q: %v", s.cfg.TagSuffix, err)
		}
		t := tag + b.String()
		if !validTag.MatchString(t) {
			return nil, errdefs.New(errdefs.InvalidArgument, "invalid --tag-suffix %q: it makes the tag %q for %s, which is not a valid tag", s.cfg.TagSuffix, t, pd.Platform)
		}
		for _, prev := range out {
			if prev.pushRef == p.Destination.Context().Name()+":"+t {
				return nil, errdefs.New(errdefs.InvalidArgument, "--tag-suffix %q gives %s and %s the same tag %q; add {{.OS}} or {{.Variant}} to it", s.cfg.TagSuffix, prev.pd.Platform, pd.Platform, t)
			}
		}
		out = append(out, &step{
			pd:       pd,
			platform: plat,
			pullRef:  p.Source.Context().Name() + "@" + pd.SourceDigest.String(),
			pushRef:  p.Destination.Context().Name() + ":" + t,
		})
	}
	if len(out) == 0 {
		return nil, errdefs.New(errdefs.InvalidArgument, "the source %s lists no platforms for the manifest strategy to pull", p.Source.Name())
	}
	return out, nil
}

var validTag = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

// Supports is nil: what the engine cannot pull or push, it says when asked.
func (*Strategy) Supports(*plan.Plan) error { return nil }

// DryRun says that the digests are the engine's to make, and lists the
// pulls, tags and pushes.
func (s *Strategy) DryRun(_ context.Context, in strategy.Input) (strategy.Output, strategy.Describer, error) {
	return strategy.NewManifests(s.Name()), func(w io.Writer) error { return s.describe(w, in) }, nil
}

// describe lists the pulls, tags and pushes.
func (s *Strategy) describe(w io.Writer, in strategy.Input) error {
	steps, err := s.steps(in)
	if err != nil {
		return err
	}
	p := in.Plan
	fmt.Fprintf(w, "Plan: copy %s to %s (strategy manifest, through the Docker engine at %s)\n", p.Source.Name(), p.Destination.Name(), s.cfg.EngineDesc)
	fmt.Fprintf(w, "Source digest: %s\n", p.SourceDigest)
	fmt.Fprintf(w, "The destination digest will differ: the engine pushes Docker v2 manifests and recompresses layers; the content (rootfs.diff_ids) is checked against the source.\n\n")
	for _, st := range steps {
		fmt.Fprintf(w, "%s:\n", st.pd.Platform)
		fmt.Fprintf(w, "  docker pull --platform %s %s\n", st.pd.Platform, st.pullRef)
		fmt.Fprintf(w, "  docker tag %s %s\n", st.pullRef, st.pushRef)
		fmt.Fprintf(w, "  docker push %s\n", st.pushRef)
	}
	_, err = fmt.Fprintf(w, "\nThen: a manifest list of the %d pushed images is written to %s through the registry API, and the local tags and images this run pulled are removed. Nothing was written.\n", len(steps), p.Destination.Name())
	return err
}

// Execute runs the pulls and pushes, checks the content, and writes the list.
func (s *Strategy) Execute(ctx context.Context, in strategy.Input) (out strategy.Output, err error) {
	steps, err := s.steps(in)
	if err != nil {
		return out, err
	}
	p := in.Plan
	srcAuth, err := s.cfg.RegistryAuth(p.Source.Name())
	if err != nil {
		return out, fmt.Errorf("read credentials for %s: %w", p.Source.Context().RegistryStr(), err)
	}
	dstAuth, err := s.cfg.RegistryAuth(p.Destination.Name())
	if err != nil {
		return out, fmt.Errorf("read credentials for %s: %w", p.Destination.Context().RegistryStr(), err)
	}
	// Leave the engine as it was found, whatever happens below.
	defer s.cleanup(steps, in)

	var counts counts
	if err := s.platforms(ctx, in, steps, srcAuth, dstAuth, &counts); err != nil {
		return out, err
	}
	entries, mt, err := listEntries(ctx, in, steps)
	if err != nil {
		return out, err
	}
	for _, st := range steps {
		out.Platforms = append(out.Platforms, st.pd)
	}
	if err := checkContent(ctx, in, out.Platforms); err != nil {
		return out, err
	}
	ok := true
	out.ContentVerified = &ok
	digest, err := writeList(ctx, in, mt, entries)
	if err != nil {
		return out, err
	}

	out.DestinationDigest = digest
	out.MediaType = mt
	out.DigestChanged = digest != p.SourceDigest
	out.DigestNote = "the manifest strategy pushes each platform through the Docker engine, which writes new manifests (Docker v2) and may recompress layers; attestation manifests are not carried"
	out.Manifests = strategy.ManifestCounts{Copied: len(steps) + 1}
	out.Blobs = strategy.Counts{Copied: counts.blobs[0], Mounted: counts.blobs[1], Skipped: counts.blobs[2]}
	out.Bytes = strategy.Counts{Copied: counts.bytes[0], Mounted: counts.bytes[1], Skipped: counts.bytes[2]}
	return out, nil
}

// platforms pulls, tags and pushes every platform through the engine, Jobs
// at a time. A failure stops the platforms that have not started, but lets
// the engine finish what it is doing for the others: an engine call cut off
// mid-pull may still register the image after we have cleaned up.
func (s *Strategy) platforms(ctx context.Context, in strategy.Input, steps []*step, srcAuth, dstAuth string, c *counts) error {
	var g errgroup.Group
	g.SetLimit(max(in.Jobs, 1))
	var failed atomic.Bool
	for _, st := range steps {
		g.Go(func() error {
			if failed.Load() {
				return nil
			}
			err := s.platform(ctx, in, st, srcAuth, dstAuth, c, &failed)
			if err != nil {
				failed.Store(true)
			}
			return err
		})
	}
	return g.Wait()
}

// listEntries are the list's entries: what the engine pushed, with the
// source's platform fields. The list is a Docker manifest list when every
// entry is a Docker v2 manifest, else an OCI index. Each step's platform
// gets its destination digest.
func listEntries(ctx context.Context, in strategy.Input, steps []*step) ([]v1.Descriptor, types.MediaType, error) {
	var entries []v1.Descriptor
	mt := types.DockerManifestList
	for _, st := range steps {
		// A GET, not a HEAD: the list needs the size, and some registries
		// leave Content-Length off a HEAD.
		_, d, err := in.Dst.GetManifest(ctx, st.pushed.String())
		if err != nil {
			return nil, "", fmt.Errorf("check the image pushed for %s: %w", st.pd.Platform, err)
		}
		if d.MediaType != types.DockerManifestSchema2 {
			mt = types.OCIImageIndex
		}
		plat := st.platform
		entries = append(entries, v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: st.pushed, Platform: &plat})
		st.pd.DestinationDigest = st.pushed
	}
	return entries, mt, nil
}

// checkContent checks that every platform the engine pushed is whole at the
// destination and has the source's content (rootfs.diff_ids).
func checkContent(ctx context.Context, in strategy.Input, pushed []plan.PlatformDigest) error {
	for _, pd := range pushed {
		if err := strategy.CheckPushed(ctx, in.Dst, pd.DestinationDigest, pd.Platform); err != nil {
			return err
		}
	}
	differ, err := strategy.CompareDiffIDs(ctx, in.Src, in.Dst, pushed)
	if err != nil {
		return err
	}
	if len(differ) > 0 {
		return errdefs.New(errdefs.DigestMismatch,
			"the engine pushed different content for %s (rootfs.diff_ids differ from the source); %s was not changed", strings.Join(differ, ", "), in.Plan.Destination.Name())
	}
	return nil
}

// writeList writes the manifest list of entries to the destination tag,
// through the registry API, and returns its digest.
func writeList(ctx context.Context, in strategy.Input, mt types.MediaType, entries []v1.Descriptor) (v1.Hash, error) {
	p := in.Plan
	body, err := json.Marshal(struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Manifests     []v1.Descriptor `json:"manifests"`
	}{2, mt, entries})
	if err != nil {
		return v1.Hash{}, err
	}
	digest, _, _ := v1.SHA256(bytes.NewReader(body))
	t := in.Progress.Task(labelList, "manifest list "+digest.Hex[:12]+" as "+p.Destination.Identifier(), int64(len(body)))
	if err := in.Dst.PutManifest(ctx, p.Destination.Identifier(), mt, body); err != nil {
		return v1.Hash{}, fmt.Errorf("write %s: %w", p.Destination.Name(), err)
	}
	t.Done("pushed")
	return digest, nil
}

const labelList = "manifest list"

// counts adds up what the engine's push reported, per layer: copied, mounted, skipped.
type counts struct {
	mu    sync.Mutex
	blobs [3]int64
	bytes [3]int64
}

func (c *counts) add(kind int, size int64) {
	c.mu.Lock()
	c.blobs[kind]++
	c.bytes[kind] += size
	c.mu.Unlock()
}

// platform pulls, tags and pushes one platform.
func (s *Strategy) platform(ctx context.Context, in strategy.Input, st *step, srcAuth, dstAuth string, c *counts, failed *atomic.Bool) error {
	e := s.cfg.Engine
	srcHost := in.Plan.Source.Context().RegistryStr()
	dstHost := in.Plan.Destination.Context().RegistryStr()
	// What the engine has before the run decides what the cleanup removes;
	// only "no such image" means it did not have it.
	switch _, err := e.ImageInspect(ctx, st.pullRef); {
	case err == nil:
	case cerrdefs.IsNotFound(err):
		st.pulledNew = true
	default:
		return s.engineError(ctx, err, "", srcHost, "inspect", st)
	}
	switch before, err := e.ImageInspect(ctx, st.pushRef); {
	case err == nil:
		st.tagBefore = before.ID
	case cerrdefs.IsNotFound(err):
	default:
		return s.engineError(ctx, err, "", dstHost, "inspect", st)
	}

	ociPlat := ocispec.Platform{OS: st.platform.OS, Architecture: st.platform.Architecture, Variant: st.platform.Variant}
	pull, err := e.ImagePull(ctx, st.pullRef, client.ImagePullOptions{RegistryAuth: srcAuth, Platforms: []ocispec.Platform{ociPlat}})
	if err != nil {
		return s.engineError(ctx, err, "", srcHost, "pull", st)
	}
	st.pullStarted = true
	if _, err := follow(ctx, pull, in.Progress, st.pd.Platform, "pull", nil); err != nil {
		return s.engineError(ctx, err, "", srcHost, "pull", st)
	}
	st.pullDone = true

	if failed.Load() {
		return nil // another platform failed: pull done, nothing more to start
	}
	if _, err := e.ImageTag(ctx, client.ImageTagOptions{Source: st.pullRef, Target: st.pushRef}); err != nil {
		return s.engineError(ctx, err, "", dstHost, "tag", st)
	}
	st.tagged = true

	push, err := e.ImagePush(ctx, st.pushRef, client.ImagePushOptions{RegistryAuth: dstAuth})
	if err != nil {
		return s.engineError(ctx, err, "", dstHost, "push", st)
	}
	aux, err := follow(ctx, push, in.Progress, st.pd.Platform, "push", c)
	if err != nil {
		return s.engineError(ctx, err, "", dstHost, "push", st)
	}
	for _, raw := range aux {
		var r struct {
			Digest string `json:"Digest"`
		}
		if json.Unmarshal(raw, &r) == nil && r.Digest != "" {
			if st.pushed, err = v1.NewHash(r.Digest); err != nil {
				return fmt.Errorf("the engine reported a bad digest %q for %s: %w", r.Digest, st.pushRef, err)
			}
		}
	}
	if st.pushed == (v1.Hash{}) {
		return errdefs.New(errdefs.Unknown, "the engine pushed %s but reported no digest for it; run again with -D for the engine's messages", st.pushRef)
	}
	in.Debugf("%s: pushed %s as %s", st.pd.Platform, st.pushRef, st.pushed)
	return nil
}

// cleanup removes what this run added to the engine: the per-platform tags and
// the images it pulled. What was there before stays.
func (s *Strategy) cleanup(steps []*step, in strategy.Input) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := s.cfg.Engine
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, st := range steps {
		if st.tagged {
			if st.tagBefore != "" {
				// The tag existed: point it back where it was.
				if _, err := e.ImageTag(ctx, client.ImageTagOptions{Source: st.tagBefore, Target: st.pushRef}); err != nil {
					in.Debugf("restore tag %s: %v", st.pushRef, err)
				}
				// The push added DST_REPO@digest; with the tag gone elsewhere
				// that reference is all that would be left of this run.
				if st.pushed != (v1.Hash{}) {
					ref := in.Plan.Destination.Context().Name() + "@" + st.pushed.String()
					if _, err := e.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
						in.Debugf("remove %s: %v", ref, err)
					}
				}
			} else if _, err := e.ImageRemove(ctx, st.pushRef, client.ImageRemoveOptions{}); err != nil {
				in.Debugf("remove tag %s: %v", st.pushRef, err)
			}
		}
		if st.pulledNew {
			// Side by side: each may wait a moment for an interrupted pull.
			wg.Go(func() { s.removePulled(ctx, st, in) })
		}
	}
}

// removePulled removes an image the run pulled. A pull cut off by an
// interrupt may still complete inside the engine a moment later, so look
// again for a short, bounded while.
func (s *Strategy) removePulled(ctx context.Context, st *step, in strategy.Input) {
	e := s.cfg.Engine
	if !st.pullStarted {
		return // the engine never began a pull for it
	}
	for i := range 6 {
		if _, err := e.ImageInspect(ctx, st.pullRef); err != nil {
			if i > 0 || st.pullDone {
				return // gone, or never there once the pull had ended
			}
		} else if _, err := e.ImageRemove(ctx, st.pullRef, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !isNotFound(err) {
			in.Debugf("remove %s: %v", st.pullRef, err)
		}
		if st.pullDone {
			return
		}
		t := time.NewTimer(300 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such image")
}

// follow reads an engine progress stream into the progress display, and returns
// the aux messages (the push digest) or the stream's error.
func follow(ctx context.Context, stream interface {
	JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error]
}, pw *progress.Writer, group, phase string, c *counts) ([]json.RawMessage, error) {
	tasks := map[string]*progress.Task{}
	seen := map[string]int64{}
	totals := map[string]int64{}
	var aux []json.RawMessage
	for m, err := range stream.JSONMessages(ctx) {
		if err != nil {
			return aux, err
		}
		if m.Error != nil {
			return aux, &streamError{code: m.Error.Code, msg: m.Error.Message}
		}
		if m.Aux != nil {
			aux = append(aux, *m.Aux)
		}
		if !isLayerID(m.ID) {
			continue // status lines about the whole image, not a layer
		}
		if m.Progress != nil && m.Progress.Total > 0 {
			totals[m.ID] = m.Progress.Total
			t := tasks[m.ID]
			if t == nil {
				t = pw.Task(group, phase+" layer "+m.ID, m.Progress.Total)
				tasks[m.ID] = t
			}
			if m.Status == "Downloading" || m.Status == "Pushing" {
				if d := m.Progress.Current - seen[m.ID]; d > 0 {
					t.Add(d)
					seen[m.ID] = m.Progress.Current
				}
			}
		}
		word := ""
		kind := -1
		switch {
		case m.Status == "Pull complete":
			word = "pulled"
		case m.Status == "Already exists":
			word = "already in the engine"
		case m.Status == "Pushed":
			word, kind = "pushed", 0
		case strings.HasPrefix(m.Status, "Mounted from"):
			word, kind = "mounted", 1
		case m.Status == "Layer already exists":
			word, kind = "already in the registry", 2
		}
		if word == "" {
			continue
		}
		t := tasks[m.ID]
		if t == nil {
			t = pw.Task(group, phase+" layer "+m.ID, 0)
			tasks[m.ID] = t
		}
		t.Done(word)
		if c != nil && kind >= 0 {
			c.add(kind, totals[m.ID])
		}
	}
	return aux, nil
}

func isLayerID(id string) bool { return len(id) == 12 }

type streamError struct {
	code int
	msg  string
}

func (e *streamError) Error() string { return e.msg }

// engineError turns what the engine said into one sentence naming the
// registry, the platform and the fix. The engine's stream carries only text, so
// the text is what there is to classify.
func (s *Strategy) engineError(ctx context.Context, err error, _ string, host, phase string, st *step) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := err.Error()
	low := strings.ToLower(msg)
	code := 0
	var se *streamError
	if errors.As(err, &se) {
		code = se.code
	}
	login := "docker login " + host
	if host == name.DefaultRegistry || host == "index.docker.io" {
		login = "docker login"
	}
	switch {
	case strings.Contains(low, "server gave http response to https client"):
		return errdefs.Wrap(err, errdefs.Unreachable,
			"the engine cannot %s %s over HTTPS and it is plain HTTP: add \"%s\" to \"insecure-registries\" in the engine's daemon.json and restart dockerd", phaseVerb(phase), host, host)
	case strings.Contains(low, "x509") || strings.Contains(low, "certificate"):
		return errdefs.Wrap(err, errdefs.Unreachable,
			"the engine does not trust the certificate of %s: put its CA in /etc/docker/certs.d/%s/ca.crt on the engine's host, or add \"%s\" to \"insecure-registries\" in daemon.json", host, host, host)
	case code == 401 || strings.Contains(low, "unauthorized") || strings.Contains(low, "authentication required") || strings.Contains(low, "no basic auth credentials"):
		return errdefs.Wrap(err, errdefs.Unauthorized, "the engine could not %s %s: unauthorized: run '%s'", phaseVerb(phase), host, login)
	case code == 403 || strings.Contains(low, "denied"):
		return errdefs.Wrap(err, errdefs.Denied, "the engine could not %s %s: denied: run '%s' with an account that has access", phaseVerb(phase), host, login)
	case phase == "pull" && (strings.Contains(low, "no matching manifest") || strings.Contains(low, "does not match the specified platform")):
		return errdefs.Wrap(err, errdefs.PlatformMissing, "the engine cannot pull %s of %s: %s", st.pd.Platform, st.pullRef, msg)
	case strings.Contains(low, "connection refused") || strings.Contains(low, "no such host") || strings.Contains(low, "i/o timeout") || strings.Contains(low, "no route to host"):
		return errdefs.Wrap(err, errdefs.Unreachable, "the engine cannot reach registry %s (from the engine's host): %s", host, msg)
	case phase == "pull":
		return errdefs.Wrap(err, errdefs.Unknown, "the engine cannot pull %s of %s: %s", st.pd.Platform, st.pullRef, msg)
	}
	return errdefs.Wrap(err, errdefs.Unknown, "the engine failed to %s %s for %s: %s", phase, st.pushRef, st.pd.Platform, msg)
}

func phaseVerb(phase string) string {
	switch phase {
	case "pull":
		return "pull from"
	case "push":
		return "push to"
	}
	return phase
}
