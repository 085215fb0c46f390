package batch

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/registry"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// --latest N over tags that are not all versions: the N whose images were
// created last (the config's created), newest first; over versions, the N
// highest, without reading any image.
func TestSelectTagsLatest(t *testing.T) {
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer s.Close()
	u, _ := url.Parse(s.URL)
	repo, err := name.NewRepository(u.Host + "/lib/app")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for tag, days := range map[string]int{"stable": 1, "edge": 3, "old": 0, "nightly": 2} {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.CreatedAt(img, v1.Time{Time: base.AddDate(0, 0, days)})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(repo.Tag(tag), img); err != nil {
			t.Fatal(err)
		}
	}
	r, err := registry.New().Repository(context.Background(), repo, registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	e := imagelist.Entry{Tags: imagelist.TagFilter{}.WithLatest(2)}
	got, err := selectTags(context.Background(), r, e, []string{"edge", "nightly", "old", "stable"})
	if err != nil || !slices.Equal(got, []string{"edge", "nightly"}) {
		t.Errorf("by creation time: got %v, %v; want edge, nightly", got, err)
	}
	got, err = selectTags(context.Background(), r, e, []string{"1.2.0", "1.10.0", "v1.9"})
	if err != nil || !slices.Equal(got, []string{"1.10.0", "v1.9"}) {
		t.Errorf("by version: got %v, %v; want 1.10.0, v1.9", got, err)
	}
}
