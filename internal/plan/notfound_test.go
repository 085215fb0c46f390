package plan

import (
	"slices"
	"testing"
)

func TestNearTags(t *testing.T) {
	tags := []string{"1.25-alpine", "1.25-alpine3.22", "1.25.4-alpine", "1.24-alpine", "latest", "1.25", "bookworm"}
	for _, tc := range []struct {
		want string
		near []string
	}{
		{"1.25-alpin", []string{"1.25-alpine", "1.24-alpine", "1.25.4-alpine"}},
		{"lates", []string{"latest"}},
		{"1.25-alpine3.2", []string{"1.25-alpine3.22", "1.25-alpine", "1.24-alpine"}},
		{"nothing-like-these", nil},
	} {
		got := nearTags(tc.want, tags, 3)
		if !slices.Equal(got, tc.near) {
			t.Errorf("nearTags(%q) = %q, want %q", tc.want, got, tc.near)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"v1", "v2", 1}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
