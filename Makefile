# docker-migrate: build, install, try and check the plugin.
#
#   make install demo   build, install into ~/.docker/cli-plugins (or $DOCKER_CONFIG), run the demo
#   make test           install the pinned test tools, then the unit and end-to-end tests
#   make docs           regenerate docs/reference and docs/man from the commands
#   make fuzz           run every fuzz target for FUZZTIME (30s) each
#   make release-check  goreleaser check, then a snapshot of every release file in dist/release
#
# The tools (registry, crane, dockerd, buildkitd, buildx) live in the cache that
# scripts/install-tools.sh fills; its bin directory is put first on PATH here, so
# that the tests and the demo find the pinned versions.

SHELL := /bin/bash

GO      ?= go
BINARY  := bin/docker-migrate

# The version is semver-shaped, as buildx's and compose's are: a tagged commit
# is its tag (v0.1.0); any other build is DEV_VERSION plus the commit as build
# metadata (v0.1.0-dev+545a5f4, .dirty for a modified tree).
# `make build VERSION=v1.2.3` sets it.
DEV_VERSION := v0.1.0-dev
REVISION    := $(shell git rev-parse --short=7 HEAD 2>/dev/null)
GIT_TAG     := $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)
GIT_DIRTY   := $(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo .dirty)
VERSION     := $(or $(GIT_TAG),$(if $(REVISION),$(DEV_VERSION)+$(REVISION)$(GIT_DIRTY),$(DEV_VERSION)))
PKG         := github.com/docker-migrate/docker-migrate
LDFLAGS     := -X $(PKG)/plugin.Version=$(VERSION) -X $(PKG)/plugin.Revision=$(REVISION)

# Evaluated once, when make reads this file: `install-tools.sh path` only prints
# the cache's bin directory (and creates it); it installs nothing.
TOOLS_BIN := $(shell scripts/install-tools.sh path)
export PATH := $(TOOLS_BIN):$(PATH)

# The benchmark(s) `make bench` runs; `make bench BENCH=.` runs every one.
BENCH ?= .

.PHONY: all build install demo tools test test-unit test-e2e bench fuzz lint docs release-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/docker-migrate

install: build
	mkdir -p "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins"
	install -m 0755 $(BINARY) "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins/docker-migrate"
	@echo "installed $${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins/docker-migrate ($(VERSION)); try: docker migrate --help"

demo:
	scripts/demo.sh

tools:
	scripts/install-tools.sh all

test: tools
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-e2e

# Every package but the end-to-end suite (whose TestMain also skips itself
# under -short). It includes ./docs, whose test fails when docs/ is stale.
test-unit:
	$(GO) test -short $$($(GO) list ./... | grep -v '/e2e')

test-e2e: tools
	$(GO) test -count=1 -timeout 20m ./e2e/...

bench:
	scripts/install-tools.sh registry crane regclient skopeo dockerd sshd
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 60m ./e2e/

# Every fuzz target of every package but e2e/ (whose TestMain starts servers),
# one after the other for FUZZTIME each: `go test -fuzz` takes one target at a
# time. One worker (-parallel 1), so that it shares the machine. A failing
# input is written to the package's testdata/fuzz and stops the run.
FUZZTIME ?= 30s

fuzz:
	@set -e; for pkg in $$($(GO) list ./... | grep -v '/e2e'); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg; \
		done; \
	done

# docs/reference (Markdown, docker/cli-docs-tool) and docs/man, from the
# cobra commands; `go test ./docs` fails until they are regenerated.
docs:
	$(GO) run ./docs --source docs/reference --man docs/man

# What a release publishes, built here without publishing anything: the
# pinned goreleaser (scripts/install-tools.sh goreleaser, built once; not part
# of `make tools`) checks .goreleaser.yaml, then builds every target, its
# archive and checksums.txt as a snapshot (no tag needed, nothing pushed).
# goreleaser keeps a raw binary at its build path and names it only when it
# uploads it, so dist/release/ gets every file under its published name, and
# checksums.txt is checked there, as a user checks a download.
release-check:
	scripts/install-tools.sh goreleaser
	goreleaser check
	goreleaser release --snapshot --clean --skip=publish
	rm -rf dist/release && mkdir dist/release
	jq -r '.[] | select(.type == "Archive" or .type == "Checksum" or .extra.Format == "binary") | "\(.path)\t\(.name)"' dist/artifacts.json | \
		while IFS=$$'\t' read -r path name; do cp "$$path" "dist/release/$$name"; done
	cd dist/release && sha256sum --check --strict checksums.txt
	@echo "release-check: dist/release holds what a release publishes:"; ls -1 dist/release

lint:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin dist
