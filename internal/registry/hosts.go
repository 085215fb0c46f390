package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Endpoint is one place a registry's content is read from: a mirror (a
// daemon.json registry-mirror, --registry-mirror, a [host."URL"] of
// hosts.toml) or the registry's own server.
type Endpoint struct {
	// URL is the endpoint's API root: scheme, host and path, ending in /v2
	// unless override_path says the path is the root itself.
	URL url.URL
	// Mirror is set for every endpoint that is not the registry itself.
	Mirror bool
	// Pull (by digest) and Resolve (a tag to a digest) are the hosts.toml
	// capabilities; push is never asked of an endpoint.
	Pull, Resolve bool
	// SkipVerify, CAFiles and ClientPairs are its TLS settings from hosts.toml.
	SkipVerify  bool
	CAFiles     []string
	ClientPairs [][2]string
	// Namespace, for a hosts.toml mirror, is the registry it stands in for,
	// sent as ?ns=REGISTRY as containerd does (a mirror of several
	// registries tells them apart by it).
	Namespace string
}

// Host is the endpoint's host[:port].
func (e Endpoint) Host() string { return e.URL.Host }

// String names the endpoint in messages: scheme, host and any path before /v2.
func (e Endpoint) String() string {
	u := e.URL
	u.Path = strings.TrimSuffix(u.Path, "/v2")
	return strings.TrimSuffix(u.String(), "/")
}

// ValidateMirror checks a registry mirror's URL as the engine does
// (moby's registry.ValidateMirror): http or https, no query, fragment or
// credentials. It returns the endpoint the mirror is, pull and resolve.
func ValidateMirror(s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("invalid registry mirror %q: not a URL; give one such as https://mirror.example.com", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Endpoint{}, fmt.Errorf("invalid registry mirror %q: the scheme must be http or https, as in https://mirror.example.com", s)
	}
	if u.Host == "" {
		return Endpoint{}, fmt.Errorf("invalid registry mirror %q: no host; give one such as https://mirror.example.com", s)
	}
	if u.User != nil {
		// Never echo a password: the URL is named without its user part.
		u.User = nil
		return Endpoint{}, fmt.Errorf("invalid registry mirror %s: credentials do not go in the URL; run 'docker login %s'", u.Redacted(), u.Host)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return Endpoint{}, fmt.Errorf("invalid registry mirror %q: a mirror URL has no query or fragment", s)
	}
	return Endpoint{URL: apiRoot(u, false), Mirror: true, Pull: true, Resolve: true}, nil
}

// apiRoot is u with the /v2 of the distribution API appended to its path
// (unless overridePath says the path is the API root already), as
// containerd's hosts.toml reader does.
func apiRoot(u *url.URL, overridePath bool) url.URL {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if r.Path != "" {
		r.Path = path.Clean("/" + r.Path)
		if r.Path == "/" {
			r.Path = ""
		}
	}
	if !overridePath && !strings.HasSuffix(r.Path, "/v2") {
		r.Path += "/v2"
	}
	return r
}

// HostsFile is what a hosts.toml says about one registry: its mirrors in the
// order they are tried, then its server.
type HostsFile struct {
	// Path is the file, for messages.
	Path string
	// Endpoints are the [host."URL"] entries in the order of the file, and
	// last the server (the registry itself unless `server` names another).
	Endpoints []Endpoint
}

// hostsFields are the fields of a hosts.toml that docker-migrate uses, at
// the root (for the server) and in each [host."URL"] table.
type hostsFields struct {
	Capabilities []string `toml:"capabilities"`
	CA           any      `toml:"ca"`
	Client       any      `toml:"client"`
	SkipVerify   *bool    `toml:"skip_verify"`
	OverridePath bool     `toml:"override_path"`
}

// ParseHostsFile reads a hosts.toml (containerd's docs/hosts.md) for
// registry host, found in dir (relative paths in it are relative to dir).
func ParseHostsFile(dir, host string, data []byte) (HostsFile, error) {
	f := HostsFile{Path: filepath.Join(dir, "hosts.toml")}
	var doc struct {
		hostsFields
		Server string                 `toml:"server"`
		Host   map[string]hostsFields `toml:"host"`
	}
	if err := toml.Unmarshal(data, &doc); err != nil {
		return f, fmt.Errorf("%s: %s", f.Path, tomlMessage(err))
	}
	order, err := hostsOrder(data)
	if err != nil {
		return f, fmt.Errorf("%s: %s", f.Path, tomlMessage(err))
	}
	for _, h := range order {
		e, err := parseHostEntry(dir, h, doc.Host[h], true)
		if err != nil {
			return f, fmt.Errorf("%s: [host.%q]: %v", f.Path, h, err)
		}
		e.Namespace = host
		f.Endpoints = append(f.Endpoints, e)
	}
	server, mirror := doc.Server, true
	if server == "" || sameRegistry(serverHost(server), host) {
		// No server: the registry itself, as containerd does.
		if server == "" {
			server = "https://" + host
		}
		mirror = false
	}
	e, err := parseHostEntry(dir, server, doc.hostsFields, mirror)
	if err != nil {
		return f, fmt.Errorf("%s: server: %v", f.Path, err)
	}
	if mirror {
		e.Namespace = host
	}
	f.Endpoints = append(f.Endpoints, e)
	return f, nil
}

