#!/usr/bin/env bash
# Starts and stops a private dockerd for the tests: its own data root, exec root,
# pidfile and unix socket under DIR, no bridge and no iptables changes. It never
# touches a system-wide engine.
#
#   scripts/dockerd.sh start DIR   # prints the DOCKER_HOST value (unix://DIR/docker.sock)
#   scripts/dockerd.sh stop DIR
#
# DOCKERD=dockerd-29 starts the current engine (Docker 29, the containerd image
# store) that install-tools.sh builds, instead of Debian's 20.10.
# DOCKERD_ARGS adds daemon flags, split on whitespace, e.g.
#   DOCKERD_ARGS="--registry-mirror http://127.0.0.1:5001 --insecure-registry 10.0.0.2:5000"
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
	echo "usage: $0 start|stop DIR" >&2
	exit 2
fi
log() { echo "dockerd.sh: $*" >&2; }

case $cmd in
start)
	engine=${DOCKERD:-dockerd}
	extra=()
	case $engine in
	dockerd) tool=dockerd ;;
	dockerd-29)
		tool=dockerd29
		extra=(--ip6tables=false)
		;;
	*)
		log "DOCKERD=$engine: want dockerd or dockerd-29"
		exit 2
		;;
	esac
	# shellcheck disable=SC2206 # split on whitespace, as documented above
	extra+=(${DOCKERD_ARGS:-})
	if ! command -v "$engine" >/dev/null; then
		"$(dirname "$0")/install-tools.sh" "$tool"
	fi
	mkdir -p "$dir/data" "$dir/exec"
	sock=$dir/docker.sock
	# setsid: the daemon must not get the test's Ctrl-C or die with its shell.
	setsid "$engine" \
		--data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
		-H "unix://$sock" --bridge none --iptables=false --ip-masq=false "${extra[@]}" \
		--log-level warn >"$dir/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 1 150); do
		if [[ -S $sock ]] && DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1; then
			echo "unix://$sock"
			exit 0
		fi
		sleep 0.2
	done
	log "dockerd did not become ready in 30s; its log:"
	tail -n 30 "$dir/dockerd.log" >&2 || true
	"$0" stop "$dir" || true
	exit 1
	;;
stop)
	pidfile=$dir/docker.pid
	if [[ -f $pidfile ]]; then
		pid=$(cat "$pidfile")
		kill -TERM "$pid" 2>/dev/null || true
		# Wait for it to exit before anyone deletes DIR: overlay mounts linger.
		for _ in $(seq 1 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Unmount anything left under DIR (overlay layers, the exec root's netns).
	if command -v findmnt >/dev/null; then
		findmnt -rn -o TARGET | grep -F "$dir/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	fi
	;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
