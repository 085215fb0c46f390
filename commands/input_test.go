package commands

import "testing"

// A run of one image named in full reports as a single copy; any flag of a
// batch, a place as DST, an archive or a list makes it a batch (of one).
func TestNamesOneImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts migrateOptions
		args []string
		want bool
	}{
		{"SRC DST", migrateOptions{}, []string{"nginx:1.27", "localhost:5000/nginx"}, true},
		{"SRC DST:TAG", migrateOptions{}, []string{"nginx:1.27", "localhost:5000/nginx:v1"}, true},
		{"two SRCs", migrateOptions{}, []string{"nginx:1.27", "alpine:3", "localhost:5000/m"}, false},
		{"a registry as DST", migrateOptions{}, []string{"nginx:1.27", "localhost:5000"}, false},
		{"an archive DST", migrateOptions{}, []string{"nginx:1.27", "oci-archive:x.tar"}, false},
		{"an archive SRC", migrateOptions{}, []string{"oci:dir", "localhost:5000/x:v1"}, false},
		{"an engine SRC", migrateOptions{}, []string{"docker-daemon:app:1", "localhost:5000/app:1"}, false},
		{"--check", migrateOptions{check: checkFlags{enabled: true}}, []string{"nginx:1.27", "localhost:5000/nginx"}, false},
		{"--fail-fast", migrateOptions{batch: batchOptions{failFast: true}}, []string{"nginx:1.27", "localhost:5000/nginx"}, false},
		{"--report", migrateOptions{batch: batchOptions{reportFile: "r.jsonl"}}, []string{"nginx:1.27", "localhost:5000/nginx"}, false},
		{"-a", migrateOptions{sync: syncOptions{allTags: true}}, []string{"nginx", "localhost:5000/m"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs, dst := tc.args[:len(tc.args)-1], tc.args[len(tc.args)-1]
			if got := namesOneImage(tc.opts, srcs, dst); got != tc.want {
				t.Errorf("namesOneImage(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}