// serverHost is the host[:port] of a server or host key, with or without
// its scheme.
func serverHost(s string) string {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

// sameRegistry reports whether a and b name the same registry; Docker Hub
// goes by several names.
func sameRegistry(a, b string) bool {
	hub := func(h string) bool {
		return h == "docker.io" || h == "index.docker.io" || h == "registry-1.docker.io"
	}
	return strings.EqualFold(a, b) || (hub(a) && hub(b))
}

func parseHostEntry(dir, key string, c hostsFields, mirror bool) (Endpoint, error) {
	s := key
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return Endpoint{}, fmt.Errorf("%q is not a registry URL", key)
	}
	if u.User != nil {
		return Endpoint{}, errors.New("credentials do not go in the URL; use 'docker login'")
	}
	e := Endpoint{URL: apiRoot(u, c.OverridePath), Mirror: mirror, Pull: true, Resolve: true}
	if len(c.Capabilities) > 0 {
		e.Pull, e.Resolve = false, false
		for _, cap := range c.Capabilities {
			switch strings.ToLower(cap) {
			case "pull":
				e.Pull = true
			case "resolve":
				e.Resolve = true
			case "push":
				// Pushes go to the registry itself, never to a mirror.
			default:
				return Endpoint{}, fmt.Errorf("unknown capability %q: expected pull, resolve or push", cap)
			}
		}
	}
	if c.SkipVerify != nil {
		e.SkipVerify = *c.SkipVerify
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	switch ca := c.CA.(type) {
	case nil:
	case string:
		e.CAFiles = []string{abs(ca)}
	case []any:
		for _, v := range ca {
			p, ok := v.(string)
			if !ok {
				return Endpoint{}, errors.New(`"ca" holds something other than file names`)
			}
			e.CAFiles = append(e.CAFiles, abs(p))
		}
	default:
		return Endpoint{}, errors.New(`"ca" must be a file name or a list of them`)
	}
	switch cl := c.Client.(type) {
	case nil:
	case string:
		e.ClientPairs = [][2]string{{abs(cl), ""}}
	case []any:
		for _, v := range cl {
			switch p := v.(type) {
			case string:
				e.ClientPairs = append(e.ClientPairs, [2]string{abs(p), ""})
			case []any:
				if len(p) != 2 {
					return Endpoint{}, errors.New(`"client" pairs are [CERT, KEY]`)
				}
				cert, ok1 := p[0].(string)
				key, ok2 := p[1].(string)
				if !ok1 || !ok2 {
					return Endpoint{}, errors.New(`"client" pairs are [CERT, KEY]`)
				}
				if key != "" {
					key = abs(key)
				}
				e.ClientPairs = append(e.ClientPairs, [2]string{abs(cert), key})
			default:
				return Endpoint{}, errors.New(`"client" must be a file name, a list of them, or [CERT, KEY] pairs`)
			}
		}
	default:
		return Endpoint{}, errors.New(`"client" must be a file name, a list of them, or [CERT, KEY] pairs`)
	}
	return e, nil
}

// hostsOrder lists the [host."URL"] tables in the order the file gives them:
// the order mirrors are tried in, which a map loses.
func hostsOrder(data []byte) ([]string, error) {
	var p unstable.Parser
	p.Reset(data)
	var order []string
	seen := map[string]bool{}
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table && e.Kind != unstable.ArrayTable {
			continue
		}
		var parts []string
		for it := e.Key(); it.Next(); {
			parts = append(parts, string(it.Node().Data))
		}
		// [host."URL"], not [host."URL".header].
		if len(parts) == 2 && parts[0] == "host" && !seen[parts[1]] {
			seen[parts[1]] = true
			order = append(order, parts[1])
		}
	}
	return order, p.Error()
}

// tomlMessage is a TOML error with its line, in one line.
func tomlMessage(err error) string {
	if de, ok := errors.AsType[*toml.DecodeError](err); ok {
		row, col := de.Position()
		return fmt.Sprintf("line %d, column %d: %s", row, col, de.Error())
	}
	if pe, ok := errors.AsType[*unstable.ParserError](err); ok {
		return pe.Message
	}
	return err.Error()
}

// hostsDirNames are the directories a hosts.toml for host is looked for
// in, in containerd's order: HOST_PORT_, HOST:PORT (HOSTPORT on Windows),
// then _default.
func hostsDirNames(host string) []string {
	var names []string
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		names = append(names, host[:i]+"_"+host[i+1:]+"_")
	}
	return append(names, certsDirName(host), "_default")
}

// LoadHostsFile finds and reads the hosts.toml for registry host under the
// certs.d directories dirs (the first one that has one wins), as containerd
// looks it up. Docker Hub's is docker.io/hosts.toml. It returns nil when
// there is none, and a file it cannot use as errdefs.InvalidArgument.
func LoadHostsFile(dirs []string, host string) (*HostsFile, error) {
	ns := host
	if sameRegistry(host, "docker.io") {
		ns = "docker.io"
	}
	for _, dir := range dirs {
		for _, n := range hostsDirNames(ns) {
			hostDir := filepath.Join(dir, n)
			data, err := os.ReadFile(filepath.Join(hostDir, "hosts.toml"))
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", filepath.Join(hostDir, "hosts.toml"), err)
			}
			f, err := ParseHostsFile(hostDir, ns, data)
			if err != nil {
				return nil, errdefs.Wrap(err, errdefs.InvalidArgument, "%v; fix the file or move it away", err)
			}
			return &f, nil
		}
	}
	return nil, nil
}
