package plugin

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/moby/moby/client"
)

// engineInfoTimeout bounds the one /info call a run makes for the engine's
// registry settings: an engine that does not answer at once is taken as
// absent, not waited for.
const engineInfoTimeout = 3 * time.Second

// EngineRegistry is the registry configuration of the engine of the current
// context (its daemon.json registry-mirrors and insecure-registries), as
// `docker info` shows it. It is read once, on first use.
type EngineRegistry struct {
	dockerCli command.Cli
	debugf    func(format string, args ...any)
	once      sync.Once
	settings  registrySettings
}

type registrySettings struct {
	read    bool
	mirrors []string
	// insecure holds the index names the engine lists as not secure, secure
	// those it lists as secure (which no CIDR makes insecure).
	insecure, secure map[string]bool
	cidrs            []netip.Prefix
}

// NewEngineRegistry reads nothing yet; debugf says (under -D) whether the
// settings could be read.
func NewEngineRegistry(dockerCli command.Cli, debugf func(format string, args ...any)) *EngineRegistry {
	return &EngineRegistry{dockerCli: dockerCli, debugf: debugf}
}

func (e *EngineRegistry) load() registrySettings {
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), engineInfoTimeout)
		defer cancel()
		host := e.dockerCli.DockerEndpoint().Host
		info, err := e.info(ctx)
		if err != nil {
			e.debugf("the engine's registry settings were not read (%s): %v", host, err)
			return
		}
		s := registrySettings{read: true, insecure: map[string]bool{}, secure: map[string]bool{}}
		if rc := info.Info.RegistryConfig; rc != nil {
			s.mirrors = rc.Mirrors
			s.cidrs = rc.InsecureRegistryCIDRs
			for name, idx := range rc.IndexConfigs {
				if idx != nil {
					if idx.Secure {
						s.secure[name] = true
					} else {
						s.insecure[name] = true
					}
				}
			}
		}
		e.debugf("the engine's registry settings (%s): mirrors %v, insecure registries %v, insecure CIDRs %v", host, s.mirrors, keys(s.insecure), s.cidrs)
		e.settings = s
	})
	return e.settings
}

// info asks the engine, giving up when ctx ends even if the client does not.
func (e *EngineRegistry) info(ctx context.Context) (client.SystemInfoResult, error) {
	type answer struct {
		info client.SystemInfoResult
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		info, err := e.dockerCli.Client().Info(ctx, client.InfoOptions{})
		ch <- answer{info, err}
	}()
	select {
	case a := <-ch:
		return a.info, a.err
	case <-ctx.Done():
		return client.SystemInfoResult{}, ctx.Err()
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Mirrors are the engine's registry mirrors for docker.io, in order; nil
// when it has none or could not be asked.
func (e *EngineRegistry) Mirrors() []string { return e.load().mirrors }

// Insecure reports whether the engine would reach host over plain HTTP or
// unverified TLS, as moby decides it: its index config for the host if it
// has one, else whether an address of the host is in an insecure CIDR.
// Loopback is not counted here: the plugin allows it already.
func (e *EngineRegistry) Insecure(host string) bool {
	return e.load().insecureHost(host, func(ctx context.Context, h string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	})
}

// insecureHost is Insecure over settings s, looking names up with lookup.
func (s registrySettings) insecureHost(host string, lookup func(ctx context.Context, host string) ([]netip.Addr, error)) bool {
	if !s.read {
		return false
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	for _, name := range []string{host, strings.ToLower(host), h} {
		if s.insecure[name] {
			return true
		}
		if s.secure[name] {
			return false
		}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), engineInfoTimeout)
		defer cancel()
		ips, err := lookup(ctx, h)
		if err != nil {
			return false
		}
		addrs = ips
	}
	for _, a := range addrs {
		if a.IsLoopback() {
			continue
		}
		for _, p := range s.cidrs {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
	}
	return false
}
