package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sirupsen/logrus"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/location"
	"github.com/docker-migrate/docker-migrate/internal/migrate"
	"github.com/docker-migrate/docker-migrate/internal/platforms"
	"github.com/docker-migrate/docker-migrate/internal/progress"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/docker-migrate/docker-migrate/internal/store/archive"
	"github.com/docker-migrate/docker-migrate/internal/verify"
)

// input is what the command line names, checked before anything is read or
// written: an error here is bad input (exit 125).
type input struct {
	checked
	// one is the image a run of one image names in full (nil for a batch):
	// it reports as a single copy (oneImage).
	one *parsed
	// entries are the SRC arguments and the lines of the -f lists.
	entries []imagelist.Entry
	// jobs is --jobs, or a sync file's when --jobs is not given.
	jobs int
	// entryKeys are the verify: keys of the sync files, loaded.
	entryKeys      keyCache
	shardI, shardN int
	// insecure is --insecure as a predicate over registry hosts.
	insecure func(string) bool
}

// readInput checks the flags and reads what the run is to copy: the SRC
// arguments, and the -f lists. One image whose DST is its whole
// destination is checked as a single copy is, first.
func readInput(dockerCli command.Cli, opts migrateOptions, srcs []string, dst string) (input, error) {
	var in input
	var err error
	if namesOneImage(opts, srcs, dst) {
		refs, err := parseReferences(srcs[0], dst)
		if err != nil {
			return in, err
		}
		in.one = &refs
	}
	if in.checked, err = checkOptions(dockerCli, opts); err != nil {
		return in, err
	}
	if in.shardI, in.shardN, err = parseShard(opts.batch.shard); err != nil {
		return in, err
	}
	if err := in.readLists(dockerCli, opts); err != nil {
		return in, err
	}
	srcEntries, err := syncEntries(opts, srcs)
	if err != nil {
		return in, err
	}
	in.entries = append(in.entries, srcEntries...)
	if err := checkPrune(opts, in.entries, dst); err != nil {
		return in, err
	}
	if err := checkArchiveTarget(dst, srcs, opts.batch.force || opts.check.enabled); err != nil {
		return in, err
	}
	in.insecure = insecureAny(opts.insecure)
	if in.one != nil {
		in.insecure = insecureHosts(opts.insecure, *in.one)
	}
	return in, nil
}

// namesOneImage reports a run of one image named in full, which reports as a
// single copy: its platforms in the progress view, the copy's summary, its
// own sentence when it fails, one JSON object in --metadata-file. With a
// flag of a batch (--check, --report, ...) it reports as a batch of one.
func namesOneImage(opts migrateOptions, srcs []string, dst string) bool {
	return exactDestination(opts, srcs, dst) && !opts.batch.batchOnly() && !opts.check.enabled
}

// readLists reads the -f lists, with the defaults a sync file gives its
// entries (platforms, jobs, verify: keys) where the command line gives none.
func (in *input) readLists(dockerCli command.Cli, opts migrateOptions) error {
	in.jobs = opts.jobs
	for _, f := range opts.batch.files {
		es, defaults, err := imagelist.Read(f, os.Stdin)
		if err != nil {
			return err
		}
		for i := range es {
			if len(in.plats) == 0 && len(defaults.Platforms) > 0 && len(es[i].Platforms) == 0 {
				es[i].Platforms = defaults.Platforms
			}
			if len(in.checked.keys) == 0 && len(defaults.VerifyKeys) > 0 && es[i].VerifyKeys == nil {
				es[i].VerifyKeys = defaults.VerifyKeys
			}
		}
		in.entries = append(in.entries, es...)
		if defaults.Jobs > 0 && !opts.batch.jobsSet {
			in.jobs = defaults.Jobs
		}
	}
	if len(in.checked.keys) > 0 {
		// The keys named on the command line are the operator's policy: a
		// list may not swap them for its own.
		ignored := 0
		for i := range in.entries {
			if in.entries[i].VerifyKeys != nil {
				in.entries[i].VerifyKeys = nil
				ignored++
			}
		}
		if ignored > 0 {
			fmt.Fprintf(dockerCli.Err(), "note: --verify-key applies to every image: the verify: keys of %d sync entries are not used\n", ignored)
		}
	}
	in.entryKeys = keyCache{}
	return in.entryKeys.loadEntryKeys(in.entries)
}

