package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
)

// mirrorSetup is a private dockerd configured as users behind a firewall
// configure theirs: two registry mirrors (a plain registry holding library/
// images, then a distribution pull-through cache in front of a third
// registry) and an insecure registry on a test host. docker.io itself cannot
// be reached here (no DNS), so an image of Docker Hub arrives only through a
// mirror.
type mirrorSetup struct {
	engine string
	// first is the plain mirror, behind a proxy that counts what reaches it.
	first      *quirk.Proxy
	firstURL   string
	cache      *Registry
	cacheURL   string
	upstream   *Registry
	insecure   *Registry
	dst        *Registry
	only320    string // digest of library/alpine:3.20 in the first mirror
	only319    string // digest of library/alpine:3.19, upstream of the cache only
	local      string // digest of local/alpine:3.20 in dst, a source for pushes
	engineArgs string
}

func startMirrorSetup(t *testing.T) *mirrorSetup {
	t.Helper()
	s := &mirrorSetup{}
	firstReg := startRegistry(t, registryOptions{})
	s.first = quirk.Start(t, firstReg.Host, quirk.Options{})
	s.firstURL = "http://" + s.first.Host
	s.upstream = startRegistry(t, registryOptions{})
	s.cache = startPullThroughCache(t, "http://"+s.upstream.Host)
	s.cacheURL = "http://" + s.cache.Host
	s.insecure = startRegistry(t, registryOptions{host: startTestHost(t)})
	s.dst = startRegistry(t, registryOptions{})
	s.only320 = pushFixture(t, firstReg, firstReg.Ref("library/alpine:3.20"), fixtureCases[1].opts, false).String()
	s.only319 = pushFixture(t, s.upstream, s.upstream.Ref("library/alpine:3.19"), fixtureCases[0].opts, false).String()
	s.local = pushFixture(t, s.dst, s.dst.Ref("local/alpine:3.20"), fixtureCases[1].opts, false).String()
	s.engineArgs = fmt.Sprintf("--registry-mirror %s --registry-mirror %s --insecure-registry %s", s.firstURL, s.cacheURL, s.insecure.Host)
	s.engine = startPrivateEngine(t, s.engineArgs)
	return s
}

// startPullThroughCache runs a distribution registry in proxy mode (a
// pull-through cache, as most registry mirrors are) in front of remote.
func startPullThroughCache(t *testing.T, remote string) *Registry {
	t.Helper()
	return startRegistry(t, registryOptions{extra: "proxy:\n  remoteurl: " + remote + "\n"})
}

