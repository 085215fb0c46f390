package batch

import (
	"github.com/docker-migrate/docker-migrate/internal/outcome"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestSummaryCountsNotSigned(t *testing.T) {
	src, _ := name.ParseReference("localhost:5000/app:1")
	for _, tc := range []struct {
		name  string
		sum   Summary
		want  []string
		avoid []string
	}{
		{
			name: "copy",
			sum:  Summary{Images: 3, Counts: map[outcome.Outcome]int{outcome.Copied: 2, outcome.NotSigned: 1}, Failures: []Failure{{Image: Image{Image: copyopts.Image{Source: src}, Origin: "argument 1"}, Outcome: outcome.NotSigned, Reason: "app:1 was not copied: it is not signed"}}},
			want: []string{"copied                 2", "not signed             1", "not-signed localhost:5000/app:1 (argument 1): app:1 was not copied"},
		},
		{
			name:  "check, all unsigned",
			sum:   Summary{Images: 1, Check: true, Counts: map[outcome.Outcome]int{outcome.NotSigned: 1}},
			want:  []string{"not signed             1"},
			avoid: []string{"would move", "bytes moved"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.sum.Write(&b, tc.sum.Check)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, b.String())
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(b.String(), a) {
					t.Errorf("summary has %q:\n%s", a, b.String())
				}
			}
		})
	}
}
