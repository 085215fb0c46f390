package plan

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/store"
)

// tagListWait bounds the one request that tells a missing repository from a
// missing tag: the answer is advice, not worth a long wait.
const tagListWait = 10 * time.Second

// SourceNotFound turns "the source's tag or digest is not there" into the
// sentence that says which is missing: the repository, or the tag (with the
// nearest tags it has). It asks the source's tag list once, where the store
// can list tags; elsewhere, or when the list cannot be had, the sentence
// names both.
func SourceNotFound(ctx context.Context, src store.Store, ref name.Reference, err error) error {
	generic := errdefs.Wrap(err, errdefs.NotFound, "source %s not found: check the repository name and tag", ref.Name())
	lister, ok := src.(store.TagLister)
	if !ok {
		return generic
	}
	ctx, cancel := context.WithTimeout(ctx, tagListWait)
	defer cancel()
	tags, lerr := lister.ListTags(ctx)
	repo := ref.Context().Name()
	switch {
	case errdefs.Is(lerr, errdefs.NotFound):
		return errdefs.Wrap(err, errdefs.NotFound, "source %s not found: the repository %s does not exist; check its name%s", ref.Name(), repo, hubHint(ref))
	case lerr != nil:
		return generic
	}
	if _, isDigest := ref.(name.Digest); isDigest {
		return errdefs.Wrap(err, errdefs.NotFound, "source %s not found: the repository %s exists but holds no manifest with that digest", ref.Name(), repo)
	}
	tag := ref.Identifier()
	if len(tags) == 0 {
		return errdefs.Wrap(err, errdefs.NotFound, "source %s not found: the repository %s exists but has no tags", ref.Name(), repo)
	}
	near := nearTags(tag, tags, 5)
	if len(near) == 0 {
		return errdefs.Wrap(err, errdefs.NotFound, "source %s not found: the repository %s has no tag %q (it has %d tags, none close to it)", ref.Name(), repo, tag, len(tags))
	}
	return errdefs.Wrap(err, errdefs.NotFound, "source %s not found: the repository %s has no tag %q; near ones: %s", ref.Name(), repo, tag, strings.Join(near, ", "))
}

// hubHint reminds that Docker Hub answers a missing repository the way it
// answers one the user may not read.
func hubHint(ref name.Reference) string {
	if ref.Context().RegistryStr() == name.DefaultRegistry {
		return " (Docker Hub's official images are library/NAME)"
	}
	return ""
}

// nearTags returns up to most tags close to want: sharing its start, or a few
// edits away, nearest first.
func nearTags(want string, tags []string, most int) []string {
	type scored struct {
		tag  string
		dist int
	}
	limit := max(2, len(want)/3)
	var near []scored
	for _, t := range tags {
		d := editDistance(want, t)
		if d <= limit || (len(want) >= 2 && strings.HasPrefix(t, want)) {
			near = append(near, scored{t, d})
		}
	}
	sort.Slice(near, func(i, j int) bool {
		if near[i].dist != near[j].dist {
			return near[i].dist < near[j].dist
		}
		return near[i].tag < near[j].tag
	})
	var out []string
	for i := 0; i < len(near) && i < most; i++ {
		out = append(out, near[i].tag)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (tags are at
// most 128 characters, so the table is small).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
