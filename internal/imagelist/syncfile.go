package imagelist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The spec types mirror the sync file for a strict decode (KnownFields), which
// turns any key not listed here into an error. Leaves are yaml.Nodes so that
// each value keeps its line and a wrong type gets our sentence, not the
// library's.
type syncFileSpec struct {
	Version  yaml.Node    `yaml:"version"`
	Creds    yaml.Node    `yaml:"creds"` // known only to be refused with a reason
	Defaults defaultsSpec `yaml:"defaults"`
	Sync     []*entrySpec `yaml:"sync"` // pointers: a null item stays in place as nil
}

type defaultsSpec struct {
	Platforms yaml.Node   `yaml:"platforms"`
	Parallel  yaml.Node   `yaml:"parallel"` // regsync's name
	Jobs      yaml.Node   `yaml:"jobs"`     // docker migrate's flag name
	Verify    *verifySpec `yaml:"verify"`
}

type entrySpec struct {
	Source    yaml.Node   `yaml:"source"`
	Target    yaml.Node   `yaml:"target"`
	Type      yaml.Node   `yaml:"type"`
	Platforms yaml.Node   `yaml:"platforms"`
	Tags      *tagsSpec   `yaml:"tags"`
	Repos     *reposSpec  `yaml:"repos"`
	Verify    *verifySpec `yaml:"verify"`
}

// verifySpec is `verify: {keys: [FILE…]}`: the cosign public keys one of
// which must have signed the image (--verify-key).
type verifySpec struct {
	Keys yaml.Node `yaml:"keys"`
}

type tagsSpec struct {
	Allow       yaml.Node `yaml:"allow"`
	Deny        yaml.Node `yaml:"deny"`
	SemverRange yaml.Node `yaml:"semverRange"`
	Latest      yaml.Node `yaml:"latest"`
}

// reposSpec selects the repositories of a `type: registry` entry.
type reposSpec struct {
	Allow yaml.Node `yaml:"allow"`
	Deny  yaml.Node `yaml:"deny"`
}

const maxJobs = 64

const credsRefused = "creds are not read from this file; credentials come from `docker login`, never from a list, so remove the creds section"

var platformPart = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// syncFile parses one sync file; it carries the name for errors and the
// nodes of the plain decode, which know the line of each entry.
type syncFile struct {
	file    string
	entries []*yaml.Node // the items under sync:, in order, aliases unresolved
}

func parseSyncFile(file string, data []byte) ([]Entry, Defaults, error) {
	p := &syncFile{file: file}

	// A plain decode first: it reports syntax errors, and its nodes give each
	// entry's line, which the struct decode below cannot keep for a mapping.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Defaults{}, p.noImages()
		}
		return nil, Defaults{}, p.yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Defaults{}, p.yamlError(err)
		}
		return nil, Defaults{}, p.errorf(extra.Line, "a second YAML document starts here; a sync file holds one, so remove the extra `---` and merge the sync lists")
	}
	if err := p.checkTopLevel(&root); err != nil {
		return nil, Defaults{}, err
	}

	var spec syncFileSpec
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil && !errors.Is(err, io.EOF) {
		return nil, Defaults{}, p.yamlError(err)
	}

	if given(&spec.Creds) { // only a merge key (<<) gets creds past checkTopLevel
		return nil, Defaults{}, p.errorf(spec.Creds.Line, "%s", credsRefused)
	}
	if given(&spec.Version) {
		v, line, err := p.scalar(&spec.Version, "version", "version: 1")
		if err != nil {
			return nil, Defaults{}, err
		}
		if v != "1" {
			return nil, Defaults{}, p.errorf(line, "version %q is not supported; write version: 1 or leave it out", v)
		}
	}
	defaults, err := p.defaults(spec.Defaults)
	if err != nil {
		return nil, Defaults{}, err
	}
	var entries []Entry
	for i, fields := range spec.Sync {
		entry, err := p.entry(i, fields)
		if err != nil {
			return nil, Defaults{}, err
		}
		entries = append(entries, entry)
	}
	if len(entries) == 0 {
		return nil, Defaults{}, p.noImages()
	}
	return entries, defaults, nil
}

