package commands

import "github.com/spf13/pflag"

// checkFlags is --check: prove a mirror instead of copying.
type checkFlags struct {
	enabled bool
}

func addCheckFlags(flags *pflag.FlagSet, opts *checkFlags) {
	flags.BoolVar(&opts.enabled, "check", false, `Write nothing: print for each image whether DST is "equal" to SRC (same digest, every child and blob there), has the "same-content" under another digest, or is "missing" something or "different" (with --verify-key, "not-signed"), then DST[@DIGEST]; exit 1 unless each is equal or same-content`)
}
