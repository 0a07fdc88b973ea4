"""Where etcd's password comes from, and where it may go.

The password comes from a file (`--password-file` / OVERSEER_ETCD_PASSWORD_FILE),
read once at start, or from OVERSEER_ETCD_PASSWORD; never from the command
line, where `ps` shows it. The file keeps it out of the agent's environment,
which every process of the same uid can read in /proc/<pid>/environ. Like
PostgreSQL's .pgpass, a file that its group or others may read is refused,
and so is one owned by another user; the TLS client key (`--key`) too
(desired/private_file.py).

And it is sent only where nobody on the network reads it: over plain http to
a member that is not on this machine, credentials are refused unless the
operator says the network is trusted (`--insecure-transport`).
"""
from __future__ import annotations

import ipaddress
from typing import Optional

from ..private_file import PrivateFileError, read_private
from .errors import BadSetting, InsecureTransport

PASSWORD_ENV = "OVERSEER_ETCD_PASSWORD"
PASSWORD_FILE_ENV = "OVERSEER_ETCD_PASSWORD_FILE"
INSECURE_ENV = "OVERSEER_ETCD_INSECURE_TRANSPORT"
MAX_PASSWORD_FILE = 4096
MAX_TLS_KEY_FILE = 64 * 1024
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def password(file_option: Optional[str], environ) -> tuple[Optional[str], str]:
    """(the password or None, where it came from: for messages)."""
    from_file = file_option or environ.get(PASSWORD_FILE_ENV)
    if from_file:
        if not file_option and environ.get(PASSWORD_ENV) is not None:
            raise BadSetting(f"both {PASSWORD_ENV} and {PASSWORD_FILE_ENV} are set: give one")
        where = f"--password-file {from_file}" if file_option else f"{PASSWORD_FILE_ENV}={from_file}"
        return read_password_file(from_file, where), where
    return environ.get(PASSWORD_ENV), PASSWORD_ENV


def read_password_file(path: str, where: str) -> str:
    """The file's first line (its line ending stripped, nothing else)."""
    try:
        data = read_private(path, where, MAX_PASSWORD_FILE)
    except PrivateFileError as exc:
        raise BadSetting(str(exc)) from None
    if len(data) > MAX_PASSWORD_FILE:
        raise BadSetting(f"{where}: over {MAX_PASSWORD_FILE} bytes; it holds the password alone")
    first = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not first:
        raise BadSetting(f"{where}: the file is empty; write the password on its first line")
    try:
        return first.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSetting(f"{where}: the password is not UTF-8 text") from None


def check_tls_key(path: str) -> None:
    """etcd's TLS client key must be as private as the password (read_private):
    BadSetting otherwise. ssl reads it again when it connects."""
    try:
        read_private(path, f"--key {path} (etcd's TLS client key)", MAX_TLS_KEY_FILE)
    except PrivateFileError as exc:
        raise BadSetting(str(exc)) from None


def flag(value: Optional[str], name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadSetting(f"{name}={value!r}: write 1 or 0")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False      # a name: it may resolve anywhere


def refuse_clear_text(endpoints: list[tuple[str, str, int]], urls, secure: bool, insecure_ok: bool) -> None:
    """InsecureTransport if credentials would go over plain http to another machine."""
    if secure or insecure_ok:
        return
    for (_, host, _), url in zip(endpoints, urls):
        if not is_loopback(host):
            raise InsecureTransport(
                f"--etcd {url}: refusing to send the etcd user and password over plain http to"
                " another machine, where anyone on the path reads them; use https:// with --cacert"
                " (docs/etcd-production.md), or give --insecure-transport"
                f" ({INSECURE_ENV}=1) if this network is trusted")
