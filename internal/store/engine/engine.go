// Package engine makes a Docker engine a place images are copied to and
// from (docker-daemon:[NAME[:TAG]]), through its image load and save
// endpoints, so that every copy path of the index strategy (plan, dedupe,
// progress, dry runs, the tag-last rule) serves it as it serves archives.
//
// Into an engine, the blobs of every image of a run are streamed, as they
// arrive, into one tar in the layout `docker save` writes since Docker 25 (an
// OCI image layout plus manifest.json), which is the body of one POST
// /images/load: nothing is written to disk here and memory holds one copy
// buffer. The names (index.json, manifest.json) are the last entries of the
// stream, written at Commit: an engine sees no name before every blob of the
// image is in it, and a stream that ends without them (a failure, an
// interrupt) is refused whole by the engine, leaving no image under the name.
//
// Out of an engine, GET /images/get is read once per image. Into a registry
// (forward.go), each layer is compressed and uploaded as it streams, the
// small JSON files kept in memory, and nothing is written to disk. Into an
// archive or another engine, layers that arrive uncompressed (the classic
// store saves them so) are gzip-compressed as they stream into a work
// directory beside the small JSON files, and the result is read as the
// docker save archive it is (internal/store/archive).
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Client is the part of the engine API used here; the docker CLI's client
// (client.APIClient) satisfies it.
type Client interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (client.ImageLoadResult, error)
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (client.ImageSaveResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
}

// Engine is one engine, as a docker context reaches it.
type Engine struct {
	client Client
	// desc names it in messages: "unix:///run/docker.sock (context default)".
	desc string
	// context is the docker context's name, for the hints of messages.
	context string

	once sync.Once
	info Info
	err  error
}

// Info is what an engine says of itself.
type Info struct {
	// Platform is the engine's own: what `docker pull` picks.
	Platform v1.Platform
	// Containerd is the containerd image store (Docker 25+ with it on, the
	// default since 29): it holds multi-platform images whole.
	Containerd bool
	// APIVersion is the API version the client speaks with it.
	APIVersion string
}

// platformParams reports an engine whose load and save endpoints take
// platforms (API 1.48, Docker 28; earlier ones refuse the parameter).
func (i Info) platformParams() bool {
	return i.Containerd && versions.GreaterThanOrEqualTo(i.APIVersion, "1.48")
}

// New wraps a client. desc names the engine in messages; contextName is the
// docker context it came from ("" for the CLI's current one).
func New(c Client, desc, contextName string) *Engine {
	return &Engine{client: c, desc: desc, context: contextName}
}

func (e *Engine) String() string { return e.desc }

// Probe asks the engine once what it is; every later call returns the same.
// Its error is one sentence: no engine there, or an ssh login refused.
func (e *Engine) Probe(ctx context.Context) (Info, error) {
	e.once.Do(func() {
		ping, err := e.client.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		if err != nil {
			e.err = e.reachError(err)
			return
		}
		v, err := e.client.ServerVersion(ctx, client.ServerVersionOptions{})
		if err != nil {
			e.err = e.reachError(err)
			return
		}
		info, err := e.client.Info(ctx, client.InfoOptions{})
		if err != nil {
			e.err = e.reachError(err)
			return
		}
		e.info.APIVersion = ping.APIVersion
		e.info.Platform = v1.Platform{OS: v.Os, Architecture: v.Arch}
		if p, err := platforms.Parse(v.Os + "/" + v.Arch); err == nil {
			e.info.Platform = p
		}
		for _, kv := range info.Info.DriverStatus {
			if kv[0] == "driver-type" && strings.Contains(kv[1], "io.containerd.snapshotter") {
				e.info.Containerd = true
			}
		}
	})
	return e.info, e.err
}

// reachError says in one sentence why the engine cannot be asked anything.
func (e *Engine) reachError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := err.Error()
	hint := "is it running? ('docker info' shows what the CLI reaches)"
	if e.context != "" {
		hint = fmt.Sprintf("is it running? ('docker --context %s info')", e.context)
	}
	switch {
	case strings.Contains(msg, "Permission denied") && strings.Contains(msg, "ssh"),
		strings.Contains(msg, "Host key verification failed"),
		strings.Contains(msg, "Connection refused") && strings.Contains(msg, "ssh"):
		return errdefs.Wrap(err, errdefs.Unreachable, "ssh refused the connection to the Docker engine %s: %s; check that 'ssh HOST docker version' works with the same user and key",
			e.desc, lastLine(sshReason(msg)))
	case strings.Contains(msg, "docker: not found"), strings.Contains(msg, "docker: command not found"):
		return errdefs.Wrap(err, errdefs.Unreachable, "the ssh host of the Docker engine %s has no docker CLI on its PATH, which ssh contexts need", e.desc)
	}
	return errdefs.Wrap(err, errdefs.Unreachable, "no Docker engine answers at %s: %s", e.desc, hint)
}

// sshReason keeps what ssh said of a failed connection (the connection
// helper puts its stderr into the error).
func sshReason(msg string) string {
	for _, key := range []string{"Permission denied", "Host key verification failed", "Connection refused"} {
		if i := strings.Index(msg, key); i >= 0 {
			rest := msg[i:]
			if end := strings.IndexByte(rest, '\n'); end >= 0 {
				rest = rest[:end]
			}
			// "Permission denied (publickey)." keeps its parenthesis.
			if end := strings.IndexByte(rest, ')'); end >= 0 {
				rest = rest[:end+1]
			}
			return rest
		}
	}
	return msg
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ociPlatforms converts platforms for the API's platform parameters.
func ociPlatforms(ps []v1.Platform) []ocispec.Platform {
	out := make([]ocispec.Platform, 0, len(ps))
	for _, p := range ps {
		out = append(out, ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion})
	}
	return out
}
