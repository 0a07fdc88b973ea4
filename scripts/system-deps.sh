#!/usr/bin/env bash
# Install the Debian packages the tests use (real peers, a Docker engine, a
# browser, network tools) when we are root on a machine with apt-get.
#
# Cheap on a warm machine: `dpkg-query` decides what is missing and nothing
# else runs. Never fails the build: a package that cannot be installed only
# prints a warning, and the tests that need it say so themselves.
set -uo pipefail

PACKAGES=(${SYSTEM_PACKAGES:-docker.io postgresql mariadb-server nginx kamailio sip-tester chromium iproute2 nftables prometheus systemd})

warn() { echo "system-deps: WARNING: $*" >&2; }

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system-deps: no apt-get here; skipping (${PACKAGES[*]} must be installed by hand)"
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "system-deps: all present (${PACKAGES[*]})"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    warn "missing ${missing[*]} but not root; install them with: sudo apt-get install ${missing[*]}"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for other apt/dpkg runs (parallel builds) instead of failing at once.
APT=(apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Packaged daemons (postgresql, mariadb, nginx, kamailio, docker) must not be
# started as system services: tests run them as plain processes on their own
# ports. policy-rc.d exit 101 tells invoke-rc.d "do not start".
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, from overseer scripts/system-deps.sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    made_policy=1
fi
cleanup() { [ "$made_policy" = 1 ] && rm -f "$policy"; true; }
trap cleanup EXIT

# `apt-get update` at most every 6 hours: a package that is unavailable here
# must not make every warm `make test` wait for an update.
update_stamp=${TMPDIR:-/tmp}/overseer-apt-updated
updated=0
apt_update() {
    "${APT[@]}" update >/dev/null || warn "apt-get update failed; trying the package lists we have"
    touch "$update_stamp"; updated=1
}
install_all() {  # one transaction (fast), else one by one so one broken package blocks nothing
    [ $# -gt 0 ] || return 0
    "${APT[@]}" install --no-install-recommends "$@" >/dev/null && return 0
    [ "$updated" = 1 ] || { apt_update; "${APT[@]}" install --no-install-recommends "$@" >/dev/null && return 0; }
    for pkg in "$@"; do
        "${APT[@]}" install --no-install-recommends "$pkg" >/dev/null \
            || warn "apt-get install $pkg failed; tests that need it will say so"
    done
}

start=$SECONDS
echo "system-deps: installing ${missing[*]}"
if [ -z "$(find "$update_stamp" -mmin -360 2>/dev/null)" ]; then apt_update; fi

available=()
for pkg in "${missing[@]}"; do
    cand=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        warn "$pkg is not available from the configured apt sources; tests that need it will say so"
    else
        available+=("$pkg")
    fi
done
install_all "${available[@]}"
for pkg in "${available[@]}"; do
    installed "$pkg" || warn "$pkg is still missing after apt-get install"
done
echo "system-deps: done in $((SECONDS - start))s"
exit 0
