#!/usr/bin/env bash
# Install Overseer on a server from this checkout (docs/install-and-first-cluster.md).
#
#   scripts/install.sh all      the package and the files below (as root; `make install`)
#   scripts/install.sh package  the package: a venv at $PREFIX with this checkout in it
#   scripts/install.sh files    /usr/local/bin/overseer (-> $PREFIX/bin/overseer), the
#                               agent's unit in /etc/systemd/system, the docs and the
#                               examples in /usr/share/doc/overseer-ha (the unit's
#                               Documentation= points there); `make install-files`
#
# DESTDIR=/tmp/stage stages `files` under that folder (packaging, the tests);
# a venv cannot be moved, so `package` refuses DESTDIR. The package is installed
# from this checkout, never by name from an index: "overseer" there is another
# project, and a local path cannot be mistaken for anyone else's.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=overseer-ha
PREFIX=${PREFIX:-/opt/$NAME}
DESTDIR=${DESTDIR:-}
PYTHON=${PYTHON:-python3}
DOCDIR=/usr/share/doc/$NAME
UNITDIR=/etc/systemd/system
BINDIR=/usr/local/bin

package() {
    if [ -n "$DESTDIR" ]; then
        echo "install.sh: a venv cannot be staged under DESTDIR; run 'package' without it" >&2
        exit 2
    fi
    [ -x "$PREFIX/bin/python" ] || "$PYTHON" -m venv "$PREFIX"
    "$PREFIX/bin/pip" install -q --upgrade .
    echo "installed $NAME in $PREFIX"
}

files() {
    install -d "$DESTDIR$BINDIR" "$DESTDIR$UNITDIR" "$DESTDIR$DOCDIR/examples"
    ln -sfn "$PREFIX/bin/overseer" "$DESTDIR$BINDIR/overseer"
    install -m 644 systemd/overseer-agent@.service "$DESTDIR$UNITDIR/"
    # every doc, so their links to each other still work
    install -m 644 docs/*.md "$DESTDIR$DOCDIR/"
    install -m 644 examples/* "$DESTDIR$DOCDIR/examples/"
    echo "installed $DESTDIR$BINDIR/overseer, $DESTDIR$UNITDIR/overseer-agent@.service, $DESTDIR$DOCDIR/"
}

case "${1:-all}" in
    all) package; files
         # systemd reads the new unit now when it runs this machine (not in a container or chroot)
         if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi ;;
    package) package ;;
    files) files ;;
    *) echo "usage: scripts/install.sh [all|package|files]" >&2; exit 2 ;;
esac
