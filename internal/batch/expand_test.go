package batch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/imagelist"
	"github.com/docker-migrate/docker-migrate/internal/registry"
)

// A registry that refuses its catalog (401, as Harbor does to anyone but a
// system administrator) and serves Harbor's project repository listing: -r of
// a project lists through the latter; -r of the whole registry, which no
// project names, is the catalog's sentence.
func TestExpandRegistriesHarborFallback(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
		case "/v2/_catalog":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized to list catalog"}]}`)
		case "/api/v2.0/projects/proj/repositories":
			fmt.Fprint(w, `[{"name":"proj/a"},{"name":"proj/sub/b"},{"name":"proj/tmp"}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer s.Close()
	u, _ := url.Parse(s.URL)
	repos, err := imagelist.NewRepoFilter(nil, []string{"proj/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Registry: registry.New()}
	out, err := expandRegistries(context.Background(), req, []imagelist.Entry{{Source: u.Host + "/proj", Registry: true, Repos: repos}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out {
		if !e.Repository || e.Registry {
			t.Errorf("entry %+v is not a repository entry", e)
		}
		got = append(got, e.Source)
	}
	if want := []string{u.Host + "/proj/a", u.Host + "/proj/sub/b"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	_, err = expandRegistries(context.Background(), req, []imagelist.Entry{{Source: u.Host, Registry: true}})
	if err == nil || !strings.Contains(err.Error(), "does not list its repositories (GET /v2/_catalog answered 401") {
		t.Errorf("the whole registry: got %v", err)
	}
}
