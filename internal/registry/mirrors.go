package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// endpointRT is an endpoint with the transport that signs in to it.
type endpointRT struct {
	Endpoint
	rt http.RoundTripper
}

// mirrorTransport is the transport of a source handle whose registry has
// mirrors. A manifest or blob read goes to each endpoint in turn (the mirrors
// in order, then the registry's server) until one answers; a mirror that
// fails or lacks it (any error answer, a connection that fails) passes to
// the next, as the engine does. Everything else (tag lists, referrers) goes
// to the server alone: a mirror is for reading content, never for listing.
// A tag is only resolved by an endpoint with the resolve capability, content
// by digest only read from one with pull. Content is checked by digest above
// this transport, so where it came from cannot change what arrives.
type mirrorTransport struct {
	// registry is the host in the handle's URLs; prefix is "/v2/".
	registry  string
	endpoints []endpointRT
	op        string
	notifyf   func(format string, args ...any)
	logf      func(format string, args ...any)

	// preferred is the endpoint that last served a manifest: digests are
	// asked of it first, so a mirror that has the image serves all of it.
	preferred atomic.Int32
	mu        sync.Mutex
	// served is which endpoint served each manifest reference.
	served map[string]int
}

func newMirrorTransport(registry, op string, endpoints []endpointRT, notifyf, logf func(string, ...any)) *mirrorTransport {
	t := &mirrorTransport{registry: registry, endpoints: endpoints, op: op, notifyf: notifyf, logf: logf, served: map[string]int{}}
	t.preferred.Store(-1)
	return t
}

// ServedBy is the mirror that served the manifest ref, or "" when the
// registry's own server did (or nothing did yet).
func (t *mirrorTransport) ServedBy(ref string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.served[ref]
	if !ok || !t.endpoints[i].Mirror {
		return ""
	}
	return t.endpoints[i].String()
}

// readKind says what a request reads: a manifest by tag ("resolve"), content
// by digest ("pull"), or something a mirror is not asked for ("").
func readKind(req *http.Request) (kind, ref string) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return "", ""
	}
	p := req.URL.Path
	for _, part := range []string{"/manifests/", "/blobs/"} {
		i := strings.LastIndex(p, part)
		if i < 0 || strings.HasPrefix(p[i+len(part):], "uploads") {
			continue
		}
		ref = p[i+len(part):]
		if part == "/manifests/" && !strings.Contains(ref, ":") {
			return "resolve", ref
		}
		return "pull", ref
	}
	return "", ""
}

func (t *mirrorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	server := t.endpoints[len(t.endpoints)-1]
	if !strings.EqualFold(req.URL.Host, t.registry) {
		// A redirect (to object storage, or within a mirror): through the
		// endpoint it belongs to, else the one that is serving.
		for _, e := range t.endpoints {
			if strings.EqualFold(e.Host(), req.URL.Host) {
				return e.rt.RoundTrip(req)
			}
		}
		if p := t.preferred.Load(); p >= 0 {
			return t.endpoints[p].rt.RoundTrip(req)
		}
		return server.rt.RoundTrip(req)
	}
	kind, ref := readKind(req)
	if kind == "" {
		return t.send(server, req)
	}
	order := make([]int, 0, len(t.endpoints))
	if p := int(t.preferred.Load()); kind == "pull" && p >= 0 {
		order = append(order, p)
	}
	for i, e := range t.endpoints {
		if len(order) > 0 && order[0] == i {
			continue
		}
		if (kind == "resolve" && e.Resolve) || (kind == "pull" && e.Pull) || i == len(t.endpoints)-1 {
			order = append(order, i)
		}
	}
	var tried []string
	var lastKind errdefs.Kind
	for n, i := range order {
		e := t.endpoints[i]
		last := n == len(order)-1
		resp, err := t.send(e, req)
		if err == nil && resp.StatusCode < 400 || err == nil && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			if strings.Contains(req.URL.Path, "/manifests/") {
				t.noteServed(i, ref)
			}
			return resp, nil
		}
		if last && len(tried) == 0 {
			return resp, err
		}
		var why string
		if err != nil {
			if se, ok := errors.AsType[*signInError](err); ok {
				err = se.err
			}
			why, lastKind = t.cause(e, err), errdefs.KindOf(err)
		} else {
			why, lastKind = t.statusCause(e, resp), statusKind(resp.StatusCode)
			if last && resp.StatusCode != http.StatusNotFound {
				// The server's own answer (a 401, a 429, a 503) is what the
				// handle's checks and retries know how to read.
				t.logf("%s %s: %s", req.Method, redact(req.URL), strings.Join(append(tried, why), "; "))
				return resp, nil
			}
			drain(resp)
		}
		tried = append(tried, why)
		if !last {
			t.logf("%s %s: %s; trying the next endpoint", req.Method, redact(req.URL), why)
		}
	}
	return nil, &signInError{err: errdefs.Wrap(&EndpointsError{Tried: tried}, lastKind, "%s: %s", t.op, strings.Join(tried, "; "))}
}

