package wording

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestWording(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	hub := name.MustParseReference("nginx:1.27")
	ghcr := name.MustParseReference("ghcr.io/org/app:v1")
	for _, tc := range []struct{ got, want string }{
		{Count(1, "image"), "1 image"},
		{Count(0, "image"), "0 images"},
		{Count(3, "tag"), "3 tags"},
		{CountOf(2, "blob or manifest", "blobs and manifests"), "2 blobs and manifests"},
		{Digest(d), "sha256:0123456789ab"},
		{Digest(v1.Hash{Algorithm: "sha256", Hex: "abc"}), "sha256:abc"},
		{ID(d), "0123456789ab"},
		{Reference(hub), "docker.io/library/nginx:1.27"},
		{Reference(ghcr), "ghcr.io/org/app:v1"},
		{Repository(hub.Context()), "docker.io/library/nginx"},
		{Familiar(hub), "nginx:1.27"},
		{Familiar(ghcr), "ghcr.io/org/app:v1"},
		{FamiliarRepository(hub.Context()), "nginx"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
