package batch

import (
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/copyopts"
	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/google/go-containerregistry/pkg/name"
)

// Two -r sources writing one repository, and an image named one by one into
// it: a tag any of them puts there is kept; a tag only one selection's filter
// takes may go.
func TestPruneTargetsMerge(t *testing.T) {
	dst, _ := name.NewRepository("new.lan/app")
	semver, err := imagelist.NewTagFilter(nil, nil, []string{">=1"})
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("new.lan/app:custom")
	targets := pruneTargets([]Selection{
		{Destination: dst, Tags: []string{"1.0"}, Entry: imagelist.Entry{Tags: semver}},
		{Destination: dst, Tags: []string{"2.0"}, Entry: imagelist.Entry{Tags: semver}},
		{Destination: dst, Tags: nil, Archive: true},
	}, []Image{{Image: copyopts.Image{Destination: tag}}})
	if len(targets) != 1 {
		t.Fatalf("%d targets, want 1", len(targets))
	}
	tt := targets[0]
	for tag, keep := range map[string]bool{"1.0": true, "2.0": true, "custom": true, "3.0": false} {
		if tt.keep[tag] != keep {
			t.Errorf("keep %s = %v, want %v", tag, tt.keep[tag], keep)
		}
	}
	if !tt.takes("3.0") || tt.takes("latest") {
		t.Error("3.0 is taken by the semver selections, latest by none")
	}
}
