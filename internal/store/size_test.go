package store

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestSizeDisagrees(t *testing.T) {
	some := v1.Hash{Algorithm: "sha256", Hex: "5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"}
	empty, _ := v1.NewHash(emptyDigest)
	for _, tc := range []struct {
		d         v1.Hash
		got, want int64
		disagrees bool
	}{
		{some, 584, 585, true},
		{some, 586, 585, true},
		{some, 585, 585, false},
		{some, -1, 585, false}, // no length given
		{some, 0, 585, false},  // a registry that answers 0 for what it holds
		{empty, 0, 1, true},
		{empty, 0, 0, false},
	} {
		if got := SizeDisagrees(tc.d, tc.got, tc.want); got != tc.disagrees {
			t.Errorf("SizeDisagrees(%s, %d, %d) = %v", tc.d.Hex[:8], tc.got, tc.want, got)
		}
	}
}
