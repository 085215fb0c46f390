package commands

import "github.com/spf13/pflag"

// batchOptions are the flags of a run of many images.
type batchOptions struct {
	files      []string
	failFast   bool
	failedFile string
	reportFile string
	shard      string
	force      bool
	// jobsSet is --jobs given on the command line, which wins over a sync
	// file's defaults.
	jobsSet bool
}

func addBatchFlags(flags *pflag.FlagSet, opts *batchOptions) {
	flags.StringArrayVarP(&opts.files, "file", "f", nil, `Copy the images LIST names: one reference per line ("SRC" or "SRC DST"), or a YAML sync file (.yaml, .yml); repeatable; "-" reads stdin`)
	flags.BoolVar(&opts.failFast, "fail-fast", false, "Stop at the first image that fails (the others are reported as not done)")
	flags.StringVar(&opts.failedFile, "failed", "", "Write the images that did not arrive to FILE, as a list that -f takes back")
	flags.StringVar(&opts.reportFile, "report", "", "Append one JSON line per image to FILE as it ends; a re-run with the same FILE skips what it shows done")
	flags.StringVar(&opts.shard, "shard", "", `Copy only shard I of N ("I/N") of the images: a stable share by a hash of each source, for parallel jobs`)
	flags.BoolVar(&opts.force, "force", false, "Replace an existing archive file at DST")
}

// batchOnly reports flags that only make sense for a run of many images; with
// them, one SRC also runs as a batch of one.
func (o batchOptions) batchOnly() bool {
	return o.failedFile != "" || o.reportFile != "" || o.shard != "" || o.failFast
}
