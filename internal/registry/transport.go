package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
)

// IsLoopback reports whether host (with or without a port) names this machine:
// the engine allows plain HTTP to these registries without configuration.
func IsLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// transports builds one http.RoundTripper per registry host, with the TLS
// settings the engine would use for it (certs.d, --insecure).
type transports struct {
	certDirs []string
	insecure func(host string) bool
	// stall is how long a host may send or take nothing (see stallGuard).
	stall time.Duration

	mu    sync.Mutex
	hosts map[string]*hostTransport
	// endpoints are the mirrors' transports, by host and TLS settings.
	endpoints map[string]http.RoundTripper
}

// hostTransport is a registry host's transport, which the engine's
// insecure-registries can turn insecure once it is known to need it.
type hostTransport struct {
	rt atomic.Pointer[http.RoundTripper]
}

func (h *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return (*h.rt.Load()).RoundTrip(req)
}

func (t *transports) forHost(host string) (http.RoundTripper, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.hosts[host]; ok {
		return h, nil
	}
	own, err := t.ownHostsEntry(host)
	if err != nil {
		return nil, err
	}
	insecure := t.insecure != nil && t.insecure(host)
	rt, err := t.build(host, insecure, own)
	if err != nil {
		return nil, err
	}
	h := &hostTransport{}
	h.rt.Store(&rt)
	if t.hosts == nil {
		t.hosts = map[string]*hostTransport{}
	}
	t.hosts[host] = h
	return h, nil
}

// allowInsecure turns host's transport into one that allows plain HTTP and
// does not verify certificates.
func (t *transports) allowInsecure(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.hosts[host]
	if !ok {
		return
	}
	own, _ := t.ownHostsEntry(host)
	if rt, err := t.build(host, true, own); err == nil {
		h.rt.Store(&rt)
	}
}

// ownHostsEntry is what a hosts.toml for host says of host itself (its
// server entry), or nil.
func (t *transports) ownHostsEntry(host string) (*Endpoint, error) {
	f, err := LoadHostsFile(t.certDirs, host)
	if err != nil || f == nil {
		return nil, err
	}
	for _, e := range f.Endpoints {
		if !e.Mirror && sameRegistry(e.Host(), host) {
			return &e, nil
		}
	}
	return nil, nil
}

// hostsSayHTTP reports whether host's own hosts.toml entry names it with
// http://: plain HTTP is then what the user asked for.
func (t *transports) hostsSayHTTP(host string) bool {
	e, err := t.ownHostsEntry(host)
	return err == nil && e != nil && e.URL.Scheme == "http"
}

// forEndpoint is the transport of a mirror endpoint: its host's, with the
// TLS settings its hosts.toml entry gives, plain HTTP when its URL says so.
func (t *transports) forEndpoint(e Endpoint) (http.RoundTripper, error) {
	key := fmt.Sprintf("%s|%s|%v|%v|%v", e.Host(), e.URL.Scheme, e.SkipVerify, e.CAFiles, e.ClientPairs)
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.endpoints[key]; ok {
		return rt, nil
	}
	insecure := t.insecure != nil && t.insecure(e.Host())
	rt, err := t.build(e.Host(), insecure, &e)
	if err != nil {
		return nil, err
	}
	if t.endpoints == nil {
		t.endpoints = map[string]http.RoundTripper{}
	}
	t.endpoints[key] = rt
	return rt, nil
}

// build makes host's transport chain; entry, when set, adds a hosts.toml's
// TLS settings and scheme.
func (t *transports) build(host string, insecure bool, entry *Endpoint) (http.RoundTripper, error) {
	tlsConfig, err := t.tlsConfig(host, insecure)
	if err != nil {
		return nil, err
	}
	allowHTTP := insecure || IsLoopback(host)
	if entry != nil {
		if err := entryTLS(tlsConfig, *entry); err != nil {
			return nil, err
		}
		allowHTTP = allowHTTP || entry.URL.Scheme == "http"
	}
	small := newHTTPTransport(tlsConfig, true)
	// Small requests need no large buffers, and planning holds many of their
	// connections open at once (each idle one keeps its buffers): 4 KiB, the
	// default, not the 256 KiB blobs stream through. At 512 KiB a connection
	// these buffers were most of a batch's memory.
	small.WriteBufferSize, small.ReadBufferSize = 0, 0
	// Blob bodies go over HTTP/1.1, a connection each: over HTTP/2 every
	// transfer would share one connection, and a far link caps each connection
	// (TCP window, a per-flow limit on the path), so parallel copies would gain
	// nothing. Small requests (HEADs, manifests, tokens) stay multiplexed on one
	// HTTP/2 connection, so planning opens no storm of TLS handshakes.
	bulkTLS := tlsConfig.Clone()
	bulkTLS.NextProtos = []string{"http/1.1"}
	bulk := newHTTPTransport(bulkTLS, false)
	bulk.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	base := &splitTransport{small: small, bulk: bulk}
	stall := t.stall
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	guard := &stallGuard{registry: host, stall: stall, inner: base}
	return &schemePolicy{host: host, allowHTTP: allowHTTP, inner: guard}, nil
}

