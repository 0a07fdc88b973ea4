"""Reading an exec service's pidfile (actuators/main_pid.py): the first line
names the process, as systemd's PIDFile= reads it; anything else is not yet
a pid, never a crash."""
from __future__ import annotations

import os

import pytest

from overseer.actuators.main_pid import NotYet, read_pidfile


def test_the_first_line_of_a_postmaster_pid_names_the_postmaster(tmp_path):
    pidfile = tmp_path / "postmaster.pid"
    pidfile.write_text(f"{os.getpid()}\n/var/lib/postgresql/15/main\n1765000000\n5432\n/var/run/postgresql\n")
    assert read_pidfile(str(pidfile)) == os.getpid()


@pytest.mark.parametrize("content", [b"", b"0\n", b"42x\n", b"1" * 11, b"\xff\xfe42\n"])
def test_a_pidfile_without_a_pid_on_its_first_line_is_not_yet_a_process(tmp_path, content):
    pidfile = tmp_path / "svc.pid"
    pidfile.write_bytes(content)
    with pytest.raises(NotYet) as raised:
        read_pidfile(str(pidfile))
    assert str(pidfile) in raised.value.reason


def test_a_huge_pidfile_is_read_only_as_far_as_its_first_line_needs(tmp_path):
    pidfile = tmp_path / "svc.pid"
    pidfile.write_bytes(b"%d\n" % os.getpid() + b"x" * (64 * 2**20))
    assert read_pidfile(str(pidfile)) == os.getpid()
