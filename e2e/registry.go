//go:build !windows

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a running distribution registry.
type Registry struct {
	// Host is 127.0.0.1:PORT, or a test host's address and port.
	Host string
	// User and Password are set when the registry requires htpasswd auth.
	User, Password string
	// CAPEM is the certificate of a TLS registry, to trust it.
	CAPEM   []byte
	logFile string
	// netns is the test host's namespace the registry runs in, if any.
	netns string
	kind  registryKind
	// pid is the registry's process, for the CPU it has used (cpuSeconds).
	pid int
	// stop stops it; the test's cleanup does too.
	stop func()
}

// Stop stops the registry before the test ends (a benchmark that starts one
// per round); its storage stays until the test's cleanup.
func (r *Registry) Stop() {
	if r.stop != nil {
		r.stop()
	}
}

// cpuSeconds is the CPU time (user and system) the registry's process has
// used so far, from /proc/PID/stat; 0 where that cannot be read.
func (r *Registry) cpuSeconds() float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	// USER_HZ is 100 on every Linux this runs on.
	return (utime + stime) / 100
}

// registryKind is which registry program serves: they differ in the OCI 1.1
// referrers API, which only ociRegistry serves.
type registryKind int

const (
	distributionV3 registryKind = iota // the pinned distribution registry (the default)
	distribution28                     // Debian's docker-registry 2.8
	ociRegistry                        // go-containerregistry's registry, referrers API on
)

// ociRegistryBinary builds internal/testutil/cmd/ociregistry once a run.
var ociRegistryBinary = sync.OnceValues(func() (string, error) {
	out := filepath.Join(os.TempDir(), fmt.Sprintf("docker-migrate-ociregistry-%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", out, "./internal/testutil/cmd/ociregistry")
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./internal/testutil/cmd/ociregistry: %w\n%s", err, b)
	}
	onExit(func() { os.Remove(out) })
	return out, nil
})

// command is the registry's command line for config (or, for ociRegistry,
// which has no config file, its address).
func (r *Registry) command(config string) (string, []string, error) {
	switch r.kind {
	case distribution28:
		const path = "/usr/bin/docker-registry"
		if _, err := os.Stat(path); err != nil {
			return "", nil, fmt.Errorf("Debian's docker-registry (2.8) is not installed: run scripts/install-tools.sh docker-registry")
		}
		return path, []string{"serve", config}, nil
	case ociRegistry:
		bin, err := ociRegistryBinary()
		return bin, []string{"--addr", r.Host}, err
	}
	return registryBinary, []string{"serve", config}, nil
}

type registryOptions struct {
	// htpasswd makes the registry require basic auth for User/Password.
	htpasswd bool
	// tls serves HTTPS with a self-signed certificate for 127.0.0.1
	// (Registry.CAPEM), which no system pool trusts.
	tls bool
	// host, when set, is a test host the registry runs on: its own network
	// namespace with an address that is not loopback (see startTestHost).
	host *testHost
	// kind picks the registry program; the zero value is distribution v3.
	kind registryKind
	// noDelete leaves out storage.delete.enabled: the registry answers
	// DELETE with 405 UNSUPPORTED, as distribution does by default.
	noDelete bool
	// extra is more configuration for distribution, such as a proxy: section.
	extra string
}

// The registry reads the htpasswd file with bcrypt only; a low cost keeps
// each request fast (it re-checks the hash on every one).
const bcryptCost = 4

// startRegistry runs `registry serve` on a free loopback port with its storage
// in a temporary directory and stops it when the test ends.
func startRegistry(t testing.TB, opts registryOptions) *Registry {
	t.Helper()
	dir := t.TempDir()
	r := &Registry{logFile: filepath.Join(dir, "registry.log"), kind: opts.kind}
	auth := ""
	if opts.htpasswd {
		r.User, r.Password = "e2e-user", "pw-"+rand.Text()
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcryptCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: docker-migrate-e2e\n    path: %s\n", htpasswd)
	}

	tlsConfig := ""
	if opts.tls {
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		ip := "127.0.0.1"
		if opts.host != nil {
			ip = opts.host.addr
		}
		r.CAPEM = selfSignedCert(t, certFile, keyFile, ip)
		tlsConfig = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
	}

	// A port found free can be taken before the registry binds it; try again
	// with another one when the registry exits at start.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		if opts.host != nil {
			r.Host = fmt.Sprintf("%s:%d", opts.host.addr, port)
			r.netns = opts.host.netns
		}
		config := filepath.Join(dir, "config.yml")
		text := registryConfig(filepath.Join(dir, "storage"), r.Host)
		if opts.noDelete {
			text = strings.Replace(text, "  delete:\n    enabled: true\n", "", 1)
		}
		if err := os.WriteFile(config, []byte(text+tlsConfig+auth+opts.extra), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = r.start(t, config); lastErr == nil {
			return r
		}
		t.Logf("registry on %s did not start (attempt %d): %v", r.Host, attempt+1, lastErr)
	}
	t.Fatalf("registry did not start: %v\n%s", lastErr, r.log())
	return nil
}

func registryConfig(storage, addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, storage, addr)
}

func (r *Registry) start(t testing.TB, config string) error {
	logf, err := os.OpenFile(r.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	bin, args, err := r.command(config)
	if err != nil {
		logf.Close()
		return err
	}
	cmd := exec.Command(bin, args...)
	if r.netns != "" {
		// ip execs the registry, so the process is the registry itself.
		cmd = exec.Command("ip", append([]string{"netns", "exec", r.netns, bin}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	r.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	r.stop = stop

	if err := waitForRegistry(r.Host, r.CAPEM != nil, exited); err != nil {
		stop()
		return err
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("registry %s log:\n%s", r.Host, r.log())
		}
	})
	return nil
}

// waitForRegistry polls GET /v2/ until it answers 200 or 401, for at most 15s.
func waitForRegistry(host string, https bool, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	scheme := "http"
	if https {
		scheme = "https"
		// Only readiness is checked here; trust is what the tests are about.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return errors.New("registry exited")
		default:
		}
		resp, err := client.Get(scheme + "://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 15s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// log returns the end of the registry's log (at level warn it logs every
// 404 too, so the whole log is mostly noise).
func (r *Registry) log() string {
	b, _ := os.ReadFile(r.logFile)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = append([]string{"[...]"}, lines[len(lines)-30:]...)
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// closedPort returns host:port of a loopback port where connections are
// refused. The port is bound (without listening) until the test ends, so no
// registry started meanwhile can take it.
func closedPort(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// Ref is a reference in this registry.
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

// catalog lists the repositories the registry holds.
func (r *Registry) catalog(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/_catalog", nil)
	if err != nil {
		return nil, err
	}
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v2/_catalog: %s", resp.Status)
	}
	var body struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Repositories, nil
}

// selfSignedCert writes a certificate and key for ip and returns the
// certificate in PEM, which is also its own CA.
func selfSignedCert(t testing.TB, certFile, keyFile, ip string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "docker-migrate e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP(ip)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

// trustCA puts r's certificate in the CLI's certs.d, as a user would.
func trustCA(t testing.TB, cli *CLI, r *Registry) {
	t.Helper()
	dir := filepath.Join(cli.ConfigDir, "certs.d", r.Host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), r.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}