// entryTLS adds a hosts.toml entry's TLS settings to cfg, as containerd
// does: skip_verify, ca files (to the system pool), client certificates.
func entryTLS(cfg *tls.Config, e Endpoint) error {
	if e.SkipVerify {
		cfg.InsecureSkipVerify = true //nolint:gosec // the user's hosts.toml asks for it
	}
	for _, f := range e.CAFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return errdefs.Wrap(err, errdefs.InvalidArgument, "read the CA file %s that a hosts.toml names for %s: %v", f, e.Host(), err)
		}
		if cfg.RootCAs == nil {
			if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
				cfg.RootCAs = x509.NewCertPool()
			}
		}
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return errdefs.New(errdefs.InvalidArgument, "CA file %s, which a hosts.toml names for %s, holds no PEM certificate", f, e.Host())
		}
	}
	for _, pair := range e.ClientPairs {
		key := pair[1]
		if key == "" {
			key = pair[0] // the key in the same PEM file
		}
		cert, err := tls.LoadX509KeyPair(pair[0], key)
		if err != nil {
			return errdefs.Wrap(err, errdefs.InvalidArgument, "load the client certificate %s that a hosts.toml names for %s: %v", pair[0], e.Host(), err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	return nil
}

// bulkKey marks a request's context as carrying a blob's body.
type bulkKey struct{}

// bulk marks ctx for a request that carries a blob's body (a download, an
// upload's PATCH or PUT): it goes over a connection of its own.
func bulk(ctx context.Context) context.Context { return context.WithValue(ctx, bulkKey{}, true) }

// splitTransport sends blob bodies over bulk (HTTP/1.1, a connection per
// transfer, kept for the next) and everything else over small (HTTP/2 where
// the registry speaks it). A redirect keeps its request's context, so a blob
// served from a storage host goes over bulk too.
type splitTransport struct {
	small, bulk *http.Transport
}

func (s *splitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(bulkKey{}) != nil {
		return s.bulk.RoundTrip(req)
	}
	return s.small.RoundTrip(req)
}

func newHTTPTransport(tlsConfig *tls.Config, http2 bool) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment, // HTTPS_PROXY, NO_PROXY
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2: http2,
		TLSClientConfig:   tlsConfig,
		// No TLSHandshakeTimeout: the stallGuard below gives up a handshake
		// that stalls, with a sentence that says so.
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		// Parallel blob copies each hold a connection; the default of 2 idle
		// connections per host would make every copy past the second redial.
		MaxIdleConnsPerHost: 64,
		// Blobs stream through these buffers; 4 KiB (the default) costs a
		// syscall per 4 KiB on large layers.
		WriteBufferSize: 256 << 10,
		ReadBufferSize:  256 << 10,
	}
}

// tlsConfig trusts the CA files the engine trusts for host (HOST/*.crt under each
// certs.d directory) and presents a client certificate (*.cert + *.key) if one is
// there, as dockerd does.
func (t *transports) tlsConfig(host string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only for --insecure hosts
	var pool *x509.CertPool
	for _, dir := range t.certDirs {
		hostDir := filepath.Join(dir, certsDirName(host))
		entries, err := os.ReadDir(hostDir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			path := filepath.Join(hostDir, name)
			switch {
			case strings.HasSuffix(name, ".crt"):
				pem, err := os.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("read CA file %s: %w", path, err)
				}
				if pool == nil {
					if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
						pool = x509.NewCertPool()
					}
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
				}
			case strings.HasSuffix(name, ".cert"):
				keyPath := strings.TrimSuffix(path, ".cert") + ".key"
				cert, err := tls.LoadX509KeyPair(path, keyPath)
				if err != nil {
					return nil, fmt.Errorf("load client certificate %s: %w", path, err)
				}
				cfg.Certificates = append(cfg.Certificates, cert)
			}
		}
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// certsDirName is the directory name the engine uses for host. On Windows a
// colon cannot appear in a path, and the engine (moby's registry.cleanPath)
// drops it: certs.d\registry.lan5000 for registry.lan:5000.
func certsDirName(host string) string {
	if runtime.GOOS == "windows" {
		return strings.ReplaceAll(host, ":", "")
	}
	return host
}

// schemePolicy refuses plain HTTP to a registry unless the engine would allow it
// (a loopback address) or the user named it with --insecure.
type schemePolicy struct {
	host      string
	allowHTTP bool
	inner     http.RoundTripper
}

// ErrPlainHTTP is returned when a registry answers only over plain HTTP and the
// user did not allow it.
type ErrPlainHTTP struct{ Host string }

func (e *ErrPlainHTTP) Error() string {
	return fmt.Sprintf("registry %s is not served over HTTPS; pass --insecure=%s to allow plain HTTP, or list it in the engine's insecure-registries", e.Host, e.Host)
}

func (s *schemePolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !s.allowHTTP && strings.EqualFold(req.URL.Host, s.host) {
		return nil, &ErrPlainHTTP{Host: s.host}
	}
	return s.inner.RoundTrip(req)
}
