#!/usr/bin/env bash
# make bench: berth against Docker Engine (Debian's docker.io), both driven
# through the same docker CLI with DOCKER_HOST switched. Both daemons run
# from a private temp dir with their own sockets, bridges, address pools
# and cgroup parents; bench/cmd/benchrun does the measuring and writes
# bench/results/<date>-<hostname>.md/.svg and latest.md/.svg. Everything
# started here is stopped and removed on exit, failures included.
#
#   BENCH_QUICK=1        small samples, a couple of minutes (development)
#   BENCH_DOCKER=0       berth only;  BENCH_BERTH=0: Docker only
#   BENCH_HOST_ADDR=ip   non-loopback host address for published ports
#                        (default: source address of the default route)
#   BENCH_BUDGET=840     seconds the whole run may take; optional steps
#                        are skipped to stay within it
#   BERTH_BIN=dir        where berth and berth-shim are (default: bin)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=/usr/local/go/bin:$PATH
BUDGET=${BENCH_BUDGET:-840}
BIN=$(realpath -m "${BERTH_BIN:-bin}")

log() { echo "[bench $(date +%T)] $*" >&2; }

[ "$(id -u)" = 0 ] || { echo "bench/run.sh must run as root" >&2; exit 1; }
command -v docker >/dev/null || { echo "bench/run.sh needs the docker CLI on PATH" >&2; exit 1; }

# A short path: containerd's socket lives below it and unix socket paths
# are limited to 108 bytes.
T=$(mktemp -d /tmp/bb.XXXXXX)
BERTH_PID="" DOCKERD_PID="" CONTAINERD_PID="" DOCKER_KIDS="" BENCHRUN_PID=""
BERTH_HOST="unix://$T/berth.sock" DOCKER_SOCK_HOST="unix://$T/docker.sock"
BERTH_NA="" DOCKER_NA=""
BERTH_BRIDGE=bbench0 BERTH_TABLE=berth_bench
BERTH_CG=berth_bench DOCKER_CG=docker_bench
# Address ranges of their own, apart from each other and from the host's
# other engines (Docker's iptables cleanup below matches on them).
BERTH_BIP=10.197.0.1/16 BERTH_POOL=10.201.0.0/16
DOCKER_BIP=10.198.0.1/16 DOCKER_POOL=10.202.0.0/16

# What the host had before, so that cleanup removes only what this run made.
NFT_BEFORE=$(nft list tables 2>/dev/null || true)
FWD_POLICY_BEFORE=$(iptables -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD //p' || true)
DOCKER0_BEFORE=$(ip link show docker0 >/dev/null 2>&1 && echo yes || true)
BRNF_BEFORE=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true)

# running tells a live process from a gone or zombie one.
running() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop_pid sends SIGTERM, waits up to $2 seconds, then SIGKILL.
stop_pid() {
	local pid=$1 secs=$2 i
	[ -n "$pid" ] && running "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		running "$pid" || return 0
		sleep 0.1
	done
	log "pid $pid did not stop within ${secs}s, killing it"
	kill -KILL "$pid" 2>/dev/null
	sleep 0.3
}

# kill_named kills every process whose command line contains this run's
# temp dir: shims that outlive their daemon and whatever they started.
kill_named() {
	local d pid cmd
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = $$ ] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		case $cmd in *"$T"*)
			log "killing leftover pid $pid: ${cmd:0:120}"
			kill -KILL "$pid" 2>/dev/null ;;
		esac
	done
}

# clean_cgroups kills what is left in this run's cgroup parents (container
# processes whose shim is gone) and removes the cgroups, deepest first.
clean_cgroups() {
	local cg pid try
	for cg in /sys/fs/cgroup/*/"$BERTH_CG" /sys/fs/cgroup/*/"$DOCKER_CG" /sys/fs/cgroup/"$BERTH_CG" /sys/fs/cgroup/"$DOCKER_CG"; do
		[ -d "$cg" ] || continue
		for pid in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			log "killing leftover container process $pid in $cg"
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for try in 1 2 3 4 5; do
		local left=0
		for cg in /sys/fs/cgroup/*/"$BERTH_CG" /sys/fs/cgroup/*/"$DOCKER_CG" /sys/fs/cgroup/"$BERTH_CG" /sys/fs/cgroup/"$DOCKER_CG"; do
			[ -d "$cg" ] || continue
			find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
			[ -d "$cg" ] && left=1
		done
		[ $left = 0 ] && break
		sleep 0.5
	done
}

