//go:build !windows

package e2e

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"testing"
)

// blobGET matches a blob download, the only request the proxies tamper with.
var blobGET = regexp.MustCompile(`^/v2/.+/blobs/sha256:[0-9a-f]{64}$`)

type proxyMode int

const (
	// corruptBlobs flips one byte in the middle of every blob body; the length
	// and headers stay the same, so only a digest check can notice.
	corruptBlobs proxyMode = iota
	// stallBlobs sends the first bytes of every blob and then holds the
	// connection open until the client goes away or the test ends, so that a
	// copy is certainly in flight when the test interrupts it.
	stallBlobs
)

// Proxy is a reverse proxy in front of a real registry that misbehaves on
// blob downloads.
type Proxy struct {
	// Host is 127.0.0.1:PORT of the proxy.
	Host string
	// BlobRequested is closed when the first blob GET arrives.
	BlobRequested chan struct{}
	once          sync.Once
	release       chan struct{}
}

// Ref is a reference to repoAndTag in the registry behind the proxy.
func (p *Proxy) Ref(repoAndTag string) string { return p.Host + "/" + repoAndTag }

func startProxy(t testing.TB, backend *Registry, mode proxyMode) *Proxy {
	t.Helper()
	target, err := url.Parse("http://" + backend.Host)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{BlobRequested: make(chan struct{}), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		if req.Method != http.MethodGet || resp.StatusCode != http.StatusOK || !blobGET.MatchString(req.URL.Path) {
			return nil
		}
		p.once.Do(func() { close(p.BlobRequested) })
		switch mode {
		case corruptBlobs:
			flipAt := int64(0)
			if resp.ContentLength > 0 {
				flipAt = resp.ContentLength / 2
			}
			resp.Body = &corruptingBody{ReadCloser: resp.Body, flipAt: flipAt}
		case stallBlobs:
			resp.Body = &stallingBody{ReadCloser: resp.Body, left: 1024, release: p.release, gone: req.Context().Done()}
		}
		return nil
	}
	// Send the stalled bytes at once rather than when a buffer fills.
	rp.FlushInterval = -1
	// Quiet: the proxy's "context canceled" lines are expected noise.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(rp)
	p.Host = srv.Listener.Addr().String()
	// Cleanups run last-in first-out: release stalled bodies, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(p.release) })
	return p
}

type corruptingBody struct {
	io.ReadCloser
	flipAt int64
	off    int64
}

func (b *corruptingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.flipAt >= b.off && b.flipAt < b.off+int64(n) {
		p[b.flipAt-b.off] ^= 0xff
	}
	b.off += int64(n)
	return n, err
}

type stallingBody struct {
	io.ReadCloser
	left    int
	release <-chan struct{}
	gone    <-chan struct{}
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		select {
		case <-b.release:
		case <-b.gone:
		}
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= n
	return n, err
}
