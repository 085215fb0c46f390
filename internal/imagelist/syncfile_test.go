package imagelist

import (
	"reflect"
	"testing"
)

func TestParseSyncFile(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		want     []entryView
		defaults Defaults
	}{
		{
			name: "one image, nothing else",
			data: "sync:\n  - source: nginx:1.27\n",
			want: []entryView{{Line: 2, Source: "nginx:1.27"}},
		},
		{
			name: "version, defaults with parallel, image with target",
			data: `version: 1
defaults:
  platforms: [linux/amd64, linux/arm64]
  parallel: 4
sync:
  - source: docker.io/library/busybox:1.36.1
    target: harbor.lan/mirror/busybox:1.36.1
    type: image
`,
			want:     []entryView{{Line: 6, Source: "docker.io/library/busybox:1.36.1", Target: "harbor.lan/mirror/busybox:1.36.1"}},
			defaults: Defaults{Platforms: []string{"linux/amd64", "linux/arm64"}, Jobs: 4},
		},
		{
			name:     "jobs is an alias of parallel",
			data:     "defaults:\n  jobs: 64\nsync:\n  - source: nginx\n",
			want:     []entryView{{Line: 4, Source: "nginx"}},
			defaults: Defaults{Jobs: 64},
		},
		{
			name:     "quoted parallel and a comma-separated platforms string",
			data:     "defaults:\n  parallel: \"1\"\n  platforms: linux/amd64, linux/arm/v7\nsync:\n  - source: nginx\n",
			want:     []entryView{{Line: 5, Source: "nginx"}},
			defaults: Defaults{Platforms: []string{"linux/amd64", "linux/arm/v7"}, Jobs: 1},
		},
		{
			name: "per-entry platforms as a string, a list, or empty",
			data: `sync:
  - source: nginx
    platforms: linux/arm64
  - source: alpine
    platforms:
      - linux/amd64
      - linux/arm/v7
  - source: busybox
    platforms: []
  - source: redis
    platforms:
`,
			want: []entryView{
				{Line: 2, Source: "nginx", Platforms: []string{"linux/arm64"}},
				{Line: 4, Source: "alpine", Platforms: []string{"linux/amd64", "linux/arm/v7"}},
				{Line: 8, Source: "busybox"},
				{Line: 10, Source: "redis"},
			},
		},
		{
			name: "repository with allow, deny and a semver range",
			data: `sync:
  - source: docker.io/library/busybox
    target: harbor.lan/mirror/busybox
    type: repository
    tags:
      allow: ["^1\\.36", "latest"]
      deny: ["-rc"]
      semverRange: ">=1.8 <2"
`,
			want: []entryView{{Line: 2, Source: "docker.io/library/busybox", Target: "harbor.lan/mirror/busybox", Repository: true,
				Tags: "allow `^1\\.36`, `latest`; deny `-rc`; semverRange `>=1.8 <2`"}},
		},
		{
			name: "repository with every tag, and a list of ranges",
			data: `sync:
  - source: traefik
    type: repository
  - source: traefik
    type: repository
    tags:
      semverRange: ["~2.11", ">=3.3 <4"]
  - source: traefik
    type: repository
    tags:
      allow: ^v3\.
`,
			want: []entryView{
				{Line: 2, Source: "traefik", Repository: true},
				{Line: 4, Source: "traefik", Repository: true, Tags: "semverRange `~2.11`, `>=3.3 <4`"},
				{Line: 8, Source: "traefik", Repository: true, Tags: "allow `^v3\\.`"},
			},
		},
		{
			name: "entry written below its dash, and flow style",
			data: "sync:\n  -\n    source: nginx\n  - {source: alpine, target: harbor.lan/alpine}\n",
			want: []entryView{{Line: 3, Source: "nginx"}, {Line: 4, Source: "alpine", Target: "harbor.lan/alpine"}},
		},
		{
			name: "merge key inside the sync list",
			data: `sync:
  - &first
    source: nginx
    type: repository
    tags: {allow: ["^1\\."]}
  - <<: *first
    source: alpine
`,
			want: []entryView{
				{Line: 2, Source: "nginx", Repository: true, Tags: "allow `^1\\.`"},
				{Line: 6, Source: "alpine", Repository: true, Tags: "allow `^1\\.`"},
			},
		},
		{
			name: "transport source in an image entry",
			data: "sync:\n  - source: oci-archive:build/app.tar\n    target: harbor.lan/apps/app:1.0\n",
			want: []entryView{{Line: 2, Source: "oci-archive:build/app.tar", Target: "harbor.lan/apps/app:1.0"}},
		},
		{
			name: "comments and a document marker",
			data: "# mirror\n---\nsync: # the list\n  - source: nginx # pinned below\n",
			want: []entryView{{Line: 4, Source: "nginx"}},
		},
		{
			name: "duplicates are kept for the caller",
			data: "sync:\n  - source: nginx\n  - source: nginx\n",
			want: []entryView{{Line: 2, Source: "nginx"}, {Line: 3, Source: "nginx"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, defaults, err := Parse("sync.yaml", []byte(tc.data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkEntries(t, "sync.yaml", entries, tc.want)
			if !reflect.DeepEqual(defaults, tc.defaults) {
				t.Errorf("defaults = %+v, want %+v", defaults, tc.defaults)
			}
		})
	}
}

func TestParseSyncFileErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		line int
		msg  string
	}{
		{name: "empty file", data: "", line: 0, msg: "the sync file has no images"},
		{name: "only comments", data: "# nothing yet\n", line: 0, msg: "the sync file has no images"},
		{name: "no sync key", data: "version: 1\n", line: 0, msg: "the sync file has no images"},
		{name: "empty sync list", data: "sync: []\n", line: 0, msg: "the sync file has no images"},
		{name: "syntax error", data: "sync:\n  - source: nginx\n\t- source: alpine\n", line: 2, msg: "the file is not valid YAML (found a tab character that violates indentation)"},
		{name: "unclosed flow list", data: "sync:\n  - source: nginx\n    platforms: [linux/amd64\n", line: 2, msg: "the file is not valid YAML (did not find expected ',' or ']')"},
		{name: "second document", data: "sync:\n  - source: nginx\n---\nsync:\n  - source: alpine\n", line: 3, msg: "a second YAML document"},
		{name: "creds", data: "version: 1\ncreds:\n  - registry: docker.io\n    user: me\nsync:\n  - source: nginx\n", line: 2, msg: "credentials come from `docker login`, never from"},
		{name: "creds through a merge key", data: "<<: {creds: [{registry: docker.io}]}\nsync:\n  - source: nginx\n", line: 1, msg: "credentials come from `docker login`"},
		{name: "unknown top-level key", data: "sync:\n  - source: nginx\nx-base: {}\n", line: 3, msg: `unknown key "x-base" at the top level; the keys there are version, defaults, sync`},
		{name: "unknown defaults key", data: "defaults:\n  ratelimit: {min: 100}\nsync:\n  - source: nginx\n", line: 2, msg: `unknown key "ratelimit" in defaults; the keys there are platforms, parallel, jobs`},
		{name: "unknown entry key", data: "sync:\n  - source: nginx\n  - source: alpine\n    platform: linux/amd64\n", line: 4, msg: `unknown key "platform" in a sync entry; the keys there are source, target, type, platforms, tags`},
		{name: "unknown tags key", data: "sync:\n  - source: nginx\n    type: repository\n    tags:\n      allowed: [x]\n", line: 5, msg: `unknown key "allowed" in tags; the keys there are allow, deny, semverRange`},
		{name: "duplicate key", data: "sync:\n  - source: nginx\n    target: a/b\n    target: c/d\n", line: 4, msg: `the key "target" is given twice in the same mapping (first on line 3)`},
		{name: "top level is a list", data: "- nginx\n- alpine\n", line: 1, msg: "the file must be a mapping with version, defaults and sync keys, not a list"},
		{name: "sync is a string", data: "sync: nginx\n", line: 1, msg: "sync must be a list of entries"},
		{name: "entry is a string", data: "sync:\n  - source: nginx\n  - alpine:3.20\n", line: 3, msg: "each sync entry must be a mapping such as `source: docker.io/library/nginx:1.27`, not a string"},
		{name: "entry is a short string", data: "sync:\n  - nginx\n", line: 2, msg: "not `nginx`"},
		{name: "defaults is a list", data: "defaults: [4]\nsync:\n  - source: nginx\n", line: 1, msg: "defaults must be a mapping"},
		{name: "tags is a number", data: "sync:\n  - source: nginx\n    type: repository\n    tags: 5\n", line: 4, msg: "tags must be a mapping of allow, deny, semverRange and latest, not `5`"},
		{name: "version 2", data: "version: 2\nsync:\n  - source: nginx\n", line: 1, msg: `version "2" is not supported; write version: 1`},
		{name: "version is a list", data: "version: [1]\nsync:\n  - source: nginx\n", line: 1, msg: "version must be a single value"},
		{name: "parallel zero", data: "defaults:\n  parallel: 0\nsync:\n  - source: nginx\n", line: 2, msg: `parallel "0" is not a whole number from 1 to 64`},
		{name: "parallel too high", data: "defaults:\n  parallel: 65\nsync:\n  - source: nginx\n", line: 2, msg: `parallel "65" is not a whole number from 1 to 64`},
		{name: "jobs not a number", data: "defaults:\n  jobs: four\nsync:\n  - source: nginx\n", line: 2, msg: `jobs "four" is not a whole number from 1 to 64`},
		{name: "parallel and jobs", data: "defaults:\n  parallel: 2\n  jobs: 3\nsync:\n  - source: nginx\n", line: 3, msg: "both parallel and jobs"},
		{name: "defaults platform without os", data: "defaults:\n  platforms: [linux/amd64, arm64]\nsync:\n  - source: nginx\n", line: 2, msg: `platform "arm64" is not os/arch[/variant] in lowercase`},
		{name: "platform in uppercase", data: "sync:\n  - source: nginx\n    platforms:\n      - linux/amd64\n      - Linux/ARM64\n", line: 5, msg: `platform "Linux/ARM64" is not os/arch[/variant]`},
		{name: "platform with four parts", data: "sync:\n  - source: nginx\n    platforms: linux/arm/v7/x\n", line: 3, msg: `platform "linux/arm/v7/x"`},
		{name: "platform with an empty part", data: "sync:\n  - source: nginx\n    platforms: linux//v7\n", line: 3, msg: `platform "linux//v7"`},
		{name: "platforms is a mapping", data: "sync:\n  - source: nginx\n    platforms: {os: linux}\n", line: 3, msg: "platforms must be a string or a list of strings, not a mapping"},
		{name: "platforms item is a list", data: "sync:\n  - source: nginx\n    platforms:\n      - [linux/amd64]\n", line: 4, msg: "each item of platforms must be a string"},
		{name: "entry without source", data: "sync:\n  - source: nginx\n  - target: harbor.lan/x\n", line: 3, msg: "this sync entry has no source"},
		{name: "null entry", data: "sync:\n  - source: nginx\n  -\n", line: 3, msg: "this sync entry has no source"},
		{name: "source is null", data: "sync:\n  - source:\n", line: 2, msg: "this sync entry has no source"},
		{name: "source is empty", data: "sync:\n  - source: \"\"\n", line: 2, msg: "source is empty"},
		{name: "source is a list", data: "sync:\n  - source: [nginx]\n", line: 2, msg: "source must be a single value, not a list"},
		{name: "source with scheme", data: "sync:\n  - source: nginx\n  - source: docker://alpine:3.20\n", line: 3, msg: `source "docker://alpine:3.20" starts with the scheme "docker://"; drop it`},
		{name: "source with uppercase", data: "sync:\n  - source: library/Alpine\n", line: 2, msg: "repository names are lowercase"},
		{name: "source with a bad tag", data: "sync:\n  - source: alpine:3.20?\n", line: 2, msg: `has the invalid tag "3.20?"`},
		{name: "target malformed", data: "sync:\n  - source: nginx\n    target: harbor.lan/x/nginx:1.27:extra\n", line: 3, msg: "target"},
		{name: "type unknown", data: "sync:\n  - source: nginx\n    type: namespace\n", line: 3, msg: `type "namespace" is not image, repository or registry`},
		{name: "registry source with a tag", data: "sync:\n  - source: old.lan:5000/team/app:1.0\n    type: registry\n", line: 2, msg: `"old.lan:5000/team/app:1.0" has a tag, but a registry source copies every repository under it`},
		{name: "registry source without a host", data: "sync:\n  - source: team\n    type: registry\n", line: 2, msg: `"team" does not start with a registry host`},
		{name: "repos regex invalid", data: "sync:\n  - source: old.lan:5000\n    type: registry\n    repos:\n      allow:\n        - team/.*\n        - \"(unclosed\"\n", line: 7, msg: `repos allow pattern "(unclosed" is not a valid regular expression`},
		{name: "repos on a repository entry", data: "sync:\n  - source: old.lan:5000/app\n    type: repository\n    repos: {allow: [x]}\n", line: 4, msg: "repos apply only to type: registry"},
		{name: "repos unknown key", data: "sync:\n  - source: old.lan:5000\n    type: registry\n    repos: {include: [x]}\n", line: 4, msg: `unknown key "include" in repos; the keys there are allow, deny`},
		{name: "latest zero", data: "sync:\n  - source: old.lan:5000\n    type: registry\n    tags:\n      latest: 0\n", line: 5, msg: `latest "0" is not a whole number of 1 or more`},
		{name: "latest negative", data: "sync:\n  - source: old.lan:5000/app\n    type: repository\n    tags:\n      latest: -2\n", line: 5, msg: `latest "-2" is not a whole number of 1 or more`},
		{name: "latest not an integer", data: "sync:\n  - source: old.lan:5000/app\n    type: repository\n    tags:\n      latest: 2.5\n", line: 5, msg: `latest "2.5" is not a whole number of 1 or more`},
		{name: "type is a list", data: "sync:\n  - source: nginx\n    type: [image]\n", line: 3, msg: "type must be a single value"},
		{name: "tags on an image entry", data: "sync:\n  - source: nginx\n    target: harbor.lan/nginx\n    tags:\n      allow: [x]\n", line: 4, msg: "tags apply only to type: repository"},
		{name: "tags on an entry that says type image", data: "sync:\n  - source: nginx\n    type: image\n    tags: {}\n", line: 4, msg: "tags apply only to type: repository"},
		{name: "repository source with a tag", data: "sync:\n  - source: nginx\n  - source: busybox:1.36\n    type: repository\n", line: 3, msg: `source "busybox:1.36" of a repository entry has a tag or digest`},
		{name: "repository source with a digest", data: "sync:\n  - source: busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    type: repository\n", line: 2, msg: "has a tag or digest"},
		{name: "repository target with a tag", data: "sync:\n  - source: busybox\n    target: harbor.lan/busybox:1\n    type: repository\n", line: 3, msg: `target "harbor.lan/busybox:1" of a repository entry has a tag or digest`},
		{name: "repository from an archive", data: "sync:\n  - source: oci-archive:x.tar\n    type: repository\n", line: 2, msg: "is a oci-archive location, but a repository entry lists tags from a registry"},
		{name: "invalid allow regex", data: "sync:\n  - source: busybox\n    type: repository\n    tags:\n      allow:\n        - ok\n        - \"(1.36\"\n", line: 7, msg: `allow pattern "(1.36" is not a valid regular expression (error parsing regexp: missing closing )`},
		{name: "invalid deny regex", data: "sync:\n  - source: busybox\n    type: repository\n    tags:\n      deny: \"[\"\n", line: 5, msg: `deny pattern "[" is not a valid regular expression`},
		{name: "invalid semver range", data: "sync:\n  - source: busybox\n    type: repository\n    tags:\n      semverRange: [\">=1\", \"one point eight\"]\n", line: 5, msg: `semverRange "one point eight" is not a valid version range`},
		{name: "allow is a mapping", data: "sync:\n  - source: busybox\n    type: repository\n    tags:\n      allow: {a: b}\n", line: 5, msg: "allow must be a string or a list of strings, not a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, _, err := Parse("sync.yaml", []byte(tc.data))
			if err == nil {
				t.Fatalf("Parse accepted the file: %+v", entries)
			}
			checkError(t, err, "sync.yaml", tc.line, tc.msg)
		})
	}
}
