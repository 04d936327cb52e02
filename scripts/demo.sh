#!/usr/bin/env bash
# make demo: start berth in the background, make busybox:latest from
# Debian's busybox-static if the store has none, run containers and show
# the networking the seed walks through.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
SOCK=/run/berth/berth.sock
export DOCKER_HOST=unix://$SOCK BERTH_HOST=unix://$SOCK
BERTH=bin/berth

PIDFILE=/run/berth/daemon.pid
if ! $BERTH version >/dev/null 2>&1; then
	mkdir -p /var/log /run/berth
	nohup $BERTH daemon >/var/log/berth.log 2>&1 &
	echo $! >$PIDFILE
	echo "started berth daemon (pid $!), log in /var/log/berth.log"
	for _ in $(seq 50); do $BERTH version >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! $BERTH image inspect busybox:latest >/dev/null 2>&1; then
	go run ./tools/mkbusybox | $BERTH import - busybox:latest
fi
set -x
$BERTH run --rm busybox echo "hello from a berth container"
$BERTH run -d --rm --name box1 busybox /bin/sh -c "while true; do sleep 360; done"
$BERTH run -d --rm --name box2 busybox /bin/sh -c "while true; do sleep 360; done"
$BERTH ps
$BERTH exec box1 ip -4 addr show eth0
ip2=$($BERTH inspect -f '{{.NetworkSettings.IPAddress}}' box2)
$BERTH exec box1 ping -c 1 -W 2 "$ip2"
$BERTH network ls
brctl show berth0 2>/dev/null || ip link show master berth0
$BERTH run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc
wget -q -O - http://127.0.0.1:8080/hostname
$BERTH rm -f box1 box2 web
set +x
echo "demo done. The daemon keeps running (pid $(cat $PIDFILE 2>/dev/null || echo unknown)); the docker CLI works too: DOCKER_HOST=$DOCKER_HOST docker ps"
echo "stop it with: kill \$(cat $PIDFILE)"
