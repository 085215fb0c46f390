package platforms

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		want string
		have v1.Platform
		ok   bool
	}{
		{"exact", "linux/amd64", v1.Platform{OS: "linux", Architecture: "amd64"}, true},
		{"arm64 default variant", "linux/arm64", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, true},
		{"arm64 written variant", "linux/arm64/v8", v1.Platform{OS: "linux", Architecture: "arm64"}, true},
		{"arm is v7", "linux/arm", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, true},
		{"arm is not v6", "linux/arm", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, false},
		{"other os", "windows/amd64", v1.Platform{OS: "linux", Architecture: "amd64"}, false},
		{"case", "Linux/AMD64", v1.Platform{OS: "linux", Architecture: "amd64"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := Match(p, tc.have); got != tc.ok {
				t.Errorf("Match(%s, %s) = %v, want %v", tc.want, Format(tc.have), got, tc.ok)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList([]string{"linux/amd64,linux/arm64", "linux/amd64", " linux/arm/v7 "})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || Format(got[2]) != "linux/arm/v7" {
		t.Errorf("got %v", got)
	}
	for _, bad := range []string{"amd64", "linux/", "a/b/c/d", "/amd64"} {
		if _, err := ParseList([]string{bad}); err == nil {
			t.Errorf("ParseList(%q) succeeded", bad)
		}
	}
}

// FuzzParseList: a --platform value parses into well-formed platforms, each
// of which round-trips through Format and matches itself, or is refused with
// one sentence; nothing panics.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8,linux/arm/v7", ",,,", "LINUX/AMD64", "linux", "a/b/c/d", "windows/amd64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseList([]string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				t.Errorf("%q gave %+v", s, p)
			}
			again, err := Parse(Format(p))
			if err != nil || !Match(p, again) {
				t.Errorf("%q: %+v does not round-trip through %q (%v)", s, p, Format(p), err)
			}
		}
	})
}
