#!/usr/bin/env bash
# Runs a standalone BuildKit daemon for the buildx strategy's tests and demos:
# buildkitd v0.23.2 (scripts/install-tools.sh buildkitd) as root, with the OCI
# worker on runc, listening on a unix socket, with all of its state, config,
# socket and log in one directory.
#
#   scripts/buildkitd.sh start DIR [REGISTRY]...  start it in the background and wait until it
#                                                  answers; prints its address, unix://DIR/buildkitd.sock
#   scripts/buildkitd.sh run DIR [REGISTRY]...    the same in the foreground (exec), for a caller
#                                                  that supervises the process itself
#   scripts/buildkitd.sh ready DIR [SECONDS]      wait (at most SECONDS, default 60) until it answers
#   scripts/buildkitd.sh stop DIR                 stop it (SIGTERM, SIGKILL after 20s) and remove DIR
#
# Each REGISTRY (HOST:PORT) gets `[registry."HOST:PORT"] http = true, insecure = true`
# in DIR/buildkitd.toml, so that BuildKit pulls and pushes over plain HTTP. A REGISTRY
# written https://HOST:PORT gets `http = false` instead: BuildKit then insists on
# HTTPS there, as it does for any registry that has no entry and is not on loopback
# (BuildKit speaks plain HTTP to loopback registries unless told otherwise).
set -euo pipefail

CACHE=${DOCKER_MIGRATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-migrate}
BIN=$CACHE/tools/bin
RUNC=${RUNC:-/usr/sbin/runc}

log() { echo "buildkitd.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

need_tools() {
	[[ -x $BIN/buildkitd && -x $BIN/buildctl ]] ||
		die "no buildkitd in $BIN: run scripts/install-tools.sh buildkitd first"
	[[ -x $RUNC ]] || die "no runc at $RUNC: apt-get install runc, or set RUNC"
	[[ $(id -u) == 0 ]] || die "buildkitd with the OCI worker runs as root here"
}

# write_config DIR REGISTRY...: the daemon's whole configuration; nothing points
# outside DIR except runc.
write_config() {
	local dir=$1
	shift
	mkdir -p "$dir/root"
	{
		echo "root = \"$dir/root\""
		echo
		echo "[grpc]"
		echo "  address = [\"unix://$dir/buildkitd.sock\"]"
		echo
		echo "[otel]"
		echo "  socketPath = \"$dir/otel-grpc.sock\""
		echo
		echo "[cdi]"
		echo "  disabled = true"
		echo
		echo "[worker.oci]"
		echo "  enabled = true"
		echo "  binary = \"$RUNC\""
		echo "  networkMode = \"host\""
		echo
		echo "[worker.containerd]"
		echo "  enabled = false"
		local reg
		for reg in "$@"; do
			echo
			case $reg in
			https://*)
				echo "[registry.\"${reg#https://}\"]"
				echo "  http = false"
				;;
			*)
				echo "[registry.\"$reg\"]"
				echo "  http = true"
				echo "  insecure = true"
				;;
			esac
		done
	} >"$dir/buildkitd.toml"
}

cmd_run() {
	local dir=${1:?DIR}
	shift
	need_tools
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	write_config "$dir" "$@"
	echo $$ >"$dir/buildkitd.pid"
	exec "$BIN/buildkitd" --config "$dir/buildkitd.toml"
}

cmd_ready() {
	local dir=${1:?DIR} secs=${2:-60}
	dir=$(cd "$dir" && pwd)
	local deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if [[ -S $dir/buildkitd.sock ]] &&
			timeout 5 "$BIN/buildctl" --addr "unix://$dir/buildkitd.sock" debug workers >/dev/null 2>&1; then
			return 0
		fi
		if [[ -f $dir/buildkitd.pid ]] && ! kill -0 "$(cat "$dir/buildkitd.pid")" 2>/dev/null; then
			die "buildkitd exited; its log:$(echo && tail -n 20 "$dir/buildkitd.log" 2>/dev/null)"
		fi
		sleep 0.1
	done
	die "buildkitd did not answer on unix://$dir/buildkitd.sock within ${secs}s"
}

cmd_start() {
	local dir=${1:?DIR}
	shift
	need_tools
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/buildkitd.pid ]] && kill -0 "$(cat "$dir/buildkitd.pid")" 2>/dev/null &&
		die "buildkitd is already running with its state in $dir"
	rm -f "$dir/buildkitd.pid" # `run` writes it: it becomes buildkitd's pid
	# setsid: its own session, so that the caller's Ctrl-C does not reach it.
	setsid "$0" run "$dir" "$@" </dev/null >"$dir/buildkitd.log" 2>&1 &
	if ! cmd_ready "$dir" 60; then
		cmd_stop "$dir" || true
		exit 1
	fi
	echo "unix://$dir/buildkitd.sock"
}

cmd_stop() {
	local dir=${1:?DIR}
	[[ -d $dir ]] || return 0
	dir=$(cd "$dir" && pwd)
	local pid=""
	[[ -f $dir/buildkitd.pid ]] && pid=$(cat "$dir/buildkitd.pid")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 200; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "buildkitd ($pid) still running after 20s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
		fi
	fi
	# A killed daemon can leave snapshot mounts behind; never rm -rf through one.
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
	rm -rf "$dir"
}

case ${1:-} in
start) shift && cmd_start "$@" ;;
run) shift && cmd_run "$@" ;;
ready) shift && cmd_ready "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) usage ;;
esac
