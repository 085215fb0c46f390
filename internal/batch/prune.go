package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/wording"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// --prune keeps a mirror's repositories to what the source selects: after the
// images of an -a, -r or repository entry arrived, the destination tags its
// selection (allow, deny, semver range) would take but that it no longer holds
// (gone at the source, or past the latest N) are deleted. Nothing else is:
// tags the selection does not take, repositories the entry did not write.
//
// A registry deletes a manifest by digest, with every tag on it. So a digest
// that any tag not being deleted points to is never deleted: that tag is left
// and the summary says so. (Untagging alone, DELETE by tag, is optional in
// the OCI spec and deletes the manifest on some registries: not used.)

// PruneOptions is one prune after a batch.
type PruneOptions struct {
	Registry *registry.Client
	DryRun   bool
	Logf     func(format string, args ...any)
	// Print, when set, is told each tag deleted (or, in a dry run, to delete).
	Print func(Pruned)
}

// Pruned is one destination tag deleted, or to delete in a dry run.
type Pruned struct {
	Action      string `json:"action"` // "pruned", or "would-prune" in a dry run
	Destination string `json:"destination"`
	Digest      string `json:"digest"`
}

// PruneSummary is what a prune did.
type PruneSummary struct {
	// Deleted counts the tags deleted (in a dry run, to delete).
	Deleted int
	// Left are tags that go but stay: a kept tag shares their manifest.
	Left []string
	// Skipped are repositories not pruned, one sentence each.
	Skipped []string
	// Refused is one sentence per registry that does not delete.
	Refused []string
	// Failures are deletions that failed, one sentence each.
	Failures []string
}

// Prune deletes, in each selection's destination repository, the tags its
// entry no longer selects. Selections that write one repository (two -r
// sources, or an -a beside a list) are pruned together: a tag stays when any
// of them, or any image of the run (images, every one the run named), puts it
// there. A repository with an image that did not arrive is left as it is:
// the run is not over there.
func Prune(ctx context.Context, sels []Selection, images, notDone []Image, o PruneOptions) PruneSummary {
	var sum PruneSummary
	refused := map[string]bool{}
	for _, t := range pruneTargets(sels, images) {
		if ctx.Err() != nil {
			break
		}
		if refused[t.destination.RegistryStr()] {
			continue
		}
		dst := wording.Repository(t.destination)
		if n := countIn(notDone, t.destination); n > 0 {
			sum.Skipped = append(sum.Skipped, fmt.Sprintf("%s not pruned: %s bound there did not arrive; run again", dst, wording.Count(n, "image")))
			continue
		}
		err := pruneOne(ctx, t, o, &sum)
		switch {
		case errors.Is(err, registry.ErrDeleteUnsupported):
			refused[t.destination.RegistryStr()] = true
			sum.Refused = append(sum.Refused, fmt.Sprintf("%s does not delete manifests, so nothing was pruned there (distribution needs storage.delete.enabled: true); the copies are done", t.destination.RegistryStr()))
		case err != nil:
			sum.Failures = append(sum.Failures, fmt.Sprintf("prune %s: %s", dst, errdefs.Message(err)))
		}
	}
	return sum
}

// pruneTarget is one destination repository to prune: the tags to keep there,
// and the selections whose tags may go.
type pruneTarget struct {
	destination name.Repository
	keep        map[string]bool
	filters     []imagelist.TagFilter
}

// takes reports a tag one of the selections would take.
func (t *pruneTarget) takes(tag string) bool {
	for _, f := range t.filters {
		if len(f.Select([]string{tag})) == 1 {
			return true
		}
	}
	return false
}

func pruneTargets(sels []Selection, images []Image) []*pruneTarget {
	byName := map[string]*pruneTarget{}
	var out []*pruneTarget
	for _, sel := range sels {
		if sel.Archive {
			continue
		}
		t, ok := byName[sel.Destination.Name()]
		if !ok {
			t = &pruneTarget{destination: sel.Destination, keep: map[string]bool{}}
			byName[sel.Destination.Name()] = t
			out = append(out, t)
		}
		t.filters = append(t.filters, sel.Entry.Tags)
		for _, tag := range sel.Tags {
			t.keep[tag] = true
		}
	}
	for _, im := range images {
		if t, ok := byName[im.Destination.Context().Name()]; ok {
			if tag, ok := im.Destination.(name.Tag); ok {
				t.keep[tag.TagStr()] = true
			}
		}
	}
	return out
}

func pruneOne(ctx context.Context, t *pruneTarget, o PruneOptions, sum *PruneSummary) error {
	repo, err := o.Registry.Repository(ctx, t.destination, registry.Pull)
	if err != nil {
		return err
	}
	have, err := repo.ListTags(ctx)
	if errdefs.Is(err, errdefs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var gone []string
	for _, tag := range have {
		if !t.keep[tag] && t.takes(tag) {
			gone = append(gone, tag)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	// Every tag's digest: one that stays protects its manifest.
	digests := map[string]v1.Hash{}
	for _, tag := range have {
		desc, err := repo.HeadManifest(ctx, tag)
		if errdefs.Is(err, errdefs.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		digests[tag] = desc.Digest
	}
	kept := map[v1.Hash]string{}
	for _, tag := range have {
		if d, ok := digests[tag]; ok && !slices.Contains(gone, tag) {
			kept[d] = tag
		}
	}
	byDigest := map[v1.Hash][]string{}
	var order []v1.Hash
	for _, tag := range gone {
		d, ok := digests[tag]
		if !ok {
			continue
		}
		if keep, ok := kept[d]; ok {
			sum.Left = append(sum.Left, fmt.Sprintf("%s:%s stays: %s:%s points at the same manifest (%s), and the registry deletes a manifest with every tag on it", wording.Repository(t.destination), tag, wording.Repository(t.destination), keep, wording.Digest(d)))
			continue
		}
		if _, ok := byDigest[d]; !ok {
			order = append(order, d)
		}
		byDigest[d] = append(byDigest[d], tag)
	}
	var deleter *registry.Repository
	for _, d := range order {
		if !o.DryRun {
			if deleter == nil {
				if deleter, err = o.Registry.Deleter(t.destination); err != nil {
					return err
				}
			}
			if err := deleter.DeleteManifest(ctx, d); err != nil {
				return err
			}
		}
		for _, tag := range byDigest[d] {
			sum.Deleted++
			p := Pruned{Action: "pruned", Destination: wording.Repository(t.destination) + ":" + tag, Digest: d.String()}
			verb := "deleted"
			if o.DryRun {
				p.Action, verb = "would-prune", "would delete"
			}
			if o.Logf != nil {
				o.Logf("prune: %s %s (%s): the source selection no longer holds it", verb, p.Destination, wording.Digest(d))
			}
			if o.Print != nil {
				o.Print(p)
			}
		}
	}
	return nil
}

// countIn counts the images bound for repo.
func countIn(images []Image, repo name.Repository) int {
	n := 0
	for _, im := range images {
		if im.Destination.Context().Name() == repo.Name() {
			n++
		}
	}
	return n
}

// Write prints what the prune did, after the batch's table; quiet leaves
// out the count, keeping the sentences about what did not go as asked.
func (s PruneSummary) Write(b *strings.Builder, dryRun, quiet bool) {
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	if !quiet {
		fmt.Fprintf(b, "  %-22s %s\n", "pruned", fmt.Sprintf("%s %s", verb, wording.Count(s.Deleted, "tag")))
	}
	for _, lines := range [][]string{s.Left, s.Skipped, s.Refused, s.Failures} {
		for _, l := range lines {
			fmt.Fprintf(b, "prune: %s\n", l)
		}
	}
}