# drain removes an engine's containers and networks while its daemon still
# answers, and notes the networks' bridges in case the daemon leaves them.
drain() {
	local host=$1 ids
	DOCKER_HOST=$host timeout 20 docker version >/dev/null 2>&1 || return 0
	ids=$(DOCKER_HOST=$host timeout 30 docker ps -aq 2>/dev/null)
	[ -n "$ids" ] && DOCKER_HOST=$host timeout 180 docker rm -f $ids >/dev/null 2>&1
	ids=$(DOCKER_HOST=$host timeout 30 docker network ls -q --no-trunc --filter type=custom 2>/dev/null)
	if [ -n "$ids" ]; then
		echo "$ids" >>"$T/netids"
		DOCKER_HOST=$host timeout 120 docker network rm $ids >/dev/null 2>&1
	fi
}

cleanup() {
	local rc=$? mnt id fam
	set +e
	trap - EXIT INT TERM
	log "cleaning up"
	stop_pid "$BENCHRUN_PID" 5
	drain "$BERTH_HOST"
	drain "$DOCKER_SOCK_HOST"
	[ -n "$DOCKERD_PID" ] && DOCKER_KIDS=$(ps -o pid= --ppid "$DOCKERD_PID" 2>/dev/null)
	stop_pid "$BERTH_PID" 20
	stop_pid "$DOCKERD_PID" 30
	stop_pid "$CONTAINERD_PID" 10
	for id in $DOCKER_KIDS; do stop_pid "$id" 2; done
	kill_named
	clean_cgroups
	# Overlay, netns and shm mounts of both engines, deepest first.
	for mnt in $(awk -v t="$T" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$mnt" 2>/dev/null
	done
	ip link del "$BERTH_BRIDGE" 2>/dev/null
	[ -z "$DOCKER0_BEFORE" ] && ip link del docker0 2>/dev/null
	for id in $(sort -u "$T/netids" 2>/dev/null); do
		ip link del "br-${id:0:12}" 2>/dev/null
	done
	for fam in ip ip6 inet; do
		nft delete table "$fam" "$BERTH_TABLE" 2>/dev/null
	done
	clean_docker_iptables
	if [ -n "$BRNF_BEFORE" ] && [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" != "$BRNF_BEFORE" ]; then
		echo "$BRNF_BEFORE" >/proc/sys/net/bridge/bridge-nf-call-iptables
	fi
	if awk -v t="$T" 'index($5, t) == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; then
		log "mounts under $T remain; leaving the directory"
	else
		rm -rf --one-file-system "$T"
	fi
	report_leftovers
	exit "$rc"
}

# clean_docker_iptables removes what dockerd put into iptables (rules that
# name its chains, its bridges or its address pools, then its chains), and
# a table only if dockerd made it and nothing else is left in it.
clean_docker_iptables() {
	local t rule id pat="DOCKER|docker0|-s ${DOCKER_BIP%.*.*/*}\\.|-s ${DOCKER_POOL%.*.*/*}\\."
	for id in $(sort -u "$T/netids" 2>/dev/null); do pat+="|br-${id:0:12}"; done
	for t in filter nat; do
		iptables -t "$t" -S >/dev/null 2>&1 || continue
		iptables -t "$t" -S | grep -E "^-A .*($pat)" | while read -r rule; do
			eval "iptables -t $t -D ${rule#-A }" 2>/dev/null
		done
		for rule in $(iptables -t "$t" -S | sed -n 's/^-N \(DOCKER.*\)/\1/p'); do
			iptables -t "$t" -F "$rule" 2>/dev/null
		done
		for rule in $(iptables -t "$t" -S | sed -n 's/^-N \(DOCKER.*\)/\1/p'); do
			iptables -t "$t" -X "$rule" 2>/dev/null
		done
		if ! grep -q "^table ip $t\$" <<<"$NFT_BEFORE" && ! iptables -t "$t" -S | grep -q '^-[AN] '; then
			nft delete table ip "$t" 2>/dev/null
		fi
	done
	# Setting a policy would create the table: only where it was before.
	if [ -n "$FWD_POLICY_BEFORE" ] && grep -q '^table ip filter$' <<<"$NFT_BEFORE"; then
		iptables -P FORWARD "$FWD_POLICY_BEFORE" 2>/dev/null
	fi
}

report_leftovers() {
	local left=""
	ip link show "$BERTH_BRIDGE" >/dev/null 2>&1 && left+=" link:$BERTH_BRIDGE"
	[ -z "$DOCKER0_BEFORE" ] && ip link show docker0 >/dev/null 2>&1 && left+=" link:docker0"
	nft list tables 2>/dev/null | grep -q " $BERTH_TABLE\$" && left+=" nft:$BERTH_TABLE"
	[ -d "$T" ] && left+=" dir:$T"
	for d in /proc/[0-9]*; do
		case $(tr '\0' ' ' 2>/dev/null <"$d/cmdline") in *"$T"*) left+=" pid:${d#/proc/}" ;; esac
	done
	if [ -n "$left" ]; then
		log "left behind:$left"
	else
		log "clean: no processes, mounts, links or tables of this run remain"
	fi
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_api() { # host, pid, seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		DOCKER_HOST=$1 docker version >/dev/null 2>&1 && return 0
		running "$2" || return 1
		sleep 0.1
	done
	return 1
}

# The body is a function so that bash parses all of it before running:
# editing this file during a run cannot change what the run does.
main() {
	# --- tools ---------------------------------------------------------------
	log "building netkit, benchrun and the busybox image (temp dir $T)"
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$T/netkit" ./test/tools/netkit
	go build -o "$T/benchrun" ./bench/cmd/benchrun
	go build -o "$T/mkbusybox" ./tools/mkbusybox
	"$T/mkbusybox" -add /usr/local/bin/netkit="$T/netkit" >"$T/busybox.tar"

	HOST_ADDR=${BENCH_HOST_ADDR:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
	[ -n "$HOST_ADDR" ] || HOST_ADDR=$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}')
	[ -n "$HOST_ADDR" ] || { echo "no non-loopback IPv4 address on this host" >&2; exit 1; }

	# --- berth ---------------------------------------------------------------
	if [ "${BENCH_BERTH:-1}" = 0 ]; then
		BERTH_NA="BENCH_BERTH=0"
	else
		if [ ! -x "$BIN/berth" ] || [ ! -x "$BIN/berth-shim" ]; then
			log "building berth"
			make -s build >"$T/berth-build.log" 2>&1 || BERTH_NA="make build failed: $(tail -3 "$T/berth-build.log" | tr '\n' ' ')"
		fi
	fi
	if [ -z "$BERTH_NA" ]; then
		log "starting berth"
		# A short exec root: shim sockets live below it (…/containers/<64-hex
		# id>/shim.sock) and unix socket paths are limited to 108 bytes.
		"$BIN/berth" daemon --data-root "$T/berth" --exec-root "$T/be" -H "$BERTH_HOST" \
			--bridge "$BERTH_BRIDGE" --bip "$BERTH_BIP" --default-address-pool base="$BERTH_POOL",size=24 \
			--nftables-table "$BERTH_TABLE" --cgroup-parent "$BERTH_CG" --log-level warn >"$T/berth.log" 2>&1 &
		BERTH_PID=$!
		if ! wait_api "$BERTH_HOST" "$BERTH_PID" 30; then
			BERTH_NA="daemon did not come up: $(tail -3 "$T/berth.log" | tr '\n' ' ')"
		elif ! out=$(DOCKER_HOST=$BERTH_HOST docker import - busybox:latest <"$T/busybox.tar" 2>&1); then
			BERTH_NA="docker import failed: $out"
		fi
		if [ -n "$BERTH_NA" ]; then
			log "berth: $BERTH_NA"
			cp "$T/berth.log" /tmp/berth-bench-daemon.log 2>/dev/null || true
		fi
	fi

	# --- Docker --------------------------------------------------------------
	if [ "${BENCH_DOCKER:-1}" = 0 ]; then
		DOCKER_NA="BENCH_DOCKER=0"
	elif ! command -v dockerd >/dev/null; then
		log "installing docker.io"
		if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; } >"$T/apt.log" 2>&1; then
			DOCKER_NA="apt-get install docker.io failed: $(tail -2 "$T/apt.log" | tr '\n' ' ')"
		fi
	fi
	if [ -z "$DOCKER_NA" ]; then
		log "starting dockerd"
		dockerd --data-root "$T/docker" --exec-root "$T/dexec" -H "$DOCKER_SOCK_HOST" --pidfile "$T/docker.pid" \
			--bip "$DOCKER_BIP" --default-address-pool base="$DOCKER_POOL",size=24 \
			--cgroup-parent "$DOCKER_CG" >"$T/dockerd.log" 2>&1 &
		DOCKERD_PID=$!
		if ! wait_api "$DOCKER_SOCK_HOST" "$DOCKERD_PID" 60; then
			DOCKER_NA="dockerd did not come up: $(grep -i 'level=error\|level=fatal\|failed' "$T/dockerd.log" | tail -2 | tr '\n' ' ')"
		else
			CONTAINERD_PID=$(cat "$T/dexec/containerd/containerd.pid" 2>/dev/null || true)
			if ! out=$(DOCKER_HOST=$DOCKER_SOCK_HOST docker import - busybox:latest <"$T/busybox.tar" 2>&1); then
				DOCKER_NA="docker import failed: $out"
			fi
			# dockerd sets the FORWARD policy to DROP, which with br_netfilter
			# would also drop berth's bridged traffic (berth itself never drops
			# others' traffic); both engines get the host as it was.
			if [ "$(iptables -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD //p')" = DROP ] && [ "$FWD_POLICY_BEFORE" != DROP ]; then
				iptables -P FORWARD ACCEPT
			fi
		fi
		if [ -n "$DOCKER_NA" ]; then log "docker: $DOCKER_NA"; fi
	fi

	# --- measure -------------------------------------------------------------
	args=(-netkit "$T/netkit" -host-addr "$HOST_ADDR" -out "$ROOT/bench/results"
		-budget "$((BUDGET - SECONDS - 60))s")
	[ "${BENCH_QUICK:-0}" = 1 ] && args+=(-quick)
	if [ -z "$BERTH_NA" ]; then
		args+=(-berth-host "$BERTH_HOST" -berth-pids "$BERTH_PID" -berth-root "$T")
	else
		args+=(-berth-unavailable "$BERTH_NA")
	fi
	if [ -z "$DOCKER_NA" ]; then
		args+=(-docker-host "$DOCKER_SOCK_HOST" -docker-pids "$DOCKERD_PID,$CONTAINERD_PID" -docker-root "$T")
	else
		args+=(-docker-unavailable "$DOCKER_NA")
	fi
	log "measuring (host address $HOST_ADDR)"
	# In the background, so that a signal to this script runs cleanup at once
	# instead of after benchrun has finished.
	"$T/benchrun" "${args[@]}" &
	BENCHRUN_PID=$!
	wait "$BENCHRUN_PID"
	BENCHRUN_PID=""
	if [ -n "$BERTH_PID" ] && ! running "$BERTH_PID"; then
		st=0
		wait "$BERTH_PID" || st=$?
		how="with status $st"
		[ "$st" -gt 128 ] && how="by signal $((st - 128)) ($(kill -l "$st" 2>/dev/null || echo ?))"
		cp "$T/berth.log" /tmp/berth-bench-daemon.log
		log "the berth daemon exited during the run, $how; its log: /tmp/berth-bench-daemon.log"
		BERTH_PID=""
	fi
	log "done in ${SECONDS}s: bench/results/latest.md, bench/results/latest.svg"
}

main "$@"
