#!/usr/bin/env bash
# A tour of `docker migrate` on this machine alone: two throw-away distribution
# registries on free loopback ports, a generated 8-platform image (with buildx-style
# attestations) pushed to the first, and the installed plugin copying it to the
# second. The destination is then read back with crane, not with the plugin.
#
#   make install demo        (or: scripts/demo.sh after `make install`)
#
# Everything lives in one temporary directory; the registries are stopped and the
# directory removed on exit, whatever happens. The docker config is only read.
set -euo pipefail
cd "$(dirname "$0")/.."

# Small layers keep the demo quick: 8 platforms x 2 layers of 1 MB (one shared).
LAYER_SIZE=${DEMO_LAYER_SIZE:-1000000}

# Headings in bold on a terminal, plain in a log.
if [[ -t 2 ]]; then
	say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
else
	say() { printf '\n==> %s\n' "$*" >&2; }
fi
run() {
	printf '$ %s\n' "$*" >&2
	"$@"
}
die() {
	echo "demo: $*" >&2
	exit 1
}

command -v docker >/dev/null || die "no docker CLI on PATH; install Docker's CLI (Debian: apt-get install docker.io) and run again"
# Plugins are listed in `docker --help` (with a '*'); `docker migrate --help`
# alone succeeds even when there is no such plugin.
if ! docker --help 2>/dev/null | grep -Eq '^[[:space:]]+migrate\*?[[:space:]]'; then
	die "'docker migrate' is not installed in ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins; run 'make install demo'"
fi

# The pinned registry and crane, installed into the tools cache when missing.
scripts/install-tools.sh registry crane
TOOLS_BIN=$(scripts/install-tools.sh path)
REGISTRY=$TOOLS_BIN/registry
CRANE=$TOOLS_BIN/crane

WORK=$(mktemp -d "${TMPDIR:-/tmp}/docker-migrate-demo.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_registry NAME: starts a registry on a free loopback port, with its storage
# under $WORK/NAME, and sets HOST to its host:port. (Not run in a subshell, so
# that its pid reaches PIDS and the cleanup.)
start_registry() {
	local name=$1 dir=$WORK/$1 port attempt pid i
	mkdir -p "$dir"
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		port_in_use "$port" && continue
		cat >"$dir/config.yml" <<-EOF
			version: 0.1
			log:
			  level: error
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $dir/storage
			  maintenance:
			    uploadpurging:
			      enabled: false
			http:
			  addr: 127.0.0.1:$port
		EOF
		# OTEL_TRACES_EXPORTER=none: the registry would otherwise keep trying to
		# send traces to a collector on localhost:4318.
		OTEL_TRACES_EXPORTER=none "$REGISTRY" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			if port_in_use "$port"; then
				HOST=127.0.0.1:$port
				return 0
			fi
			sleep 0.1
		done
		echo "demo: registry $name did not start on port $port (attempt $attempt):" >&2
		tail -n 5 "$dir/registry.log" >&2 || true
		kill "$pid" 2>/dev/null || true
	done
	die "could not start registry $name"
}

# platforms REF: the platforms listed in REF's index, read with crane.
platforms() {
	"$CRANE" manifest "$1" | grep -o '"platform":{[^}]*}' | while read -r p; do
		local os arch variant
		os=$(sed -nE 's/.*"os":"([^"]*)".*/\1/p' <<<"$p")
		arch=$(sed -nE 's/.*"architecture":"([^"]*)".*/\1/p' <<<"$p")
		variant=$(sed -nE 's/.*"variant":"([^"]*)".*/\1/p' <<<"$p")
		echo "  $os/$arch${variant:+/$variant}"
	done
}

say "Starting two throw-away registries"
start_registry src
SRC_HOST=$HOST
start_registry dst
DST_HOST=$HOST
echo "source registry:      $SRC_HOST" >&2
echo "destination registry: $DST_HOST" >&2

SRC=$SRC_HOST/demo/app:1.0
DST=$DST_HOST/mirror/app:1.0

say "Seeding $SRC: 8 platforms with attestations"
run go run ./internal/testutil/cmd/seed --platforms 8 --attestations --layer-size "$LAYER_SIZE" "$SRC" >/dev/null
echo "source digest: $("$CRANE" digest "$SRC")"

say "What would be copied (--dry-run writes nothing)"
run docker migrate --dry-run "$SRC" "$DST"

say "Copying every platform"
run docker migrate "$SRC" "$DST"

say "The destination, read back with crane"
echo "source digest:      $("$CRANE" digest "$SRC")"
echo "destination digest: $("$CRANE" digest "$DST")"
echo "platforms of $DST ('unknown/unknown' are attestation manifests):"
platforms "$DST"

say "Only two platforms (the index is rewritten, so its digest changes)"
run docker migrate --platform linux/amd64,linux/arm64 "$SRC" "$DST_HOST/mirror/app:1.0-slim"
echo "platforms of $DST_HOST/mirror/app:1.0-slim:"
platforms "$DST_HOST/mirror/app:1.0-slim"

say "The same copy again: everything is already there"
run docker migrate --format json "$SRC" "$DST"

say "Done; stopping the registries"