// checkTopLevel refuses creds before anything else, and records the nodes of
// the sync entries. Shapes it does not expect are left to the strict decode,
// which explains them.
func (p *syncFile) checkTopLevel(root *yaml.Node) error {
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = resolve(top.Content[0])
	}
	if top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, value := top.Content[i], resolve(top.Content[i+1])
		switch key.Value {
		case "creds":
			return p.errorf(key.Line, "%s", credsRefused)
		case "sync":
			if value.Kind == yaml.SequenceNode {
				p.entries = value.Content
			}
		}
	}
	return nil
}

func (p *syncFile) defaults(spec defaultsSpec) (Defaults, error) {
	var d Defaults
	var err error
	if d.Platforms, err = p.platforms(&spec.Platforms); err != nil {
		return Defaults{}, err
	}
	jobs, name := &spec.Parallel, "parallel"
	if given(&spec.Jobs) {
		if given(&spec.Parallel) {
			return Defaults{}, p.errorf(spec.Jobs.Line, "defaults give both parallel and jobs, which are the same setting; keep one")
		}
		jobs, name = &spec.Jobs, "jobs"
	}
	if given(jobs) {
		v, line, err := p.scalar(jobs, name, name+": 4")
		if err != nil {
			return Defaults{}, err
		}
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > maxJobs {
			return Defaults{}, p.errorf(line, "%s %q is not a whole number from 1 to %d; write e.g. %s: 4", name, v, maxJobs, name)
		}
		d.Jobs = n
	}
	if d.VerifyKeys, err = p.verifyKeys(spec.Verify); err != nil {
		return Defaults{}, err
	}
	return d, nil
}

// verifyKeys reads verify: {keys: [FILE…]}. A relative path is relative to
// the sync file's directory, so that the file and its keys move together.
func (p *syncFile) verifyKeys(spec *verifySpec) ([]string, error) {
	if spec == nil {
		return nil, nil
	}
	items, err := p.stringList(&spec.Keys, "keys", "verify: {keys: [cosign.pub]}")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, p.errorf(spec.Keys.Line, "verify has no keys; write e.g. verify: {keys: [cosign.pub]}, or leave verify out")
	}
	out := []string{}
	for _, item := range items {
		if strings.TrimSpace(item.text) == "" {
			return nil, p.errorf(item.line, "keys has an empty entry; write the path of a cosign public key, e.g. keys: [cosign.pub]")
		}
		path := item.text
		if !filepath.IsAbs(path) && p.file != "-" {
			path = filepath.Join(filepath.Dir(p.file), path)
		}
		out = append(out, path)
	}
	return out, nil
}

func (p *syncFile) entry(i int, spec *entrySpec) (Entry, error) {
	if spec == nil {
		spec = &entrySpec{} // `-` alone: reported below as having no source
	}
	entry := Entry{File: p.file, Line: p.entryLine(i, spec)}

	if given(&spec.Type) {
		typ, line, err := p.scalar(&spec.Type, "type", "type: repository")
		if err != nil {
			return Entry{}, err
		}
		switch typ {
		case "image":
		case "repository":
			entry.Repository = true
		case "registry":
			entry.Registry = true
		default:
			return Entry{}, p.errorf(line, "type %q is not image, repository or registry; write type: image (one image, the default), type: repository (a repository's selected tags) or type: registry (every repository under a registry or namespace)", typ)
		}
	}

	if !given(&spec.Source) {
		return Entry{}, p.errorf(entry.Line, "this sync entry has no source; add one, e.g. source: %s", referenceExample)
	}
	var err error
	if entry.Registry {
		if entry.Source, err = p.registrySource(&spec.Source); err != nil {
			return Entry{}, err
		}
	} else if entry.Source, err = p.location(&spec.Source, "source", entry.Repository); err != nil {
		return Entry{}, err
	}
	if given(&spec.Target) {
		if entry.Target, err = p.location(&spec.Target, "target", entry.Repository || entry.Registry); err != nil {
			return Entry{}, err
		}
	}
	if spec.Repos != nil {
		if !entry.Registry {
			return Entry{}, p.errorf(p.keyLine(i, "repos", entry.Line), "repos apply only to type: registry; name one repository in source with type: repository instead, or add type: registry")
		}
		if entry.Repos, err = p.repoFilter(spec.Repos); err != nil {
			return Entry{}, err
		}
	}
	if entry.Platforms, err = p.platforms(&spec.Platforms); err != nil {
		return Entry{}, err
	}
	if spec.Tags != nil {
		if !entry.Repository && !entry.Registry {
			return Entry{}, p.errorf(p.keyLine(i, "tags", entry.Line), "tags apply only to type: repository and type: registry; for one image put the tag in source (e.g. source: nginx:1.27), or add type: repository")
		}
		if entry.Tags, err = p.tagFilter(spec.Tags); err != nil {
			return Entry{}, err
		}
	}
	if entry.VerifyKeys, err = p.verifyKeys(spec.Verify); err != nil {
		return Entry{}, err
	}
	return entry, nil
}

