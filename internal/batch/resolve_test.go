package batch

import (
	"context"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/google/go-containerregistry/pkg/name"
)

// TestSeveralInArchive: the prefix a refused full-tag DST suggests leads where
// the user meant: DST without the path of the image it names.
func TestSeveralInArchive(t *testing.T) {
	refs := func(names ...string) []name.Reference {
		var out []name.Reference
		for _, n := range names {
			r, err := name.ParseReference(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	for _, c := range []struct {
		dst    string
		images []name.Reference
		want   []string
	}{
		{"harbor.lan/mirror/golang:1.25-alpine", refs("docker.io/library/alpine:3.20", "docker.io/library/golang:1.25-alpine"),
			[]string{"such as harbor.lan/mirror (", "golang:1.25-alpine goes to harbor.lan/mirror/library/golang:1.25-alpine", "holds 2 images"}},
		{"harbor.lan/mirror/library/golang:1.25", refs("docker.io/library/alpine:3.20", "docker.io/library/golang:1.25"),
			[]string{"such as harbor.lan/mirror (", "goes to harbor.lan/mirror/library/golang:1.25"}},
		{"harbor.lan/golang:1", refs("docker.io/library/golang:1", "docker.io/library/alpine:3"),
			[]string{"such as harbor.lan (", "goes to harbor.lan/library/golang:1"}},
		{"harbor.lan/team/app:1", refs("docker.io/library/golang:1", "docker.io/library/alpine:3"),
			[]string{"such as harbor.lan/team/app (", "goes to harbor.lan/team/app/library/golang:1"}},
	} {
		err := severalImages(c.dst, "oci-archive:x.tar holds 2 images", c.images)
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.dst, err, w)
			}
		}
	}
}

// TestFullTagForSeveral: several registry images and a DST with a tag are
// refused before anything is asked, with the prefix the user meant.
func TestFullTagForSeveral(t *testing.T) {
	_, err := Resolve(context.Background(), Request{
		Entries:     []imagelist.Entry{{Source: "golang:1.25-alpine"}, {Source: "alpine:3.20"}},
		Destination: "harbor.lan/mirror/golang:1.25-alpine",
	})
	for _, w := range []string{"2 images go there", "such as harbor.lan/mirror (", "goes to harbor.lan/mirror/library/golang:1.25-alpine"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%v lacks %q", err, w)
		}
	}
}
