package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

// The Hub API's "List repositories in a namespace", in its documented shape:
// {"count", "next", "previous", "results": [{"name", "namespace", …}]}, with
// next an absolute URL and null on the last page.
func TestHubRepositories(t *testing.T) {
	names := []string{"redis", "nginx", "postgresql", "kafka", "mongodb"}
	var s *httptest.Server
	s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/namespaces/bitnami/repositories" {
			http.NotFound(w, r)
			return
		}
		pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
		pageNo = max(pageNo, 1)
		const size = 2
		start, end := (pageNo-1)*size, min(pageNo*size, len(names))
		next := "null"
		if end < len(names) {
			next = strconv.Quote(fmt.Sprintf("%s/v2/namespaces/bitnami/repositories?page=%d&page_size=%d", s.URL, pageNo+1, size))
		}
		results := ""
		for i, n := range names[start:end] {
			if i > 0 {
				results += ","
			}
			results += fmt.Sprintf(`{"name":%q,"namespace":"bitnami","repository_type":"image","status":1,"is_private":false,"star_count":0,"pull_count":10}`, n)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"count":%d,"next":%s,"previous":null,"results":[%s]}`, len(names), next, results)
	}))
	defer s.Close()
	old := hubAPI
	hubAPI = s.URL
	defer func() { hubAPI = old }()

	var got []string
	pages := 0
	if err := New().HubRepositories(context.Background(), "bitnami", func(repos []string) error {
		pages++
		got = append(got, repos...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"bitnami/redis", "bitnami/nginx", "bitnami/postgresql", "bitnami/kafka", "bitnami/mongodb"}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("got %v in %d pages, want %v in 3", got, pages, want)
	}
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// Harbor's "List repositories" (API v2.0), in its documented shape: a JSON
// array of repositories a page, X-Total-Count, the next page in a Link
// header; basic auth with the docker login credentials. A host that is not
// Harbor (404) lists nothing and says so with ok false.
func TestHarborRepositories(t *testing.T) {
	names := []string{"proj/app", "proj/team/api", "proj/web"}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2.0/projects/proj/repositories" {
			http.NotFound(w, r)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "robot" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}`)
			return
		}
		pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
		pageNo = max(pageNo, 1)
		const size = 2
		start, end := (pageNo-1)*size, min(pageNo*size, len(names))
		if end < len(names) {
			w.Header().Set("Link", fmt.Sprintf(`</api/v2.0/projects/proj/repositories?page=%d&page_size=%d>; rel="next"`, pageNo+1, size))
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(len(names)))
		w.Header().Set("Content-Type", "application/json")
		out := "["
		for i, n := range names[start:end] {
			if i > 0 {
				out += ","
			}
			out += fmt.Sprintf(`{"id":%d,"project_id":3,"name":%q,"artifact_count":2,"pull_count":0,"creation_time":"2024-01-02T03:04:05.000Z","update_time":"2024-01-02T03:04:05.000Z"}`, start+i+1, n)
		}
		fmt.Fprint(w, out+"]")
	}))
	defer s.Close()
	host := hostOf(s)
	c := New(WithKeychain(staticKeychain{"robot", "secret"}))
	var got []string
	ok, err := c.HarborRepositories(context.Background(), host, "proj", func(repos []string) error {
		got = append(got, repos...)
		return nil
	})
	if err != nil || !ok || !slices.Equal(got, names) {
		t.Errorf("got %v, ok %v, err %v; want %v", got, ok, err, names)
	}
	if ok, err := c.HarborRepositories(context.Background(), host, "other", func([]string) error { return nil }); ok || err != nil {
		t.Errorf("a project Harbor does not have: ok %v, err %v; want ok false", ok, err)
	}
	if ok, _ := New(WithKeychain(staticKeychain{"robot", "wrong"})).HarborRepositories(context.Background(), host, "proj", func([]string) error { return nil }); ok {
		t.Error("refused credentials should leave the catalog's sentence standing (ok false)")
	}
}
