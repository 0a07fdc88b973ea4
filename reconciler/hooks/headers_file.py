"""A webhook's `headersFile`: extra request headers kept out of the documents.

Documents live in etcd, which every agent and operator reads; a bearer token
or routing key belongs in a file on each server instead, readable by root
(or the agent's user) alone, like etcd's password file
(desired/store/credentials.py). It is read at every attempt, so a rotated
token applies to the next hook without a restart. Every error names the
file and line, never the line's text: that may be the secret.
"""
from __future__ import annotations

import os
import re
import stat

MAX_SIZE = 16 * 1024
# RFC 9110 token characters
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
# visible ASCII, space and tab: no line breaks, no other control characters
_VALUE = re.compile(r"[\t\x20-\x7e]*")
# framing and hop-by-hop headers the agent writes itself; a second one would
# make the request ambiguous (request smuggling) or change how it is sent
RESERVED = frozenset(("host", "content-type", "content-length", "transfer-encoding", "connection",
                      "expect", "upgrade", "te", "trailer", "keep-alive"))


class HeadersFileError(Exception):
    """The headers file cannot be used; the message is `path[:line]: why`."""


def read_headers(path: str) -> list[tuple[str, str]]:
    """(name, value) of each header line, in file order."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise HeadersFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise HeadersFileError(f"{path}: not a regular file")
        if info.st_uid not in (0, os.geteuid()):
            raise HeadersFileError(f"{path}: owned by uid {info.st_uid}, not by root or the agent's user")
        if info.st_mode & 0o077:
            raise HeadersFileError(f"{path}: its group or others may read or write it"
                                   f" (mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 {path}")
        data = f.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise HeadersFileError(f"{path}: over {MAX_SIZE // 1024} KiB")
    return parse(data, path)


def parse(data: bytes, path: str) -> list[tuple[str, str]]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise HeadersFileError(f"{path}:{line}: not ASCII (HTTP header values are ASCII)") from None
    headers = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        where = f"{path}:{number}"
        if not colon or not _NAME.fullmatch(name):
            raise HeadersFileError(f"{where}: expected `Name: value` (a header name of letters, digits"
                                   " and -, then a colon)")
        if name.lower() in RESERVED:
            raise HeadersFileError(f"{where}: {name} is set by the agent itself")
        if not value or not _VALUE.fullmatch(value):
            raise HeadersFileError(f"{where}: {name} has an empty value or a control character")
        headers.append((name, value))
    return headers