// TestMirrors copies images of Docker Hub through the engine's registry
// mirrors, and to a registry the engine lists as insecure.
func TestMirrors(t *testing.T) {
	s := startMirrorSetup(t)

	t.Run("engine shows the mirrors", func(t *testing.T) {
		res := NewCLI(t).WithEngine(s.engine).RunDocker(t, "info", "--format", "{{json .RegistryConfig.Mirrors}}").AssertSuccess(t)
		if !strings.Contains(res.Stdout, s.firstURL) || !strings.Contains(res.Stdout, s.cacheURL) {
			t.Fatalf("docker info lacks the mirrors: %s", res.Stdout)
		}
	})

	t.Run("first mirror serves", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		dstRef := s.dst.Ref("hub/alpine:3.20")
		res := cli.RunDocker(t, "migrate", "alpine:3.20", dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, mustHash(t, s.only320))
		if want := "via mirror " + s.firstURL; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		assertComplete(t, s.dst, dstRef)
	})

	t.Run("first lacks it, the cache serves", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		dstRef := s.dst.Ref("hub/alpine:3.19")
		res := cli.RunDocker(t, "migrate", "docker.io/library/alpine:3.19", dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, mustHash(t, s.only319))
		if want := "via mirror " + s.cacheURL; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		assertComplete(t, s.dst, dstRef)
	})

	t.Run("every endpoint lacks it", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		dstRef := s.dst.Ref("hub/alpine:0.1")
		start := time.Now()
		res := cli.RunDocker(t, "migrate", "alpine:0.1", dstRef).AssertExit(t, 1)
		assertOneLineError(t, res)
		for _, want := range []string{"not found at mirror " + s.firstURL, "not found at mirror " + s.cacheURL, "index.docker.io"} {
			if !strings.Contains(res.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res)
			}
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("took %s: Docker Hub must fail fast here", d)
		}
		assertAbsent(t, s.dst, dstRef)
	})

	t.Run("JSON names the mirror", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		meta := filepath.Join(t.TempDir(), "result.json")
		res := cli.RunDocker(t, "migrate", "--format", "json", "--metadata-file", meta, "alpine:3.20", s.dst.Ref("hub/json:3.20")).AssertSuccess(t)
		var out struct{ Mirror string }
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil || out.Mirror != s.firstURL {
			t.Errorf("stdout mirror = %q (%v), want %s:\n%s", out.Mirror, err, s.firstURL, res.Stdout)
		}
		b, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"mirror": "`+s.firstURL+`"`) {
			t.Errorf("metadata file lacks the mirror:\n%s", b)
		}
		// An image that came from the registry itself names no mirror.
		res = cli.RunDocker(t, "migrate", "--format", "json", s.dst.Ref("hub/json:3.20"), s.dst.Ref("hub/json2:3.20")).AssertSuccess(t)
		if strings.Contains(res.Stdout, `"mirror"`) {
			t.Errorf("a copy from a registry that has no mirrors names one:\n%s", res.Stdout)
		}
	})

	t.Run("batch through the mirrors", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		list := filepath.Join(t.TempDir(), "images.txt")
		if err := os.WriteFile(list, []byte("alpine:3.20\ndocker.io/library/alpine:3.19\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		res := cli.RunDocker(t, "migrate", "-f", list, s.dst.Ref("batch")).AssertSuccess(t)
		assertDigest(t, s.dst, s.dst.Ref("batch/library/alpine:3.20"), mustHash(t, s.only320))
		assertDigest(t, s.dst, s.dst.Ref("batch/library/alpine:3.19"), mustHash(t, s.only319))
		for _, want := range []string{"via mirror " + s.firstURL, "via mirror " + s.cacheURL} {
			if !strings.Contains(res.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res)
			}
		}
	})

	t.Run("no mirrors for one run", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		res := cli.RunDocker(t, "migrate", "--no-mirrors", "alpine:3.20", s.dst.Ref("hub/off:3.20")).AssertExit(t, 1)
		assertOneLineError(t, res)
		if strings.Contains(res.Stderr, "mirror") || !strings.Contains(res.Stderr, "index.docker.io") {
			t.Errorf("want Docker Hub's failure alone:\n%s", res)
		}
	})

	t.Run("push to docker.io never reaches a mirror", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		before := s.first.Stats().Requests
		res := cli.RunDocker(t, "migrate", s.dst.Ref("local/alpine:3.20"), "docker.io/e2e/alpine:3.20").AssertExit(t, 1)
		assertOneLineError(t, res)
		if !strings.Contains(res.Stderr, "cannot reach registry index.docker.io") {
			t.Errorf("want Docker Hub's failure:\n%s", res)
		}
		if got := s.first.Stats().Requests - before; got != 0 {
			t.Errorf("the mirror got %d requests for a push to docker.io:\n%s", got, strings.Join(s.first.Journal(), "\n"))
		}
	})

	t.Run("insecure registry of the engine", func(t *testing.T) {
		cli := offline(t, NewCLI(t).WithEngine(s.engine))
		dstRef := s.insecure.Ref("e2e/alpine:3.20")
		res := cli.RunDocker(t, "migrate", s.dst.Ref("local/alpine:3.20"), dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, mustHash(t, s.local))
		if want := s.insecure.Host + " is an insecure registry in the engine's settings"; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	})
}

// TestMirrorsNoEngine: with no engine to read settings from, Docker Hub is
// asked directly (and cannot be reached here), unless --registry-mirror
// names a mirror; a bad mirror URL is bad input.
func TestMirrorsNoEngine(t *testing.T) {
	t.Parallel()
	mirror := startRegistry(t, registryOptions{})
	digest := pushFixture(t, mirror, mirror.Ref("library/alpine:3.20"), fixtureCases[1].opts, false)
	remote := startRegistry(t, registryOptions{host: startTestHost(t)})
	dst := startRegistry(t, registryOptions{})
	cli := offline(t, NewCLI(t))

	t.Run("Docker Hub unreachable", func(t *testing.T) {
		start := time.Now()
		res := cli.RunDocker(t, "-D", "migrate", "alpine:3.20", dst.Ref("hub/alpine:3.20")).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "cannot reach registry index.docker.io") {
			t.Errorf("stderr lacks Docker Hub's failure:\n%s", res)
		}
		if !strings.Contains(res.Stderr, "the engine's registry settings were not read") {
			t.Errorf("-D does not say the engine's settings were not read:\n%s", res)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("took %s: Docker Hub must fail fast here", d)
		}
	})

	t.Run("--registry-mirror", func(t *testing.T) {
		dstRef := dst.Ref("hub/flag:3.20")
		res := cli.RunDocker(t, "migrate", "--registry-mirror", "http://"+mirror.Host, "alpine:3.20", dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		if want := "via mirror http://" + mirror.Host; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	})

	t.Run("the mirror's own login", func(t *testing.T) {
		private := startRegistry(t, registryOptions{htpasswd: true})
		want := pushFixture(t, private, private.Ref("library/alpine:3.20"), fixtureCases[1].opts, false)
		cli := offline(t, NewCLI(t))
		args := []string{"migrate", "--registry-mirror", "http://" + private.Host, "alpine:3.20", dst.Ref("hub/login:3.20")}
		res := cli.RunDocker(t, args...).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "mirror http://"+private.Host+": unauthorized: run 'docker login "+private.Host+"'") {
			t.Errorf("stderr does not name the mirror that refused:\n%s", res)
		}
		cli.Login(t, private)
		res = cli.RunDocker(t, args...).AssertSuccess(t)
		assertResultLine(t, res, dst.Ref("hub/login:3.20"), want)
	})

	t.Run("bad mirror URL", func(t *testing.T) {
		for _, bad := range []string{"ftp://" + mirror.Host, "http://user:s3cret@" + mirror.Host, "http://" + mirror.Host + "/?x=1"} {
			res := cli.RunDocker(t, "migrate", "--registry-mirror", bad, "alpine:3.20", dst.Ref("hub/bad:3.20")).AssertExit(t, 125)
			assertUsageSentence(t, res)
			if strings.Contains(res.Stderr, "s3cret") {
				t.Errorf("the password is in the output:\n%s", res)
			}
		}
	})

	t.Run("insecure registry without the engine's setting", func(t *testing.T) {
		dstRef := remote.Ref("e2e/alpine:3.20")
		res := cli.RunDocker(t, "migrate", mirror.Ref("library/alpine:3.20"), dstRef).AssertExit(t, 1)
		assertOneLineError(t, res)
		for _, want := range []string{"--insecure=" + remote.Host, "insecure-registries"} {
			if !strings.Contains(res.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res)
			}
		}
		assertAbsent(t, remote, dstRef)
	})
}

// TestHostsToml: a containerd-style hosts.toml in certs.d gives a registry
// other than docker.io a mirror, and skip_verify trusts a registry's
// self-signed certificate, as the engine with the containerd image store
// does.
func TestHostsToml(t *testing.T) {
	t.Parallel()
	mirror := startRegistry(t, registryOptions{})
	digest := pushFixture(t, mirror, mirror.Ref("team/app:v1"), fixtureCases[1].opts, false)
	tlsReg := startRegistry(t, registryOptions{tls: true})
	dst := startRegistry(t, registryOptions{})
	gone := closedPort(t)

	t.Run("mirror for another registry", func(t *testing.T) {
		cli := NewCLI(t)
		writeHostsToml(t, cli, gone, fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+gone, "http://"+mirror.Host))
		dstRef := dst.Ref("via/app:v1")
		res := cli.RunDocker(t, "migrate", gone+"/team/app:v1", dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
		if want := "via mirror http://" + mirror.Host; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	})

	t.Run("Docker Hub's hosts.toml", func(t *testing.T) {
		cli := offline(t, NewCLI(t))
		hub := pushFixture(t, mirror, mirror.Ref("library/alpine:3.20"), fixtureCases[0].opts, false)
		writeHostsToml(t, cli, "docker.io", fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "https://registry-1.docker.io", "http://"+mirror.Host))
		dstRef := dst.Ref("hub/alpine:3.20")
		res := cli.RunDocker(t, "migrate", "alpine:3.20", dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, hub)
		if want := "via mirror http://" + mirror.Host; !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
		// A pull-only mirror is not trusted with tags: Docker Hub is asked.
		writeHostsToml(t, cli, "docker.io", fmt.Sprintf("[host.%q]\n  capabilities = [\"pull\"]\n", "http://"+mirror.Host))
		res = cli.RunDocker(t, "migrate", "alpine:3.20", dstRef).AssertExit(t, 1)
		if !strings.Contains(res.Stderr, "cannot reach registry index.docker.io") || strings.Contains(res.Stderr, "via mirror") {
			t.Errorf("want Docker Hub's failure alone:\n%s", res)
		}
	})

	t.Run("skip_verify", func(t *testing.T) {
		cli := NewCLI(t)
		dstRef := tlsReg.Ref("e2e/app:v1")
		res := cli.RunDocker(t, "migrate", mirror.Ref("team/app:v1"), dstRef)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "unknown authority") {
			t.Fatalf("want the unknown-authority sentence first:\n%s", res)
		}
		writeHostsToml(t, cli, tlsReg.Host, "skip_verify = true\n")
		res = cli.RunDocker(t, "migrate", mirror.Ref("team/app:v1"), dstRef).AssertSuccess(t)
		assertResultLine(t, res, dstRef, digest)
	})
}

// TestHostsTomlBroken: a hosts.toml that cannot be parsed is bad input, one
// sentence naming the file and the line, and nothing is written.
func TestHostsTomlBroken(t *testing.T) {
	t.Parallel()
	src := startRegistry(t, registryOptions{})
	pushFixture(t, src, src.Ref("team/app:v1"), fixtureCases[1].opts, false)
	dst := startRegistry(t, registryOptions{})
	cli := NewCLI(t)
	writeHostsToml(t, cli, src.Host, "[host.\"http://m.lan\"]\ncapabilities = [\"pull\"\n")
	res := cli.RunDocker(t, "migrate", src.Ref("team/app:v1"), dst.Ref("e2e/app:v1")).AssertExit(t, 125)
	assertOneLineError(t, res)
	for _, want := range []string{filepath.Join(cli.ConfigDir, "certs.d", src.Host, "hosts.toml"), "line "} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res)
		}
	}
	assertAbsent(t, dst, dst.Ref("e2e/app:v1"))
}

// writeHostsToml puts a hosts.toml for host in the CLI's certs.d.
func writeHostsToml(t *testing.T, cli *CLI, host, text string) {
	t.Helper()
	dir := filepath.Join(cli.ConfigDir, "certs.d", host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// offline makes Docker Hub (and anything else that is neither loopback nor
// a test host) unreachable for cli, at once and on every machine: its
// proxy is a port where connections are refused. Without it, a machine
// with internet access would reach the real Docker Hub.
func offline(t testing.TB, cli *CLI) *CLI {
	proxy := "http://" + closedPort(t)
	cli.SetEnv("HTTPS_PROXY", proxy)
	cli.SetEnv("HTTP_PROXY", proxy)
	cli.SetEnv("NO_PROXY", "localhost,127.0.0.1,10.0.0.0/8")
	return cli
}

func mustHash(t testing.TB, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
