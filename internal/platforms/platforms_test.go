package platforms

import (
	"strings"
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
	got, err := ParseList([]string{"linux/amd64,linux/arm64", "LINUX/S390X", " linux/arm/v7 "})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || Format(got[1]) != "linux/arm64" || Format(got[2]) != "linux/s390x" || Format(got[3]) != "linux/arm/v7" {
		t.Errorf("got %v", got)
	}
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{"amd64"}, "expected os/arch"},
		{[]string{"linux/"}, "expected os/arch"},
		{[]string{"a/b/c/d"}, "expected os/arch"},
		{[]string{"/amd64"}, "expected os/arch"},
		{[]string{"linux/amd 64"}, `"amd 64" holds a character`},
		{[]string{"linux/amd64!"}, "holds a character"},
		{[]string{"windows(10.0)/amd64"}, "holds a character"},
		{[]string{""}, "empty entry"},
		{[]string{",,,"}, "empty entry"},
		{[]string{"linux/amd64,"}, "empty entry"},
		{[]string{"linux/amd64,linux/amd64"}, `"linux/amd64" is named twice`},
		{[]string{"linux/amd64", "linux/amd64"}, "named twice"},
		{[]string{"linux/arm64,linux/arm64/v8"}, `"linux/arm64" and "linux/arm64/v8" are the same platform`},
		{[]string{"linux/amd64,LINUX/AMD64"}, "the same platform"},
	} {
		_, err := ParseList(tc.values)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseList(%q) = %v, want an error with %q", tc.values, err, tc.want)
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
