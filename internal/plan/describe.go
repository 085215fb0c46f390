package plan

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/docker/go-units"
)

// Describe writes the plan for --dry-run: every manifest and blob with its
// action, and the bytes each action moves.
func (p *Plan) Describe(w io.Writer, strategy string) error {
	fmt.Fprintf(w, "Plan: copy %s to %s (strategy %s)\n", p.Source.Name(), p.Destination.Name(), strategy)
	fmt.Fprintf(w, "Source digest:      %s\n", p.SourceDigest)
	fmt.Fprintf(w, "Destination digest: %s", p.Root.Digest)
	if p.DigestChanged {
		fmt.Fprintf(w, " (differs from the source: %s)", p.ChangeReason)
	} else {
		fmt.Fprint(w, " (same as the source)")
	}
	fmt.Fprintln(w)
	if p.UpToDate {
		fmt.Fprintf(w, "The destination is up to date: nothing to copy.\n")
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tDIGEST\tFOR\tSIZE\tACTION")
	for _, b := range p.Blobs {
		owner := b.Owner
		if owner == "" {
			owner = p.Root.Label
		}
		fmt.Fprintf(tw, "blob\t%s\t%s\t%s\t%s\n", b.Digest, owner, units.HumanSize(float64(b.Size)), describeBlobAction(b, p))
	}
	for _, m := range p.Manifests {
		fmt.Fprintf(tw, "manifest\t%s\t%s\t%s\t%s\n", m.Digest, m.Label, units.HumanSize(float64(m.Size)), describeAction(m.Action, p))
	}
	rootAction := "push as " + p.Destination.Identifier()
	if p.Root.Action == Skip {
		rootAction = "skip (up to date)"
	}
	rootKind := "manifest"
	if p.Root.MediaType.IsIndex() {
		rootKind = "index"
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rootKind, p.Root.Digest, p.Root.Label, units.HumanSize(float64(p.Root.Size)), rootAction)
	if err := tw.Flush(); err != nil {
		return err
	}

	var copyN, mountN, skipN int
	var copyB, mountB, skipB int64
	for _, b := range p.Blobs {
		switch b.Action {
		case Copy:
			copyN++
			copyB += b.Size
		case Mount:
			mountN++
			mountB += b.Size
		default:
			skipN++
			skipB += b.Size
		}
	}
	_, err := fmt.Fprintf(w, "\nBlobs: %d to copy (%s), %d to mount (%s), %d skipped (%s). Nothing was written.\n",
		copyN, units.HumanSize(float64(copyB)), mountN, units.HumanSize(float64(mountB)), skipN, units.HumanSize(float64(skipB)))
	return err
}

// describeBlobAction names, for a mount from a repository an earlier run
// saw the blob in, that repository.
func describeBlobAction(b *Blob, p *Plan) string {
	if b.Action == Mount && len(b.MountFrom) > 0 {
		return "mount from " + b.MountFrom[0] + " (seen there before)"
	}
	return describeAction(b.Action, p)
}

func describeAction(a Action, p *Plan) string {
	switch a {
	case Skip:
		return "skip (exists)"
	case Mount:
		return "mount from " + p.Source.Context().RepositoryStr()
	case Foreign:
		return "skip (foreign layer)"
	}
	return "copy"
}
