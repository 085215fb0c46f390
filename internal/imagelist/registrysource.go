package imagelist

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	loc "github.com/docker-migrate/docker-migrate/internal/location"
)

// RegistrySource is what `-r` and `type: registry` name: a registry, and
// optionally a namespace path under it whose repositories are meant.
type RegistrySource struct {
	Host      string // "old.lan:5000", "docker.io"
	Namespace string // "team", "team/sub"; "" for the whole registry
}

// String is the source as written back: HOST or HOST/NAMESPACE.
func (s RegistrySource) String() string {
	if s.Namespace == "" {
		return s.Host
	}
	return s.Host + "/" + s.Namespace
}

// Holds reports whether the repository path (as the catalog lists it, without
// the host) is under the namespace.
func (s RegistrySource) Holds(repoPath string) bool {
	return s.Namespace == "" || strings.HasPrefix(repoPath, s.Namespace+"/")
}

const registrySourceExample = "old.lan:5000 or old.lan:5000/team"

// ParseRegistrySource reads HOST[/NAMESPACE]. The host must be written (a
// dot, a port or localhost), since "team" alone would be read as a Docker Hub
// name; a tag or digest is refused: a registry entry copies every repository's
// selected tags. The error is one sentence.
func ParseRegistrySource(s string) (RegistrySource, error) {
	host, ns, _ := strings.Cut(strings.TrimSuffix(s, "/"), "/")
	if host == "" {
		return RegistrySource{}, fmt.Errorf("%q names no registry; write HOST[/NAMESPACE], e.g. %s", s, registrySourceExample)
	}
	if !loc.IsDomain(hostName(host)) && !strings.Contains(host, ":") {
		return RegistrySource{}, fmt.Errorf("%q does not start with a registry host (one with a dot, a port, or localhost); write HOST[/NAMESPACE], e.g. %s, or docker.io/%s for a Docker Hub namespace", s, registrySourceExample, s)
	}
	if err := loc.CheckHost(host); err != nil {
		return RegistrySource{}, fmt.Errorf("%q has %v", s, err)
	}
	if ns == "" {
		return RegistrySource{Host: host}, nil
	}
	// Parsed under a stand-in host: docker.io would add library/ to a
	// one-component path, which for a namespace is wrong (docker.io/bitnami).
	named, err := reference.ParseNormalizedNamed("registry.invalid/" + ns)
	if err != nil {
		return RegistrySource{}, fmt.Errorf("%q is not HOST[/NAMESPACE] (the path is lowercase letters, digits and separators); write e.g. %s", s, registrySourceExample)
	}
	if _, ok := named.(reference.Tagged); ok {
		return RegistrySource{}, fmt.Errorf("%q has a tag, but a registry source copies every repository under it; name the registry or namespace alone (%s/%s), and select tags with tags: or --include-tag", s, host, reference.Path(named))
	}
	if _, ok := named.(reference.Digested); ok {
		return RegistrySource{}, fmt.Errorf("%q has a digest, but a registry source copies every repository under it; name the registry or namespace alone (%s/%s)", s, host, reference.Path(named))
	}
	return RegistrySource{Host: host, Namespace: reference.Path(named)}, nil
}

// hostName is host without its port.
func hostName(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i > 0 {
			return host[1:i]
		}
	}
	h, _, _ := strings.Cut(host, ":")
	return h
}

// RepoFilter selects repositories of a registry entry by their path (without
// the host). As in regsync, each pattern is anchored: "team/.*" matches the
// whole path, never a part of it. The zero value selects every repository.
type RepoFilter struct {
	allow, deny []*regexp.Regexp
	text        []string // as written, for messages
}

// NewRepoFilter compiles allow and deny patterns; the error names the bad one.
func NewRepoFilter(allow, deny []string) (RepoFilter, error) {
	var f RepoFilter
	for _, list := range []struct {
		name  string
		texts []string
		into  *[]*regexp.Regexp
	}{{"allow", allow, &f.allow}, {"deny", deny, &f.deny}} {
		for _, text := range list.texts {
			re, msg := compileRepoPattern(list.name, text)
			if msg != "" {
				return RepoFilter{}, fmt.Errorf("%s", msg)
			}
			*list.into = append(*list.into, re)
			f.text = append(f.text, list.name+" `"+text+"`")
		}
	}
	return f, nil
}

func compileRepoPattern(list, text string) (*regexp.Regexp, string) {
	re, err := regexp.Compile("^(?:" + text + ")$")
	if err != nil {
		if _, err2 := regexp.Compile(text); err2 != nil {
			err = err2
		}
		return nil, fmt.Sprintf("repos %s pattern %q is not a valid regular expression (%v); write an RE2 pattern matched against the whole repository path, such as team/.*", list, text, err)
	}
	return re, ""
}

// Empty reports that no repository selection was given.
func (f RepoFilter) Empty() bool { return len(f.allow) == 0 && len(f.deny) == 0 }

// Selects reports whether the repository path is selected: allowed (or no
// allow list) and not denied.
func (f RepoFilter) Selects(repoPath string) bool {
	if len(f.allow) > 0 && !anyMatch(f.allow, repoPath) {
		return false
	}
	return !anyMatch(f.deny, repoPath)
}

// String gives the selection as written.
func (f RepoFilter) String() string {
	if f.Empty() {
		return "every repository"
	}
	return strings.Join(f.text, "; ")
}
