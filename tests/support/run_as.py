"""What tests of `user:` share: the unprivileged account, a folder it may write,
and reading what a process really holds (ids, capabilities) from /proc.

The tests run as root (they switch users); pytest's tmp_path is reachable by
root alone, so a command running as `nobody` writes into `shared_dir` instead.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

NOBODY = pwd.getpwnam("nobody")


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching users needs root (these tests run as root on the test machine)")


@contextlib.contextmanager
def shared_dir():
    """A fresh folder every user may write (as /tmp itself), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="overseer-run-as-", dir="/tmp"))
    try:
        path.chmod(0o1777)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def status_of(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict: Uid, Gid, Groups, CapEff, CapBnd, NoNewPrivs..."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def powerless(status: dict[str, str]) -> bool:
    """No capability in any set, and no way to gain one."""
    return (all(int(status[k], 16) == 0 for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"))
            and status["NoNewPrivs"] == "1")


# A shell line that writes what the command runs as to $1, one `key=value` a line
WHOAMI = ('{ echo "uid=$(id -u)"; echo "gid=$(id -g)"; echo "groups=$(id -G)"; echo "home=$HOME";'
          ' echo "user=$USER"; grep -E "^(CapEff|CapBnd|CapAmb|NoNewPrivs):" /proc/self/status'
          ' | tr -d "\\t" | tr ":" "="; } > "$1"')


def whoami_argv(out: Path) -> list[str]:
    return ["/bin/sh", "-c", WHOAMI, "whoami", str(out)]


def read_whoami(out: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
