#!/usr/bin/env bash
# Installs the real servers and tools the tests run against, at pinned versions,
# into a cache that survives between runs (~/.cache/docker-migrate/tools). Each
# tool is built once from the Go module proxy and reused after that.
#
#   scripts/install-tools.sh [registry|crane|buildkitd|buildx|dockerd|dockerd29|cosign|iproute|skopeo|zstd|tmux|regclient|docker-registry|all]...
#   scripts/install-tools.sh goreleaser   (for `make release-check`; `all` leaves it out)
#
# Prints nothing on stdout but, for `path`, the bin directory to put on PATH.
set -euo pipefail

# Pins: each of these resolves through the module proxy and builds on Go 1.26.
REGISTRY_VERSION=v3.1.2   # github.com/distribution/distribution/v3
CRANE_VERSION=v0.22.1     # github.com/google/go-containerregistry
BUILDKIT_VERSION=v0.23.2  # github.com/moby/buildkit (newer ones need refused modules)
BUILDX_VERSION=v0.26.1    # github.com/docker/buildx (v0.38 does not build here)
REGCLIENT_VERSION=v0.11.7 # github.com/regclient/regclient: regctl and regsync
DOCKERD29_VERSION=v2.0.0-beta.21 # github.com/moby/moby/v2: Docker 29, the containerd image store
COSIGN_VERSION=v2.6.5     # github.com/sigstore/cosign/v2: signs the --verify-key test images
GORELEASER_VERSION=v2.17.0 # github.com/goreleaser/goreleaser/v2: make release-check (not in `all`)

CACHE=${DOCKER_MIGRATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-migrate}
TOOLS=$CACHE/tools
BIN=$TOOLS/bin
mkdir -p "$BIN"

log() { echo "install-tools: $*" >&2; }

# go_build_pinned NAME MODULE@VERSION PACKAGE...: builds the packages in a throw-away
# module so that the pinned module's own go.mod decides the dependency versions.
go_build_pinned() {
	local name=$1 modver=$2
	shift 2
	local stamp=$TOOLS/$name.version
	if [[ -f $stamp && $(cat "$stamp") == "$modver" ]]; then
		local all=1
		for pkg in "$@"; do [[ -x $BIN/$(basename "$pkg") ]] || all=0; done
		[[ $all == 1 ]] && return 0
	fi
	log "building $name ($modver); this is done once and cached in $TOOLS"
	local work
	work=$(mktemp -d)
	(
		cd "$work"
		go mod init tmp/"$name" >/dev/null 2>&1
		# `go get` of each package (not just the module) records the sums its imports need.
		for pkg in "$@"; do go get "$pkg@${modver#*@}" >&2; done
		for pkg in "$@"; do
			CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$BIN/$(basename "$pkg")" "$pkg" >&2
		done
	)
	rm -rf "$work"
	echo "$modver" >"$stamp"
}

install_registry() {
	# `go install` needs a main module for pinned versions only when replace
	# directives exist; distribution v3 has none, so install it directly.
	local stamp=$TOOLS/registry.version
	if [[ -x $BIN/registry && -f $stamp && $(cat "$stamp") == "$REGISTRY_VERSION" ]]; then return 0; fi
	log "installing registry $REGISTRY_VERSION"
	GOBIN=$BIN CGO_ENABLED=0 go install "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" >&2
	echo "$REGISTRY_VERSION" >"$stamp"
}

install_crane() {
	local stamp=$TOOLS/crane.version
	if [[ -x $BIN/crane && -f $stamp && $(cat "$stamp") == "$CRANE_VERSION" ]]; then return 0; fi
	log "installing crane $CRANE_VERSION"
	GOBIN=$BIN CGO_ENABLED=0 go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" >&2
	echo "$CRANE_VERSION" >"$stamp"
}

install_buildkitd() {
	go_build_pinned buildkit "github.com/moby/buildkit@$BUILDKIT_VERSION" \
		github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
	command -v runc >/dev/null || apt_install runc
}

install_buildx() {
	go_build_pinned buildx "github.com/docker/buildx@$BUILDX_VERSION" \
		github.com/docker/buildx/cmd/buildx
}

