package plugin

import "testing"

func TestIsRelease(t *testing.T) {
	for v, want := range map[string]bool{
		"v0.1.0":                               true,
		"v1.12.3":                              true,
		"(devel)":                              false,
		"":                                     false,
		"0.1.0":                                false,
		"v0.0.0-20261206140125-f80a6ca0400c":   false, // a pseudo-version
		"v0.1.1-0.20261206140125-f80a6ca0400c": false,
		"v0.1.0+dirty":                         false,
		"v0.2.0-rc.1":                          false,
	} {
		if got := isRelease(v); got != want {
			t.Errorf("isRelease(%q) = %v, want %v", v, got, want)
		}
	}
}
