package commands

import (
	"strings"
	"testing"
)

// The selection flags' mistakes name the flag, not the sync file key.
func TestSyncEntriesFlagNames(t *testing.T) {
	for _, tc := range []struct {
		opts syncOptions
		want string
	}{
		{syncOptions{recursive: true, includeRepos: []string{"(x"}}, `--include-repo pattern "(x"`},
		{syncOptions{recursive: true, excludeRepos: []string{"(x"}}, `--exclude-repo pattern "(x"`},
		{syncOptions{allTags: true, includeTags: []string{"(x"}}, `--include-tag pattern "(x"`},
		{syncOptions{allTags: true, excludeTags: []string{"(x"}}, `--exclude-tag pattern "(x"`},
		{syncOptions{allTags: true, semverRanges: []string{">=>"}}, `--semver range ">=>"`},
	} {
		_, err := syncEntries(migrateOptions{sync: tc.opts}, []string{"old.lan:5000/app"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// -a and -r make entries of the kinds a sync file's types make.
func TestSyncEntries(t *testing.T) {
	es, err := syncEntries(migrateOptions{sync: syncOptions{recursive: true, latest: 3}}, []string{"old.lan:5000/team/"})
	if err != nil || len(es) != 1 || !es[0].Registry || es[0].Source != "old.lan:5000/team" || es[0].Tags.Latest() != 3 {
		t.Errorf("-r: %+v, %v", es, err)
	}
	es, err = syncEntries(migrateOptions{sync: syncOptions{allTags: true}}, []string{"nginx"})
	if err != nil || len(es) != 1 || !es[0].Repository || es[0].Source != "nginx" {
		t.Errorf("-a: %+v, %v", es, err)
	}
	if _, err := syncEntries(migrateOptions{sync: syncOptions{allTags: true}}, []string{"oci-archive:x.tar"}); err == nil {
		t.Error("-a of an archive is refused")
	}
}
