package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1"
)

// A catalog of 7 names at 3 a page: every page followed through Link, n sent,
// one page handed over at a time.
func TestCatalogPages(t *testing.T) {
	names := []string{"a/one", "a/two", "b/one", "b/two", "c", "d", "e"}
	var pages atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		if r.URL.Path != "/v2/_catalog" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("n") == "" {
			t.Errorf("catalog request without n: %s", r.URL)
		}
		pages.Add(1)
		start := 0
		if last := r.URL.Query().Get("last"); last != "" {
			start = slices.Index(names, last) + 1
		}
		end := min(start+3, len(names))
		if end < len(names) {
			w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?last=%s&n=3>; rel="next"`, names[end-1]))
		}
		fmt.Fprintf(w, `{"repositories":[%s]}`, quoteAll(names[start:end]))
	}))
	defer s.Close()
	var got []string
	maxPage := 0
	err := New().Catalog(context.Background(), hostOf(s), func(repos []string) error {
		got = append(got, repos...)
		maxPage = max(maxPage, len(repos))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, names) || pages.Load() != 3 || maxPage != 3 {
		t.Errorf("got %v in %d pages (largest %d), want %v in 3", got, pages.Load(), maxPage, names)
	}
}

func quoteAll(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += strconv.Quote(s)
	}
	return out
}

// A refused or missing catalog is a *CatalogError naming the host and status.
func TestCatalogRefused(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.WriteHeader(status)
		}))
		err := New().Catalog(context.Background(), hostOf(s), func([]string) error { return nil })
		s.Close()
		var ce *CatalogError
		if !errors.As(err, &ce) || ce.Status != status || ce.Host != hostOf(s) {
			t.Errorf("%d: got %v, want a CatalogError", status, err)
		}
	}
}

// Deleting by digest: 202 is done, 404 is already done, 405 UNSUPPORTED is
// ErrDeleteUnsupported.
func TestDeleteManifest(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "0123456789012345678901234567890123456789012345678901234567890123"}
	for _, tc := range []struct {
		status      int
		body        string
		unsupported bool
		fails       bool
	}{
		{status: http.StatusAccepted},
		{status: http.StatusNotFound},
		{status: http.StatusMethodNotAllowed, body: `{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`, unsupported: true, fails: true},
		{status: http.StatusForbidden, fails: true},
	} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			if r.Method != http.MethodDelete || r.URL.Path != "/v2/app/manifests/"+d.String() {
				t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			fmt.Fprint(w, tc.body)
		}))
		r, err := New().Deleter(repoOf(t, hostOf(s), "app"))
		if err != nil {
			t.Fatal(err)
		}
		err = r.DeleteManifest(context.Background(), d)
		s.Close()
		if (err != nil) != tc.fails || errors.Is(err, ErrDeleteUnsupported) != tc.unsupported {
			t.Errorf("%d: got %v", tc.status, err)
		}
	}
}