// location reads a source or target. A repository entry copies many tags, so
// both its ends must be registry repositories without a tag or digest.
func (p *syncFile) location(n *yaml.Node, name string, repository bool) (string, error) {
	s, line, err := p.scalar(n, name, name+": "+referenceExample)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", p.errorf(line, "%s is empty; write e.g. %s: %s", name, name, referenceExample)
	}
	loc, msg := parseLocation(s)
	if msg != "" {
		return "", p.errorf(line, "%s %s", name, msg)
	}
	if repository && loc.transport != "" {
		return "", p.errorf(line, "%s %q is a %s location, but a repository entry lists tags from a registry; use type: image for it", name, s, strings.TrimSuffix(loc.transport, ":"))
	}
	if repository && loc.hasTagOrDigest() {
		return "", p.errorf(line, "%s %q of a repository entry has a tag or digest; name the repository alone (e.g. docker.io/library/busybox) and select tags under tags:", name, s)
	}
	return s, nil
}

// platforms reads a list of os/arch[/variant], also accepting one string that
// may be comma-separated, as --platform does.
func (p *syncFile) platforms(n *yaml.Node) ([]string, error) {
	items, err := p.stringList(n, "platforms", "platforms: [linux/amd64, linux/arm64]")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, item := range items {
		for s := range strings.SplitSeq(item.text, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				// Not "every platform": a slip, as for --platform.
				return nil, p.errorf(item.line, "platforms has an empty entry; write os/arch[/variant] entries, e.g. platforms: [linux/amd64, linux/arm64], or leave platforms out for every platform")
			}
			if !isPlatform(s) {
				return nil, p.errorf(item.line, "platform %q is not os/arch[/variant] in lowercase; write e.g. linux/amd64 or linux/arm/v7", s)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func isPlatform(s string) bool {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for _, part := range parts {
		if !platformPart.MatchString(part) {
			return false
		}
	}
	return true
}

func (p *syncFile) tagFilter(spec *tagsSpec) (TagFilter, error) {
	var f TagFilter
	allow, err := p.stringList(&spec.Allow, "allow", `allow: ["^1\\.36"]`)
	if err != nil {
		return TagFilter{}, err
	}
	for _, item := range allow {
		re, msg := compileTagPattern("allow", item.text)
		if msg != "" {
			return TagFilter{}, p.errorf(item.line, "%s", msg)
		}
		f.allow = append(f.allow, re)
	}
	deny, err := p.stringList(&spec.Deny, "deny", `deny: ["-rc"]`)
	if err != nil {
		return TagFilter{}, err
	}
	for _, item := range deny {
		re, msg := compileTagPattern("deny", item.text)
		if msg != "" {
			return TagFilter{}, p.errorf(item.line, "%s", msg)
		}
		f.deny = append(f.deny, re)
	}
	ranges, err := p.stringList(&spec.SemverRange, "semverRange", `semverRange: ">=1.8 <2"`)
	if err != nil {
		return TagFilter{}, err
	}
	for _, item := range ranges {
		c, msg := compileSemverRange(item.text)
		if msg != "" {
			return TagFilter{}, p.errorf(item.line, "%s", msg)
		}
		f.ranges = append(f.ranges, c)
		f.rangeText = append(f.rangeText, item.text)
	}
	if given(&spec.Latest) {
		v, line, err := p.scalar(&spec.Latest, "latest", "latest: 5")
		if err != nil {
			return TagFilter{}, err
		}
		n, msg := ParseLatest(v)
		if msg != "" {
			return TagFilter{}, p.errorf(line, "latest %s", msg)
		}
		f.latest = n
	}
	return f, nil
}

// ParseLatest reads N of "the N newest tags": a whole number of 1 or more.
// The message, when it is not, reads after "latest" or "--latest".
func ParseLatest(s string) (int, string) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Sprintf("%q is not a whole number of 1 or more; give how many of the newest selected tags to keep, e.g. 5", s)
	}
	return n, ""
}

// registrySource reads the source of a type: registry entry: HOST[/NAMESPACE].
func (p *syncFile) registrySource(n *yaml.Node) (string, error) {
	s, line, err := p.scalar(n, "source", "source: "+registrySourceExample)
	if err != nil {
		return "", err
	}
	src, perr := ParseRegistrySource(s)
	if perr != nil {
		return "", p.errorf(line, "source of a registry entry: %v", perr)
	}
	return src.String(), nil
}

func (p *syncFile) repoFilter(spec *reposSpec) (RepoFilter, error) {
	var f RepoFilter
	for _, list := range []struct {
		name string
		node *yaml.Node
		into *[]*regexp.Regexp
	}{{"allow", &spec.Allow, &f.allow}, {"deny", &spec.Deny, &f.deny}} {
		items, err := p.stringList(list.node, list.name, list.name+`: ["team/.*"]`)
		if err != nil {
			return RepoFilter{}, err
		}
		for _, item := range items {
			re, msg := compileRepoPattern(list.name, item.text)
			if msg != "" {
				return RepoFilter{}, p.errorf(item.line, "%s", msg)
			}
			*list.into = append(*list.into, re)
			f.text = append(f.text, list.name+" `"+item.text+"`")
		}
	}
	return f, nil
}

// listItem is one string of a list value, with the line it was written on.
type listItem struct {
	text string
	line int
}

// stringList reads a string or a list of strings; nil when the key is absent
// or null.
func (p *syncFile) stringList(n *yaml.Node, name, example string) ([]listItem, error) {
	if !given(n) {
		return nil, nil
	}
	r := resolve(n)
	switch r.Kind {
	case yaml.ScalarNode:
		return []listItem{{text: r.Value, line: n.Line}}, nil
	case yaml.SequenceNode:
		items := make([]listItem, 0, len(r.Content))
		for _, child := range r.Content {
			c := resolve(child)
			if c.Kind != yaml.ScalarNode || c.ShortTag() == "!!null" {
				return nil, p.errorf(child.Line, "each item of %s must be a string; write e.g. %s", name, example)
			}
			items = append(items, listItem{text: c.Value, line: child.Line})
		}
		return items, nil
	}
	return nil, p.errorf(n.Line, "%s must be a string or a list of strings, not %s; write e.g. %s", name, describeNode(r), example)
}

// scalar reads a single string value and the line it was written on.
func (p *syncFile) scalar(n *yaml.Node, name, example string) (string, int, error) {
	r := resolve(n)
	if r.Kind != yaml.ScalarNode {
		return "", n.Line, p.errorf(n.Line, "%s must be a single value, not %s; write e.g. %s", name, describeNode(r), example)
	}
	if r.ShortTag() == "!!null" {
		return "", n.Line, nil
	}
	return r.Value, n.Line, nil
}

// entryLine is the line of the i-th sync entry, from the plain decode; the
// source's line stands in should the two decodes ever disagree.
func (p *syncFile) entryLine(i int, spec *entrySpec) int {
	if i < len(p.entries) && p.entries[i].Line > 0 {
		return p.entries[i].Line
	}
	if spec.Source.Line > 0 {
		return spec.Source.Line
	}
	return 1
}

// keyLine is the line of key in the i-th entry's mapping, or fallback.
func (p *syncFile) keyLine(i int, key string, fallback int) int {
	if i >= len(p.entries) {
		return fallback
	}
	m := resolve(p.entries[i])
	if m.Kind != yaml.MappingNode {
		return fallback
	}
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			return m.Content[j].Line
		}
	}
	return fallback
}

