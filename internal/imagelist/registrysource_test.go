package imagelist

import (
	"reflect"
	"testing"
)

func TestParseSyncFileRegistryEntry(t *testing.T) {
	data := `sync:
  - source: old.lan:5000/team
    target: new.lan/mirror
    type: registry
    repos:
      allow: ["team/.*"]
      deny: ["team/tmp-.*"]
    tags:
      semverRange: ">=1"
      latest: 2
`
	entries, _, err := Parse("sync.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(entries))
	}
	e := entries[0]
	if !e.Registry || e.Repository || e.Source != "old.lan:5000/team" || e.Target != "new.lan/mirror" {
		t.Errorf("entry = %+v", e)
	}
	if e.Tags.Latest() != 2 || e.Tags.String() != "semverRange `>=1`; the latest 2" {
		t.Errorf("tags = %q, latest %d", e.Tags, e.Tags.Latest())
	}
	for path, want := range map[string]bool{"team/app": true, "team/tmp-x": false, "other/team/app": false, "xteam/app": false} {
		if got := e.Repos.Selects(path); got != want {
			t.Errorf("repos select %q = %v, want %v", path, got, want)
		}
	}
}

func TestParseRegistrySource(t *testing.T) {
	for _, tc := range []struct {
		in       string
		host, ns string
		bad      bool
	}{
		{in: "old.lan:5000", host: "old.lan:5000"},
		{in: "old.lan:5000/", host: "old.lan:5000"},
		{in: "localhost:5000/team/sub", host: "localhost:5000", ns: "team/sub"},
		{in: "docker.io/bitnami", host: "docker.io", ns: "bitnami"},
		{in: "harbor.lan/project", host: "harbor.lan", ns: "project"},
		{in: "team", bad: true},
		{in: "old.lan:5000/app:1.0", bad: true},
		{in: "old.lan:5000/app@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", bad: true},
		{in: "old.lan:99999", bad: true},
		{in: "old.lan/UPPER", bad: true},
	} {
		src, err := ParseRegistrySource(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error, got %+v", tc.in, src)
			}
			continue
		}
		if err != nil || src.Host != tc.host || src.Namespace != tc.ns {
			t.Errorf("%q = %+v, %v; want host %q namespace %q", tc.in, src, err, tc.host, tc.ns)
		}
	}
	src := RegistrySource{Host: "h", Namespace: "team"}
	if !src.Holds("team/app") || src.Holds("teams/app") || src.Holds("team") {
		t.Error("namespace prefix is a whole path component")
	}
}

func TestNewestBySemver(t *testing.T) {
	got, ok := NewestBySemver([]string{"1.2.0", "v1.10", "1.9.3", "2.0.0-rc1", "1.2"}, 3)
	if !ok || !reflect.DeepEqual(got, []string{"2.0.0-rc1", "v1.10", "1.9.3"}) {
		t.Errorf("got %v, %v", got, ok)
	}
	got, ok = NewestBySemver([]string{"1.2.0", "1.2"}, 5)
	if !ok || !reflect.DeepEqual(got, []string{"1.2.0", "1.2"}) {
		t.Errorf("a tie keeps the listing's order: got %v", got)
	}
	if _, ok := NewestBySemver([]string{"1.2.0", "latest"}, 1); ok {
		t.Error("a tag that is not a version makes the order by creation time")
	}
	if _, msg := ParseLatest("0"); msg == "" {
		t.Error("latest 0 is refused")
	}
	if n, msg := ParseLatest("3"); n != 3 || msg != "" {
		t.Errorf("latest 3 = %d %q", n, msg)
	}
}
