package imagelist

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// TagFilter selects the tags of a repository entry. The zero value selects
// every tag.
//
// Patterns are Go (RE2) regular expressions matched anywhere in the tag unless
// they carry their own ^ and $: "-rc" denies 1.2.0-rc1. regsync instead wraps
// every pattern in ^…$, so a regsync allow list written without anchors
// selects more here; add ^ and $ to keep its meaning.
//
// Ranges use Masterminds/semver syntax (">=1.8 <2", "~1.36", "^3 || ^4").
// Tags are read leniently: a leading "v" and missing minor or patch numbers
// are fine ("v1.8.2", "1.36"), and tags that are not versions at all
// ("latest", "stable-alpine") never match a range. A tag with a prerelease
// part ("1.9.0-rc1", but also "3.20-alpine" or "v0.9.4-build20250113", which
// semver cannot tell apart from a prerelease) matches only a range that names
// a prerelease itself, e.g. ">=0.9.4-0": mirroring "1.x" should not pick up
// release candidates or image variants.
type TagFilter struct {
	allow, deny []*regexp.Regexp
	ranges      []*semver.Constraints
	rangeText   []string // as written; Constraints.String() reformats
	// latest, when above 0, keeps only the N newest of the selected tags
	// (tags.latest, --latest); the caller orders them (see NewestBySemver).
	latest int
}

// WithLatest returns the filter keeping only the n newest selected tags.
func (f TagFilter) WithLatest(n int) TagFilter {
	f.latest = n
	return f
}

// Latest is N of "the N newest", or 0 for every selected tag.
func (f TagFilter) Latest() int { return f.latest }

// NewestBySemver returns the n newest of tags by version order when every one
// of them reads as a version (leniently, as ranges read them), newest first;
// ok is false when one does not, and the caller orders by creation time. Two
// tags of one version ("1.2" and "v1.2.0") keep their order in tags, which
// is the registry's listing order (lexical on distribution).
func NewestBySemver(tags []string, n int) (newest []string, ok bool) {
	type versioned struct {
		tag string
		v   *semver.Version
	}
	vs := make([]versioned, 0, len(tags))
	for _, t := range tags {
		v, err := semver.NewVersion(t)
		if err != nil {
			return nil, false
		}
		vs = append(vs, versioned{t, v})
	}
	slices.SortStableFunc(vs, func(a, b versioned) int { return b.v.Compare(a.v) })
	for _, v := range vs[:min(n, len(vs))] {
		newest = append(newest, v.tag)
	}
	return newest, true
}

// NewTagFilter compiles a filter from its parts as a sync file writes them:
// allow and deny patterns, and semver ranges of which any may match.
func NewTagFilter(allow, deny, semverRanges []string) (TagFilter, error) {
	var f TagFilter
	for _, text := range allow {
		re, msg := compileTagPattern("allow", text)
		if msg != "" {
			return TagFilter{}, errors.New(msg)
		}
		f.allow = append(f.allow, re)
	}
	for _, text := range deny {
		re, msg := compileTagPattern("deny", text)
		if msg != "" {
			return TagFilter{}, errors.New(msg)
		}
		f.deny = append(f.deny, re)
	}
	for _, text := range semverRanges {
		c, msg := compileSemverRange(text)
		if msg != "" {
			return TagFilter{}, errors.New(msg)
		}
		f.ranges = append(f.ranges, c)
		f.rangeText = append(f.rangeText, text)
	}
	return f, nil
}

// compileTagPattern returns the regexp, or a sentence naming the bad pattern.
func compileTagPattern(list, text string) (*regexp.Regexp, string) {
	re, err := regexp.Compile(text)
	if err != nil {
		return nil, fmt.Sprintf("%s pattern %q is not a valid regular expression (%v); write an RE2 pattern such as ^1\\.36", list, text, err)
	}
	return re, ""
}

// compileSemverRange returns the constraint, or a sentence naming the bad range.
func compileSemverRange(text string) (*semver.Constraints, string) {
	c, err := semver.NewConstraint(text)
	if err != nil {
		return nil, fmt.Sprintf("semverRange %q is not a valid version range (%v); write e.g. \">=1.8 <2\" or \"~1.36\"", text, err)
	}
	return c, ""
}

// Empty reports that no selection was given: every tag.
func (f TagFilter) Empty() bool {
	return len(f.allow) == 0 && len(f.deny) == 0 && len(f.ranges) == 0 && f.latest == 0
}

// Select keeps the tags that the filter selects, in the order given: allow
// (any matches, or no allow list) AND not deny AND (no range, or the tag is a
// version in a range).
func (f TagFilter) Select(tags []string) []string {
	var out []string
	for _, tag := range tags {
		if f.selects(tag) {
			out = append(out, tag)
		}
	}
	return out
}

func (f TagFilter) selects(tag string) bool {
	if len(f.allow) > 0 && !anyMatch(f.allow, tag) {
		return false
	}
	if anyMatch(f.deny, tag) {
		return false
	}
	if len(f.ranges) == 0 {
		return true
	}
	v, err := semver.NewVersion(tag)
	if err != nil {
		return false
	}
	for _, c := range f.ranges {
		if c.Check(v) {
			return true
		}
	}
	return false
}

func anyMatch(patterns []*regexp.Regexp, tag string) bool {
	for _, re := range patterns {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

// String gives the selection as written, for "matched no tag" warnings:
// "allow `^1\.36`, `latest`; deny `-rc`; semverRange `>=1.8 <2`".
func (f TagFilter) String() string {
	if f.Empty() {
		return "every tag"
	}
	var parts []string
	add := func(name string, texts []string) {
		if len(texts) == 0 {
			return
		}
		quoted := make([]string, len(texts))
		for i, t := range texts {
			quoted[i] = "`" + t + "`"
		}
		parts = append(parts, name+" "+strings.Join(quoted, ", "))
	}
	add("allow", patternTexts(f.allow))
	add("deny", patternTexts(f.deny))
	add("semverRange", f.rangeText)
	if f.latest > 0 {
		parts = append(parts, fmt.Sprintf("the latest %d", f.latest))
	}
	return strings.Join(parts, "; ")
}

func patternTexts(patterns []*regexp.Regexp) []string {
	texts := make([]string, len(patterns))
	for i, re := range patterns {
		texts[i] = re.String()
	}
	return texts
}
