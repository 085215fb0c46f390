package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/spf13/pflag"

	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/location"
)

// syncOptions are -a and -r, the tag and repository selection they take (the
// meaning of a sync file's tags: and repos: keys), and --prune.
type syncOptions struct {
	allTags, recursive         bool
	includeTags, excludeTags   []string
	semverRanges               []string
	latest                     int
	includeRepos, excludeRepos []string
	prune                      bool
}

func addSyncFlags(flags *pflag.FlagSet, opts *syncOptions) {
	flags.BoolVarP(&opts.allTags, "all-tags", "a", false, "Copy every tag of each SRC repository (as docker pull -a); DST is a place under which the repository keeps its path")
	flags.BoolVarP(&opts.recursive, "recursive", "r", false, "Copy every repository under each SRC registry or namespace (REGISTRY[/NAMESPACE]), every tag, as the registry's catalog lists them")
	flags.StringArrayVar(&opts.includeTags, "include-tag", nil, "With -a or -r, copy only the tags this regular expression matches (unanchored; repeatable, any may match): a sync file's tags.allow")
	flags.StringArrayVar(&opts.excludeTags, "exclude-tag", nil, "With -a or -r, skip the tags this regular expression matches (repeatable): a sync file's tags.deny")
	flags.StringArrayVar(&opts.semverRanges, "semver", nil, `With -a or -r, copy only tags that are versions in this range (">=1.8 <2", "~1.36"; repeatable, any may match): a sync file's tags.semverRange`)
	flags.IntVar(&opts.latest, "latest", 0, "With -a or -r, copy only the N newest of the selected tags (by version when every one is a version, else by creation time): a sync file's tags.latest")
	flags.StringArrayVar(&opts.includeRepos, "include-repo", nil, "With -r, copy only the repositories whose whole path this regular expression matches (repeatable): a sync file's repos.allow")
	flags.StringArrayVar(&opts.excludeRepos, "exclude-repo", nil, "With -r, skip the repositories whose whole path this regular expression matches (repeatable): a sync file's repos.deny")
	flags.BoolVar(&opts.prune, "prune", false, "With -a, -r or repository and registry entries, delete at DST the tags of the repositories written that the source selection no longer holds (with --dry-run: list them)")
}

// any reports -a or -r.
func (o syncOptions) any() bool { return o.allTags || o.recursive }

// tagFlags are the flags that select tags, which only -a and -r read.
var tagFlags = []string{"include-tag", "exclude-tag", "semver", "latest"}

// checkSyncFlags refuses, before anything is read, what -a, -r and their
// selection flags cannot mean.
func checkSyncFlags(opts migrateOptions) error {
	s := opts.sync
	switch {
	case s.allTags && s.recursive:
		return errors.New("-a and -r cannot go together: -a copies every tag of one repository, -r every repository under a registry or namespace; give one")
	case s.any() && len(opts.batch.files) > 0:
		return errors.New("-a and -r take their sources as arguments, not from -f: in a sync file write type: repository or type: registry entries instead")
	case s.prune && !s.any() && len(opts.batch.files) == 0:
		return errPruneNeedsSelection
	}
	if !s.any() {
		for _, f := range tagFlags {
			if opts.changed[f] {
				return fmt.Errorf("--%s selects the tags of -a or -r: add -a (every tag of a repository) or -r (every repository of a registry), or put the tag in SRC", f)
			}
		}
	}
	if !s.recursive {
		for _, f := range []string{"include-repo", "exclude-repo"} {
			if opts.changed[f] {
				return fmt.Errorf("--%s selects the repositories of -r: add -r REGISTRY[/NAMESPACE], or name the repository in SRC with -a", f)
			}
		}
	}
	if opts.changed["latest"] && s.latest < 1 {
		return fmt.Errorf("invalid --latest %d: give how many of the newest selected tags to copy, a whole number of 1 or more, e.g. --latest 5", s.latest)
	}
	return nil
}

// syncEntries turns SRC arguments into entries: one image each, or with -a a
// repository entry, with -r a registry entry.
func syncEntries(opts migrateOptions, srcs []string) ([]imagelist.Entry, error) {
	s := opts.sync
	var entries []imagelist.Entry
	if !s.any() {
		for _, src := range srcs {
			entries = append(entries, imagelist.Entry{Source: src})
		}
		return entries, nil
	}
	tags, err := imagelist.NewTagFilter(s.includeTags, s.excludeTags, s.semverRanges)
	if err != nil {
		return nil, fmt.Errorf("invalid tag selection: %v", flagNames(err))
	}
	tags = tags.WithLatest(s.latest)
	repos, err := imagelist.NewRepoFilter(s.includeRepos, s.excludeRepos)
	if err != nil {
		return nil, fmt.Errorf("invalid repository selection: %v", flagNames(err))
	}
	for _, src := range srcs {
		e := imagelist.Entry{Source: src, Tags: tags}
		if s.recursive {
			rs, err := imagelist.ParseRegistrySource(src)
			if err != nil {
				return nil, fmt.Errorf("-r SRC %v", err)
			}
			e.Source, e.Registry, e.Repos = rs.String(), true, repos
		} else {
			if loc, err := location.Parse(src); err == nil && loc.IsArchive() {
				return nil, fmt.Errorf("-a lists the tags of a registry repository, and %q is an archive: drop -a (every image of an archive is copied)", src)
			}
			if location.NamesRegistry(src) {
				return nil, fmt.Errorf("-a SRC %q names a registry, not a repository: use -r for every repository of a registry, or name one (-a %s/app)", src, src)
			}
			named, err := location.ParseReference(src)
			if err != nil {
				return nil, fmt.Errorf("-a SRC %v", err)
			}
			if _, ok := named.(reference.Digested); ok {
				return nil, fmt.Errorf("-a SRC %q is pinned by digest, but -a copies every tag of a repository: name the repository alone (%s)", src, reference.FamiliarName(named))
			}
			if _, ok := named.(reference.Tagged); ok {
				return nil, fmt.Errorf("-a SRC %q has a tag, but -a copies every tag of the repository: name the repository alone (%s), and select tags with --include-tag, --semver or --latest", src, reference.FamiliarName(named))
			}
			e.Repository = true
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// flagNames turns a sync file key in a filter's message into the flag.
func flagNames(err error) string {
	return strings.NewReplacer(
		"repos allow pattern", "--include-repo pattern", "repos deny pattern", "--exclude-repo pattern",
		"allow pattern", "--include-tag pattern", "deny pattern", "--exclude-tag pattern",
		"semverRange", "--semver range",
	).Replace(err.Error())
}

// checkPrune refuses --prune where it cannot do what it says: into an archive
// (nothing there is a mirror to keep in sync), and without an entry that
// selects tags, whose selection says what no longer belongs.
func checkPrune(opts migrateOptions, entries []imagelist.Entry, dst string) error {
	if !opts.sync.prune {
		return nil
	}
	if isArchive(dst) {
		return fmt.Errorf("--prune deletes tags at a registry, and DST %s is an archive: drop --prune (an archive is written whole)", dst)
	}
	for _, e := range entries {
		if e.Repository || e.Registry {
			return nil
		}
	}
	return errPruneNeedsSelection
}

var errPruneNeedsSelection = errors.New("--prune needs a selection of tags to keep: use it with -a, -r, or a sync file's type: repository or type: registry entries (images named one by one are never pruned)")
