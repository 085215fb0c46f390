package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPlainHTTPRemoteRegistry copies to a registry that speaks plain HTTP on
// an address that is not loopback (a test host of its own): refused unless
// the user names it with --insecure, as the engine refuses it unless it is in
// insecure-registries.
func TestPlainHTTPRemoteRegistry(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	remote := startRegistry(t, registryOptions{host: startTestHost(t)})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, fixtureCases[1].opts, false)
	cli := NewCLI(t)

	dstRef := remote.Ref("mirror/app:v1")
	res := cli.RunDocker(t, "migrate", srcRef, dstRef)
	assertOneLineError(t, res)
	if want := "registry " + remote.Host + " is not served over HTTPS; pass --insecure=" + remote.Host; !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res)
	}
	assertAbsent(t, remote, dstRef)

	for _, flag := range []string{"--insecure=" + remote.Host, "--insecure"} {
		res := cli.RunDocker(t, "migrate", flag, srcRef, dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
	}
	assertComplete(t, remote, dstRef)
}

// TestManifestStrategyEngineRefusesHTTP: the engine will not push to a plain
// HTTP registry that is not in its insecure-registries. The plugin (allowed
// with --insecure) says so in one sentence naming the daemon.json setting.
func TestManifestStrategyEngineRefusesHTTP(t *testing.T) {
	host := startEngine(t)
	src := startRegistry(t, registryOptions{})
	remote := startRegistry(t, registryOptions{host: startTestHost(t)})
	srcRef := src.Ref("e2e/app:v1")
	pushFixture(t, src, srcRef, fixtureCases[1].opts, false)
	cli := NewCLI(t).WithEngine(host)
	before := engineImages(t, cli)

	dstRef := remote.Ref("mirror/app:v1")
	res := cli.RunDocker(t, "migrate", "--strategy", "manifest", "--progress", "quiet", "--insecure="+remote.Host, srcRef, dstRef)
	assertOneLineError(t, res)
	for _, want := range []string{remote.Host, `"insecure-registries"`, "daemon.json"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	}
	assertAbsent(t, remote, dstRef)
	if after := engineImages(t, cli); !slices.Equal(after, before) {
		t.Errorf("a failed run left images in the engine: %v", after)
	}
}

// TestHTTPSProxy reaches a TLS registry on a test host through HTTPS_PROXY
// (a CONNECT proxy on loopback), and past it when NO_PROXY names the host.
func TestHTTPSProxy(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	remote := startRegistry(t, registryOptions{host: startTestHost(t), tls: true})
	srcRef := src.Ref("e2e/app:v1")
	digest := pushFixture(t, src, srcRef, fixtureCases[2].opts, true)
	proxy := startConnectProxy(t)

	for _, tc := range []struct {
		name    string
		noProxy string
		via     bool
	}{
		{"through the proxy", "", true},
		{"past the proxy with no_proxy", strings.Split(remote.Host, ":")[0], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli := NewCLI(t)
			trustCA(t, cli, remote)
			cli.SetEnv("HTTPS_PROXY", "http://"+proxy.addr)
			cli.SetEnv("NO_PROXY", tc.noProxy)
			before := proxy.connects(remote.Host)
			dstRef := remote.Ref("mirror/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1")
			res := cli.RunDocker(t, "migrate", srcRef, dstRef).AssertSuccess(t)
			assertResultLine(t, res, dstRef, digest)
			if got := proxy.connects(remote.Host) - before; (got > 0) != tc.via {
				t.Errorf("%d CONNECTs to %s through the proxy; want some: %v", got, remote.Host, tc.via)
			}
		})
	}
}

// connectProxy is a forward proxy that only tunnels (CONNECT), counting
// tunnels per target.
type connectProxy struct {
	addr string
	mu   sync.Mutex
	seen map[string]int
}

func (p *connectProxy) connects(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[host]
}

func startConnectProxy(t testing.TB) *connectProxy {
	t.Helper()
	p := &connectProxy{seen: map[string]int{}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.mu.Lock()
		p.seen[r.Host]++
		p.mu.Unlock()
		up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { _, _ = io.Copy(up, conn); up.Close() }()
		_, _ = io.Copy(conn, up)
		conn.Close()
	}))
	t.Cleanup(s.Close)
	p.addr = strings.TrimPrefix(s.URL, "http://")
	return p
}