apt_updated=0
apt_install() {
	if [[ $(id -u) != 0 ]]; then
		log "need root to apt-get install $*; install it and run again"
		exit 1
	fi
	if [[ $apt_updated == 0 ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		apt_updated=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

install_dockerd() {
	# Debian's docker.io brings dockerd 20.10, containerd and runc. It is never started
	# as a system service here: scripts/dockerd.sh runs a private one per test run.
	if command -v dockerd >/dev/null && command -v containerd >/dev/null; then return 0; fi
	apt_install docker.io
	# The package may start a system-wide daemon; the tests never use it.
	if command -v systemctl >/dev/null; then systemctl stop docker docker.socket >/dev/null 2>&1 || true; fi
}

# go_install_as NAME MODULE/PKG@VERSION: `go install` in a throw-away module
# (GOFLAGS=-mod=mod, as these modules' replace directives need), the binary
# renamed to NAME so that it cannot shadow a tool of the same base name.
go_install_as() {
	local name=$1 pkgver=$2
	local stamp=$TOOLS/$name.version
	if [[ -x $BIN/$name && -f $stamp && $(cat "$stamp") == "$pkgver" ]]; then return 0; fi
	log "building $name ($pkgver); this is done once and cached in $TOOLS"
	local work
	work=$(mktemp -d)
	(
		cd "$work"
		go mod init tmp/"$name" >/dev/null 2>&1
		GOFLAGS=-mod=mod GOBIN=$work/bin CGO_ENABLED=0 ${NICE:-} go install -trimpath -ldflags '-s -w' "$pkgver" >&2
		# go install names a binary after the package's last element, or the
		# one before it when that is a major version (…/goreleaser/v2).
		local pkg=${pkgver%@*} built
		built=$(basename "$pkg")
		[[ $built =~ ^v[0-9]+$ ]] && built=$(basename "$(dirname "$pkg")")
		mv "$work/bin/$built" "$BIN/$name"
	)
	rm -rf "$work"
	echo "$pkgver" >"$stamp"
}

install_dockerd29() {
	# A current engine (Docker 29) with the containerd image store, beside
	# Debian's 20.10: Docker 25+ saves, multi-platform load and save. Named
	# dockerd-29 so that `dockerd` stays Debian's. It runs Debian's containerd.
	go_install_as dockerd-29 "github.com/moby/moby/v2/cmd/dockerd@$DOCKERD29_VERSION"
	install_dockerd
}

install_cosign() {
	go_install_as cosign "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
}

install_goreleaser() {
	# Only `make release-check` needs it: it builds every release target, so
	# it is not part of `all`, and `make test` never waits for it. Built
	# with nice: it is a large build (about 25 minutes on 2 busy cores).
	NICE="nice -n 10" go_install_as goreleaser "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
}

install_iproute() {
	# The e2e tests make test hosts of their own (ip netns + veth) for
	# registries that are not on loopback.
	command -v ip >/dev/null || apt_install iproute2
}

install_regclient() {
	# regctl reads our OCI layouts in the archive tests; regsync is a peer in
	# the batch benchmark.
	go_build_pinned regclient "github.com/regclient/regclient@$REGCLIENT_VERSION" \
		github.com/regclient/regclient/cmd/regctl github.com/regclient/regclient/cmd/regsync
}

install_docker_registry() {
	# Debian's distribution registry 2.8: the --referrers tests' registry
	# without the OCI 1.1 referrers API. Never run as a service here.
	if [[ -x /usr/bin/docker-registry ]]; then return 0; fi
	apt_install docker-registry
	if command -v systemctl >/dev/null; then systemctl stop docker-registry >/dev/null 2>&1 || true; fi
}

install_skopeo() {
	# The archive tests check that skopeo reads what we write (oci:, oci-archive:).
	command -v skopeo >/dev/null || apt_install skopeo
}

install_tmux() {
	# The progress test runs the plugin in a real terminal: a tmux pane of a
	# given width, whose screen it reads.
	command -v tmux >/dev/null || apt_install tmux
}

install_sshd() {
	# The docker-daemon tests reach a second engine through an ssh:// docker
	# context: Debian's sshd on a loopback port, with a key the test makes.
	[[ -x /usr/sbin/sshd ]] || apt_install openssh-server
}

install_zstd() {
	# The archive tests compress k3s-style airgap tarballs with the zstd CLI.
	command -v zstd >/dev/null || apt_install zstd
}

if [[ $# == 0 ]]; then set -- all; fi
for tool in "$@"; do
	case $tool in
	registry) install_registry ;;
	crane) install_crane ;;
	buildkitd) install_buildkitd ;;
	buildx) install_buildx ;;
	dockerd) install_dockerd ;;
	iproute) install_iproute ;;
	skopeo) install_skopeo ;;
	regclient) install_regclient ;;
	docker-registry) install_docker_registry ;;
	dockerd29) install_dockerd29 ;;
	cosign) install_cosign ;;
	goreleaser) install_goreleaser ;;
	zstd) install_zstd ;;
	sshd) install_sshd ;;
	tmux) install_tmux ;;
	all)
		install_registry
		install_crane
		install_dockerd
		install_iproute
		install_skopeo
		install_zstd
		install_sshd
		install_tmux
		install_regclient
		install_docker_registry
		install_buildkitd
		install_buildx
		install_dockerd29
		install_cosign
		;;
	path) echo "$BIN" ;;
	*)
		log "unknown tool $tool"
		exit 2
		;;
	esac
done
