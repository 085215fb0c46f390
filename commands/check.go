package commands

import "github.com/spf13/pflag"

// checkOptions is --check: prove a mirror instead of copying.
type checkFlags struct {
	enabled bool
}

func addCheckFlags(flags *pflag.FlagSet, opts *checkFlags) {
	flags.BoolVar(&opts.enabled, "check", false, "Write nothing: say for each image whether DST is equal to SRC (same digest, every child and blob there), holds the same content under another digest, lacks something, or differs; exit 1 unless all are equal")
}