func (p *syncFile) noImages() *Error {
	return &Error{File: p.file, Msg: "the sync file has no images; list them under sync:, e.g. sync: [{source: " + referenceExample + "}]"}
}

func (p *syncFile) errorf(line int, format string, args ...any) *Error {
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// The yaml library's messages, which yamlError rewrites into sentences.
var (
	yamlSyntaxPattern    = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)
	yamlLinePattern      = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	yamlUnknownPattern   = regexp.MustCompile(`(?s)^field (.*) not found in type (\S+)$`)
	yamlWrongTypePattern = regexp.MustCompile("(?s)^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	yamlDuplicatePattern = regexp.MustCompile(`(?s)^mapping key (.*) already defined at line (\d+)$`)
)

// specShape says, for each spec type, where it sits, which keys it takes and
// what it looks like, so errors about it can say so.
type specShape struct {
	where string // "in a sync entry"
	keys  string // "source, target, type, platforms, tags"
	name  string // "each sync entry"
	shape string // "a mapping such as `source: …`"
}

var specShapes = map[string]specShape{
	typeName[syncFileSpec](): {"at the top level", "version, defaults, sync", "the file", "a mapping with version, defaults and sync keys"},
	typeName[defaultsSpec](): {"in defaults", "platforms, parallel, jobs, verify", "defaults", "a mapping such as `parallel: 4`"},
	typeName[entrySpec]():    {"in a sync entry", "source, target, type, platforms, tags, repos, verify", "each sync entry", "a mapping such as `source: " + referenceExample + "`"},
	typeName[*entrySpec]():   {"in a sync entry", "source, target, type, platforms, tags, repos, verify", "each sync entry", "a mapping such as `source: " + referenceExample + "`"},
	typeName[verifySpec]():   {"in verify", "keys", "verify", "a mapping such as `keys: [cosign.pub]`"},
	typeName[*verifySpec]():  {"in verify", "keys", "verify", "a mapping such as `keys: [cosign.pub]`"},
	typeName[tagsSpec]():     {"in tags", "allow, deny, semverRange, latest", "tags", "a mapping of allow, deny, semverRange and latest"},
	typeName[*tagsSpec]():    {"in tags", "allow, deny, semverRange, latest", "tags", "a mapping of allow, deny, semverRange and latest"},
	typeName[reposSpec]():    {"in repos", "allow, deny", "repos", "a mapping of allow and deny"},
	typeName[*reposSpec]():   {"in repos", "allow, deny", "repos", "a mapping of allow and deny"},
	typeName[[]*entrySpec](): {"in sync", "", "sync", "a list of entries such as `- source: " + referenceExample + "`"},
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// yamlError turns the yaml library's error into an *Error with its line. Only
// the first of several type errors is kept: one fix at a time reads better.
func (p *syncFile) yamlError(err error) *Error {
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) && len(typeErr.Errors) > 0 {
		first := typeErr.Errors[0]
		m := yamlLinePattern.FindStringSubmatch(first)
		if m == nil {
			return p.errorf(0, "%s", first)
		}
		line, _ := strconv.Atoi(m[1])
		return p.errorf(line, "%s", explainTypeError(m[2]))
	}
	msg := err.Error()
	if m := yamlSyntaxPattern.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return p.errorf(line, "the file is not valid YAML (%s); check the indentation and quoting from this line on", m[2])
	}
	return p.errorf(0, "the file is not valid YAML (%s); check its indentation and quoting", strings.TrimPrefix(msg, "yaml: "))
}

