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
	"time"
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
	hosts map[string]http.RoundTripper
}

func (t *transports) forHost(host string) (http.RoundTripper, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.hosts[host]; ok {
		return rt, nil
	}
	insecure := t.insecure != nil && t.insecure(host)
	tlsConfig, err := t.tlsConfig(host, insecure)
	if err != nil {
		return nil, err
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
	rt := &schemePolicy{host: host, allowHTTP: insecure || IsLoopback(host), inner: guard}
	if t.hosts == nil {
		t.hosts = map[string]http.RoundTripper{}
	}
	t.hosts[host] = rt
	return rt, nil
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
	return fmt.Sprintf("registry %s is not served over HTTPS; pass --insecure=%s to allow plain HTTP", e.Host, e.Host)
}

func (s *schemePolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !s.allowHTTP && strings.EqualFold(req.URL.Host, s.host) {
		return nil, &ErrPlainHTTP{Host: s.host}
	}
	return s.inner.RoundTrip(req)
}
