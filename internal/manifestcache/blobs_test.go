package manifestcache

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestBlobRecord(t *testing.T) {
	r := OpenBlobRecord(t.TempDir())
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	if got := r.Where("h:5000", d, ""); got != nil {
		t.Fatalf("empty record found %v", got)
	}
	for i := range 10 {
		r.Saw("h:5000", d, "team/app"+string(rune('0'+i)))
	}
	r.Saw("h:5000", d, "team/app3") // seen again: first
	got := r.Where("h:5000", d, "team/app9")
	if want := []string{"team/app3", "team/app8", "team/app7", "team/app6", "team/app5"}; !slices.Equal(got, want) {
		t.Errorf("Where = %v, want %v (most recent first, at most %d, without the one written)", got, want, MaxMountTries)
	}
	if got := r.Where("other:5000", d, ""); got != nil {
		t.Errorf("another registry found %v", got)
	}
	r.ReadOnly().Saw("h:5000", d, "new/repo")
	if slices.Contains(r.Where("h:5000", d, ""), "new/repo") {
		t.Error("a read-only record kept something")
	}
	var none *BlobRecord
	none.Saw("h", d, "x")
	if none.Where("h", d, "") != nil {
		t.Error("a nil record found something")
	}
}
