package commands

import "github.com/spf13/pflag"

// referrerOptions are the flags that bring signatures and SBOMs along.
type referrerOptions struct {
	enabled bool
	types   []string
}

func addReferrerFlags(flags *pflag.FlagSet, opts *referrerOptions) {
	flags.BoolVar(&opts.enabled, "referrers", false, "Also copy the artifacts that refer to the image and to each platform's image (signatures, SBOMs, attestations: the OCI referrers API, its sha256-HEX fallback tags, and cosign's .sig/.att/.sbom tags)")
	flags.StringSliceVar(&opts.types, "referrer-type", nil, "With --referrers, copy only referrers of these artifact types (e.g. application/vnd.dev.cosign.artifact.sig.v1+json)")
}
