package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A registry with token auth mounts a blob only for a token that pulls from
// the repository mounted from: MountFrom's token carries that scope. A
// token refused for it is no error: the mount is declined and the caller
// uploads.
func TestMountFromTokenScope(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}
	var refuseToken, mounts atomic.Int32
	var s *httptest.Server
	s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			scopes := strings.Join(r.URL.Query()["scope"], " ")
			if refuseToken.Load() == 1 && strings.Contains(scopes, "repository:old/app:pull") {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			json.NewEncoder(w).Encode(map[string]string{"token": base64.RawURLEncoding.EncodeToString([]byte(scopes))})
			return
		case !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="test"`, s.URL))
			w.WriteHeader(http.StatusUnauthorized)
			return
		case r.URL.Path == "/v2/":
			return
		case r.Method == http.MethodPost && r.URL.Path == "/v2/new/app/blobs/uploads/":
			granted, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			if r.URL.Query().Get("from") == "old/app" && strings.Contains(string(granted), "repository:old/app:pull") {
				mounts.Add(1)
				w.WriteHeader(http.StatusCreated)
				return
			}
			w.Header().Set("Location", "/v2/new/app/blobs/uploads/session")
			w.WriteHeader(http.StatusAccepted)
			return
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.NotFound(w, r)
	}))
	defer s.Close()
	c := New()
	dst, err := c.Repository(context.Background(), repoOf(t, hostOf(s), "new/app"), Push)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dst.MountFrom(context.Background(), d, "old/app"); !ok || err != nil || mounts.Load() != 1 {
		t.Errorf("mount with the from scope: %v, %v (%d mounts)", ok, err, mounts.Load())
	}
	refuseToken.Store(1)
	c = New()
	dst, _ = c.Repository(context.Background(), repoOf(t, hostOf(s), "new/app"), Push)
	if ok, err := dst.MountFrom(context.Background(), d, "old/app"); ok || err != nil {
		t.Errorf("a token refused for the other repository: %v, %v; want not mounted, no error", ok, err)
	}
}