// parsed is the SRC and DST of a run of one image, resolved.
type parsed struct {
	source, destination name.Reference
	// displayDestination is DST as docker writes it, for the result line.
	displayDestination string
}

// parseReferences applies docker's normalisation and the DST-takes-SRC's-tag rule.
func parseReferences(src, dst string) (parsed, error) {
	srcNamed, err := location.ParseReference(src)
	if err != nil {
		return parsed{}, fmt.Errorf("invalid reference for SRC: %v", err)
	}
	srcNamed = reference.TagNameOnly(srcNamed)
	dstNamed, err := location.ParseReference(dst)
	if err != nil {
		return parsed{}, fmt.Errorf("invalid reference for DST: %v", err)
	}
	if _, ok := dstNamed.(reference.Digested); ok {
		return parsed{}, fmt.Errorf("invalid reference %q for DST: give a tag, not a digest; the digest is the source's", dst)
	}
	if _, ok := dstNamed.(reference.Tagged); !ok {
		srcTag, ok := srcNamed.(reference.Tagged)
		if !ok {
			return parsed{}, fmt.Errorf("DST %q needs a tag: SRC %q is pinned by digest only and has no tag to take", dst, src)
		}
		if dstNamed, err = reference.WithTag(dstNamed, srcTag.Tag()); err != nil {
			return parsed{}, err
		}
	}
	var p parsed
	// Pinned by digest, the tag (if any) is only a label: read by digest.
	srcRef := srcNamed.String()
	if d, ok := srcNamed.(reference.Digested); ok {
		srcRef = reference.TrimNamed(srcNamed).String() + "@" + d.Digest().String()
	}
	if p.source, err = name.ParseReference(srcRef); err != nil {
		return parsed{}, fmt.Errorf("invalid reference %q for SRC: %v", src, err)
	}
	if p.destination, err = name.ParseReference(dstNamed.String()); err != nil {
		return parsed{}, fmt.Errorf("invalid reference %q for DST: %v", dst, err)
	}
	p.displayDestination = reference.FamiliarString(dstNamed)
	return p, nil
}

// checked is what every run needs, parsed from the flags.
type checked struct {
	mode progress.Mode
	// out prints the results as --format asks.
	out   *printer
	plats []v1.Platform
	// mirrors are the --registry-mirror endpoints, validated.
	mirrors []registry.Endpoint
	// keys are --verify-key's, loaded.
	keys   verify.Keys
	debug  bool
	debugf func(format string, args ...any)
}

// checkOptions validates the flags every run shares; an error is a usage error.
func checkOptions(dockerCli command.Cli, opts migrateOptions) (checked, error) {
	var c checked
	var err error
	if c.mode, err = progress.ParseMode(opts.progress); err != nil {
		return c, err
	}
	if c.out, err = newPrinter(opts.format, dockerCli.Out()); err != nil {
		return c, err
	}
	c.out.keep = opts.metadataFile != ""
	if opts.jobs < 1 || opts.jobs > 64 {
		return c, fmt.Errorf("invalid --jobs %d: give a whole number from 1 to 64, e.g. --jobs 8", opts.jobs)
	}
	if c.plats, err = platforms.ParseList(opts.platforms); err != nil {
		return c, err
	}
	switch opts.strategy {
	case migrate.StrategyAuto, migrate.StrategyIndex, migrate.StrategyManifest, migrate.StrategyBuildx:
	default:
		return c, fmt.Errorf("invalid --strategy %q: expected auto, index, manifest or buildx", opts.strategy)
	}
	if err := checkMediaTypes(opts.mediaTypes); err != nil {
		return c, err
	}
	if err := checkFlagValues(opts); err != nil {
		return c, err
	}
	if c.mirrors, err = checkMirrors(opts.mirrors); err != nil {
		return c, err
	}
	if c.keys, err = verify.LoadKeys(opts.verify.keys); err != nil {
		return c, fmt.Errorf("--verify-key: %s", errdefs.Message(err))
	}
	if c.mode == progress.Auto {
		c.mode = progress.Plain
		if dockerCli.Err().IsTerminal() {
			c.mode = progress.TTY
		}
	}
	c.debug = logrus.IsLevelEnabled(logrus.DebugLevel)
	c.debugf = func(format string, args ...any) {
		if c.debug {
			logrus.Debugf(format, args...)
		}
	}
	return c, nil
}

