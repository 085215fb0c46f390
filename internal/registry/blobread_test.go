package registry

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/errdefs"
	"github.com/docker-migrate/docker-migrate/internal/testutil/quirk"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A small blob whose bytes do not match its digest once is read again and
// comes out whole; twice, it is the source's corruption, in one sentence.
func TestGetBlobReadsAgain(t *testing.T) {
	srv := httptest.NewServer(quiet())
	defer srv.Close()
	p := quirk.Start(t, strings.TrimPrefix(srv.URL, "http://"), quirk.Options{})
	img, err := random.Image(1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, p.Ref("flip/img:v1")), img); err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := New().Repository(ctx, repoOf(t, p.Host, "flip/img"), Pull)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		inARow  int
		wantErr string
	}{
		{1, ""},
		{2, "has digest"},
	} {
		p.Set(quirk.Options{FlipBlobs: 1, FlakyMaxInARow: tc.inARow})
		rc, err := r.GetBlob(ctx, cfg)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(rc)
			rc.Close()
			if err == nil && sha256Of(b) != cfg {
				t.Errorf("%d flips in a row: read %s, want %s", tc.inARow, sha256Of(b), cfg)
			}
		}
		if tc.wantErr == "" && err != nil {
			t.Errorf("%d flip: %v", tc.inARow, err)
		}
		if tc.wantErr != "" && (!errdefs.Is(err, errdefs.DigestMismatch) || !strings.Contains(err.Error(), "holds a corrupt blob")) {
			t.Errorf("%d flips in a row: %v, want a corrupt blob", tc.inARow, err)
		}
		if s := p.Stats(); s.Flipped != tc.inARow {
			t.Errorf("%d flips, want %d", s.Flipped, tc.inARow)
		}
	}
}