func explainTypeError(msg string) string {
	if m := yamlUnknownPattern.FindStringSubmatch(msg); m != nil {
		shape, ok := specShapes[m[2]]
		if !ok || shape.keys == "" {
			return fmt.Sprintf("unknown key %q; remove it", m[1])
		}
		return fmt.Sprintf("unknown key %q %s; the keys there are %s", m[1], shape.where, shape.keys)
	}
	if m := yamlWrongTypePattern.FindStringSubmatch(msg); m != nil {
		got := describeTag(m[1], m[2])
		if shape, ok := specShapes[m[3]]; ok {
			return fmt.Sprintf("%s must be %s, not %s", shape.name, shape.shape, got)
		}
		return fmt.Sprintf("a value here has the wrong type (%s)", got)
	}
	if m := yamlDuplicatePattern.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("the key %s is given twice in the same mapping (first on line %s); keep one", m[1], m[2])
	}
	return msg
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return describeTag(n.ShortTag(), n.Value)
}

func describeTag(tag, value string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!null":
		return "nothing"
	}
	// The library cuts long values to "abcdefg..."; a cut value misleads, so
	// name its kind instead.
	if value != "" && !strings.HasSuffix(value, "...") {
		return "`" + value + "`"
	}
	switch tag {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	}
	return tag
}

// resolve follows aliases (*name) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// given reports whether a key was written with a value; absent keys leave the
// zero Node, and `key:` alone is null.
func given(n *yaml.Node) bool {
	r := resolve(n)
	return r.Kind != 0 && !(r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null")
}
