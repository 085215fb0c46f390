package plugin

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// TestInsecureHost follows moby's rule: the index config of a host decides;
// else an address of it in an insecure CIDR makes it insecure.
func TestInsecureHost(t *testing.T) {
	s := registrySettings{
		read:     true,
		insecure: map[string]bool{"harbor.lan:5000": true, "plain.lan": true},
		secure:   map[string]bool{"secure.lan:443": true},
		cidrs:    []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")},
	}
	lookup := func(_ context.Context, h string) ([]netip.Addr, error) {
		switch h {
		case "lan-registry", "secure.lan":
			return []netip.Addr{netip.MustParseAddr("192.0.2.7")}, nil
		case "local-only":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, errors.New("no such host")
	}
	for host, want := range map[string]bool{
		"harbor.lan:5000":    true,  // by name
		"harbor.lan:5001":    false, // another port is another registry
		"plain.lan:8080":     true,  // the host alone listed
		"192.0.2.2:15003":    true,  // by CIDR
		"lan-registry:5000":  true,  // by CIDR, after a lookup
		"secure.lan:443":     false, // listed secure: no CIDR overrides it
		"local-only:5000":    false, // loopback is allowed already, not counted
		"unknown.example:80": false,
		"198.51.100.1:5000":  false,
	} {
		if got := s.insecureHost(host, lookup); got != want {
			t.Errorf("%s: insecure = %v, want %v", host, got, want)
		}
	}
	if (registrySettings{}).insecureHost("harbor.lan:5000", lookup) {
		t.Error("settings not read: nothing is insecure")
	}
}
