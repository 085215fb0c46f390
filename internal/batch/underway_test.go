package batch

import (
	"strings"
	"testing"

	"github.com/docker-migrate/docker-migrate/internal/migrate"
)

// An image interrupted while an engine's save streamed its layers into DST
// is not "being planned": the sentence says what arrived and that nothing
// is tagged.
func TestUnderWayReasonForwarding(t *testing.T) {
	r := &runner{}
	res := &migrate.Result{Destination: "reg.example/app:v1", Forwarding: true}
	res.Blobs.Copied, res.Bytes.Copied = 2, 3<<20
	got := r.underWayReason(res)
	for _, want := range []string{"interrupted while its layers were being sent", "2 arrived (3.146MB)", "nothing is tagged at reg.example/app:v1", "run again to finish"} {
		if !strings.Contains(got, want) {
			t.Errorf("reason %q lacks %q", got, want)
		}
	}
	if got := r.underWayReason(nil); !strings.Contains(got, "being planned") {
		t.Errorf("reason without a result %q", got)
	}
}
