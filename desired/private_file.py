"""Reading a secret from a file that only its owner may read, as ssh does with its keys.

etcd's password file, etcd's TLS client key, the failsafe's peer key and
certificate key, and the checks' `secretFile` and `passwordFile`
(observers/probes/_common.py) are each refused unless they are a regular file owned by root
or by the user reading them that nobody else may read or write: a key that
others may read is a key others hold, and the agent, which runs as root,
would never notice. Every refusal names the file and the fix, never the
content.
"""
from __future__ import annotations

import os
import stat


class PrivateFileError(Exception):
    """The file cannot be used as a secret; the message names it and says why."""


def read_private(path: str, what: str, limit: int, chmod: str = "600") -> bytes:
    """Up to `limit` + 1 bytes of the file (so a caller can tell one too long).
    `what` begins every message (it names the file); `chmod` is the mode the
    fix suggests."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)   # a FIFO must not hang the start
    except OSError as exc:
        raise PrivateFileError(f"{what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PrivateFileError(f"{what}: not a regular file")
        if info.st_uid not in (0, os.geteuid()):
            raise PrivateFileError(f"{what}: owned by uid {info.st_uid}, who may let anyone read it;"
                                   f" it must belong to root or to uid {os.geteuid()}")
        if info.st_mode & 0o077:
            raise PrivateFileError(f"{what}: mode {stat.S_IMODE(info.st_mode):04o} lets its group or others "
                                   f"read or write it; chmod {chmod} {path}")
        return os.read(fd, limit + 1)
    finally:
        os.close(fd)
