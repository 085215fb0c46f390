package imagelist

import (
	"reflect"
	"strings"
	"testing"
)

func TestTagFilterSelect(t *testing.T) {
	tags := []string{"latest", "1.35.0", "1.36", "1.36.0", "1.36.1", "1.36.1-rc1", "1.36.1-glibc", "1.37.0", "v1.8.2", "v1.9.0-rc.1", "2.0.0", "stable-alpine", "3.20-alpine", "v0.9.4-build20250113"}
	tests := []struct {
		name                string
		allow, deny, ranges []string
		want                []string
	}{
		{name: "empty keeps every tag in order", want: tags},
		{name: "allow patterns match anywhere unless anchored", allow: []string{"^1\\.36", "latest"},
			want: []string{"latest", "1.36", "1.36.0", "1.36.1", "1.36.1-rc1", "1.36.1-glibc"}},
		{name: "deny removes from allow", allow: []string{"^1\\.36"}, deny: []string{"-rc", "-glibc$"},
			want: []string{"1.36", "1.36.0", "1.36.1"}},
		{name: "deny alone", deny: []string{"-", "^latest$", "^v"},
			want: []string{"1.35.0", "1.36", "1.36.0", "1.36.1", "1.37.0", "2.0.0"}},
		{name: "range skips non-versions and prereleases", ranges: []string{">=1.36 <2"},
			want: []string{"1.36", "1.36.0", "1.36.1", "1.37.0"}},
		{name: "range accepts a v prefix", ranges: []string{"~1.8"}, want: []string{"v1.8.2"}},
		{name: "range naming a prerelease admits prereleases", ranges: []string{">=1.9.0-0 <1.10"},
			want: []string{"v1.9.0-rc.1"}},
		{name: "build-suffixed tags need a prerelease range", ranges: []string{">=0.9.4-0 <1"},
			want: []string{"v0.9.4-build20250113"}},
		{name: "any range may match", ranges: []string{"1.35.0", ">=2"}, want: []string{"1.35.0", "2.0.0"}},
		{name: "allow, deny and range together", allow: []string{"^1\\."}, deny: []string{"^1\\.37"}, ranges: []string{">=1.36"},
			want: []string{"1.36", "1.36.0", "1.36.1"}},
		{name: "nothing matches", allow: []string{"^9"}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewTagFilter(tc.allow, tc.deny, tc.ranges)
			if err != nil {
				t.Fatalf("NewTagFilter: %v", err)
			}
			if got := f.Select(tags); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Select =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

func TestTagFilterString(t *testing.T) {
	tests := []struct {
		name                string
		allow, deny, ranges []string
		empty               bool
		want                string
	}{
		{name: "zero", empty: true, want: "every tag"},
		{name: "allow only", allow: []string{`^1\.36`, "latest"}, want: "allow `^1\\.36`, `latest`"},
		{name: "all three, ranges as written", allow: []string{"a"}, deny: []string{"b"}, ranges: []string{">=1.8   <2"},
			want: "allow `a`; deny `b`; semverRange `>=1.8   <2`"},
		{name: "empty lists are no selection", allow: []string{}, deny: []string{}, ranges: []string{}, empty: true, want: "every tag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewTagFilter(tc.allow, tc.deny, tc.ranges)
			if err != nil {
				t.Fatalf("NewTagFilter: %v", err)
			}
			if f.Empty() != tc.empty {
				t.Errorf("Empty() = %v, want %v", f.Empty(), tc.empty)
			}
			if got := f.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	if !(TagFilter{}).Empty() {
		t.Error("the zero TagFilter is not Empty")
	}
}

func TestNewTagFilterErrors(t *testing.T) {
	tests := []struct {
		name                string
		allow, deny, ranges []string
		msg                 string
	}{
		{name: "bad allow", allow: []string{"ok", "*"}, msg: `allow pattern "*" is not a valid regular expression`},
		{name: "bad deny", deny: []string{"(?P<"}, msg: `deny pattern "(?P<"`},
		{name: "bad range", ranges: []string{">=1", "one point eight"}, msg: `semverRange "one point eight" is not a valid version range`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTagFilter(tc.allow, tc.deny, tc.ranges)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error = %v, want one containing %q", err, tc.msg)
			}
		})
	}
}
