#!/usr/bin/env bash
# Stop the dockerd that scripts/docker-up.sh started, once its last user left.
#
#   scripts/docker-down.sh [LEASE_PID]
#
# Drops LEASE_PID's lease; leases of processes that are gone are dropped too.
# An engine that was already running before docker-up (not started by us)
# is never touched. Always exits 0 so the caller keeps pytest's status.
set -uo pipefail

DIR=${OVERSEER_DOCKER_DIR:-/tmp/overseer-docker}
LEASE=${1:-}
[ -d "$DIR" ] || exit 0
exec 9>"$DIR/lock"
flock -w 60 9 || { echo "docker-down: could not lock $DIR/lock; leaving dockerd running"; exit 0; }
[ -n "$LEASE" ] && rm -f "$DIR/leases/$LEASE"
for lease in "$DIR"/leases/*; do
    [ -e "$lease" ] || continue
    kill -0 "$(basename "$lease")" 2>/dev/null && exit 0   # someone still uses it
    rm -f "$lease"
done
if [ -e "$DIR/started" ]; then
    pid=$(cat "$DIR/dockerd.pid" 2>/dev/null || cat "$DIR/started")
    rm -f "$DIR/started" "$DIR/env"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        # dockerd stops its containers and containerd first; bounded wait, then force
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "docker-down: stopped dockerd $pid"
    fi
fi
# dockerd leaves its default network namespace mounted; once no dockerd of
# ours runs, drop it so the directory can be removed.
pid=$(cat "$DIR/dockerd.pid" 2>/dev/null || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    umount "$DIR/exec/netns/default" 2>/dev/null || true
fi
exit 0