// EndpointsError is a read that every endpoint of a registry failed: why,
// for each, in the order they were tried.
type EndpointsError struct{ Tried []string }

func (e *EndpointsError) Error() string { return strings.Join(e.Tried, "; ") }

func statusKind(code int) errdefs.Kind {
	switch {
	case code == http.StatusNotFound:
		return errdefs.NotFound
	case code == http.StatusUnauthorized:
		return errdefs.Unauthorized
	case code == http.StatusForbidden:
		return errdefs.Denied
	case code >= 500:
		return errdefs.Unavailable
	}
	return errdefs.Rejected
}

// send sends req to endpoint e: the same path under e's API root.
func (t *mirrorTransport) send(e endpointRT, req *http.Request) (*http.Response, error) {
	if !e.Mirror {
		return e.rt.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = e.URL.Scheme, e.URL.Host
	u.Path = e.URL.Path + strings.TrimPrefix(req.URL.Path, "/v2")
	u.RawPath = ""
	if e.Namespace != "" {
		q := u.Query()
		q.Set("ns", e.Namespace)
		u.RawQuery = q.Encode()
	}
	out.URL, out.Host = &u, ""
	resp, err := e.rt.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		// The client resolves a relative redirect against the URL it sent,
		// the registry's: make it the mirror's.
		if l, perr := out.URL.Parse(loc); perr == nil {
			resp.Header.Set("Location", l.String())
		}
	}
	resp.Request = req
	return resp, nil
}

// cause is why endpoint e could not be read, in a few words.
func (t *mirrorTransport) cause(e endpointRT, err error) string {
	msg := errdefs.Message(err)
	if !e.Mirror {
		return msg
	}
	msg = strings.TrimPrefix(msg, "cannot reach registry "+e.Host()+": ")
	return fmt.Sprintf("cannot reach mirror %s: %s", e, msg)
}

func (t *mirrorTransport) statusCause(e endpointRT, resp *http.Response) string {
	where := "registry " + e.Host()
	if e.Mirror {
		where = "mirror " + e.String()
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return "not found at " + where
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s: unauthorized: run '%s'", where, loginHint(e.Host()))
	}
	return fmt.Sprintf("%s answered %s", where, resp.Status)
}

// noteServed records which endpoint served manifest ref, and says so once
// when a mirror did.
func (t *mirrorTransport) noteServed(i int, ref string) {
	t.preferred.Store(int32(i))
	t.mu.Lock()
	_, seen := t.served[ref]
	first := len(t.served) == 0
	t.served[ref] = i
	t.mu.Unlock()
	// A tag, or the first manifest (a source pinned by digest); not each child.
	if !seen && t.endpoints[i].Mirror && t.notifyf != nil && (first || !strings.HasPrefix(ref, "sha256:")) {
		repo := strings.TrimPrefix(t.op, "read ")
		if r, ok := strings.CutPrefix(repo, "index.docker.io/"); ok {
			repo = "docker.io/" + r // as docker names it
		}
		sep := ":"
		if strings.HasPrefix(ref, "sha256:") {
			sep = "@"
		}
		t.notifyf("reading %s%s%s via mirror %s", repo, sep, ref, t.endpoints[i])
	}
}

// ServedBy names the mirror that served manifest ref (a tag or digest) of
// this handle, as "https://mirror.example.com"; "" when the registry itself
// did, or the handle reads no mirrors.
func (r *Repository) ServedBy(ref string) string {
	if m, ok := r.client.Transport.(*mirrorTransport); ok {
		return m.ServedBy(ref)
	}
	return ""
}
