// Package platforms parses the os/arch[/variant] strings users give to --platform
// and matches them against the platforms in an index, with the same defaults as
// containerd: arm64 means arm64/v8, arm means arm/v7, amd64 means amd64/v1.
package platforms

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// component is what each part of a platform may hold, as containerd's
// platforms.Parse (which docker uses) allows it.
var component = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Parse reads "os/arch[/variant]". The OS is required: "arm64" alone is
// ambiguous across linux and windows, and docker's --platform wants it too.
// Case does not matter ("LINUX/AMD64" is linux/amd64), as for docker.
func Parse(s string) (v1.Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return v1.Platform{}, fmt.Errorf("invalid platform %s: expected os/arch[/variant], such as linux/arm64", quote(s))
	}
	for _, part := range parts {
		if !component.MatchString(part) {
			return v1.Platform{}, fmt.Errorf("invalid platform %s: %s holds a character no platform has; os, arch and variant are letters, digits, '_', '.' or '-', such as linux/arm64/v8", quote(s), quote(part))
		}
	}
	p := v1.Platform{OS: strings.ToLower(parts[0]), Architecture: strings.ToLower(parts[1])}
	if len(parts) == 3 {
		p.Variant = strings.ToLower(parts[2])
	}
	return p, nil
}

// ParseList reads comma-separated lists of platforms. An empty entry and a
// platform named twice (linux/arm64 and linux/arm64/v8 are one) are refused:
// either is a typing slip that would otherwise pass unseen.
func ParseList(values []string) ([]v1.Platform, error) {
	var out []v1.Platform
	var given []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if strings.TrimSpace(s) == "" {
				return nil, fmt.Errorf("the platform list has an empty entry (two commas in a row, or one at an end?); write os/arch[/variant] entries separated by commas, such as linux/amd64,linux/arm64")
			}
			p, err := Parse(s)
			if err != nil {
				return nil, err
			}
			if i := slices.IndexFunc(out, func(q v1.Platform) bool { return Match(q, p) }); i >= 0 {
				if given[i] == strings.TrimSpace(s) {
					return nil, fmt.Errorf("platform %s is named twice; name each platform once", quote(given[i]))
				}
				return nil, fmt.Errorf("platforms %s and %s are the same platform; name each platform once", quote(given[i]), quote(strings.TrimSpace(s)))
			}
			out = append(out, p)
			given = append(given, strings.TrimSpace(s))
		}
	}
	return out, nil
}

// quote is s quoted for a sentence, cut when long.
func quote(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:60]) + fmt.Sprintf("… (%d characters)", len(s))
	}
	return strconv.Quote(s)
}

// Format writes os/arch[/variant].
func Format(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// normalize fills in the variant an architecture has when none is written.
func normalize(p v1.Platform) v1.Platform {
	p.OS = strings.ToLower(p.OS)
	p.Architecture = strings.ToLower(p.Architecture)
	switch p.Architecture {
	case "aarch64":
		p.Architecture = "arm64"
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "i386":
		p.Architecture = "386"
	}
	if p.Variant == "" {
		switch p.Architecture {
		case "arm64":
			p.Variant = "v8"
		case "arm":
			p.Variant = "v7"
		case "amd64":
			p.Variant = "v1"
		}
	}
	return p
}

// Match reports whether an index entry's platform is the one the user asked for.
func Match(want, have v1.Platform) bool {
	w, h := normalize(want), normalize(have)
	return w.OS == h.OS && w.Architecture == h.Architecture && w.Variant == h.Variant
}

// IsUnknown reports the "unknown/unknown" platform buildx gives attestation manifests.
func IsUnknown(p *v1.Platform) bool {
	return p != nil && p.OS == "unknown" && p.Architecture == "unknown"
}