// parseShard reads --shard I/N.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("invalid --shard %q: expected I/N with 1 ≤ I ≤ N, e.g. --shard 2/3", s)
	}
	return i, n, nil
}

// exactDestination reports a run of one image whose DST is its whole
// destination reference. A DST that is a registry alone ("localhost:5000",
// "harbor.lan") is a place, as for several images: the image keeps its
// repository path there, where docker would read it as a Docker Hub image.
func exactDestination(opts migrateOptions, srcs []string, dst string) bool {
	return len(srcs) == 1 && len(opts.batch.files) == 0 && !opts.sync.any() && !isArchive(srcs[0]) && !isArchive(dst) && !location.IsRegistryHost(dst)
}

// oneEngineImage reports a run that copies the one image an engine SRC names
// (docker-daemon:NAME) to a registry reference, which is then the image's
// whole destination, as for a registry SRC.
func oneEngineImage(opts migrateOptions, srcs []string, dst string) bool {
	if len(srcs) != 1 || len(opts.batch.files) > 0 || isArchive(dst) || location.IsRegistryHost(dst) {
		return false
	}
	loc, err := location.Parse(srcs[0])
	return err == nil && loc.IsEngine() && loc.Image != ""
}

// isArchive reports an archive or an engine: a location that is not a
// registry, which a batch opens as a store.
func isArchive(s string) bool {
	loc, err := location.Parse(s)
	return err == nil && (loc.IsArchive() || loc.IsEngine())
}

// checkArchiveTarget refuses, before anything is read, an archive DST that is
// also a SRC, or an existing file without --force.
func checkArchiveTarget(dst string, srcs []string, force bool) error {
	loc, err := location.Parse(dst)
	if err != nil || !loc.IsArchive() {
		return err
	}
	for _, s := range srcs {
		if src, err := location.Parse(s); err == nil && src.IsArchive() && archive.SameFile(src, loc) {
			return fmt.Errorf("%s is both SRC and DST: write the copy to another file", dst)
		}
	}
	if loc.Transport == location.OCIDir {
		return nil
	}
	if dir := filepath.Dir(loc.Path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("cannot write %s: directory %s does not exist", dst, dir)
		}
	}
	st, err := os.Stat(loc.Path)
	switch {
	case err != nil:
	case st.IsDir():
		// --force replaces a file, never a directory: say so at once.
		return fmt.Errorf("%s is a directory: name a file for %s:, or write an OCI layout directory with oci:%s", loc.Path, loc.Transport, loc.Path)
	case !force:
		return fmt.Errorf("%s exists: pass --force to replace it", loc.Path)
	}
	return nil
}

// insecureHosts turns --insecure values into a predicate; a bare --insecure
// covers the hosts of SRC and DST.
func insecureHosts(values []string, refs parsed) func(string) bool {
	var hosts []string
	for _, v := range values {
		if v == insecureAll {
			hosts = append(hosts, refs.source.Context().RegistryStr(), refs.destination.Context().RegistryStr())
			continue
		}
		hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(v, "https://"), "http://"), "/"))
	}
	return func(host string) bool { return slices.Contains(hosts, host) }
}

// insecureAny is --insecure for a batch: a bare --insecure covers every
// registry the run names.
func insecureAny(values []string) func(string) bool {
	for _, v := range values {
		if v == insecureAll {
			return func(string) bool { return true }
		}
	}
	return insecureHosts(values, parsed{})
}
