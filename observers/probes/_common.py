"""Shared pieces of the probes: result record, context, timeout, limits, secrets.

A probe is `async def probe(check, ctx) -> ProbeResult`. It measures one value,
classifies it against the check's `warn`/`fail` limits and says what it saw in
a short sentence a person understands. The effective timeout travels in the
context so every probe honours the same number the agent computed.
"""
from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

from overseer.desired import units
from overseer.desired.private_file import PrivateFileError, read_private


@dataclass(frozen=True)
class ProbeResult:
    status: str                     # ok | warn | fail | unknown
    value: Optional[float] = None
    message: str = ""


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may know about where it runs; never any secret."""
    cluster: str = ""
    service: str = ""
    server: str = ""
    role: str = "active"
    epoch: int = 0
    timeout: float = 2.0
    child_pid: Optional[int] = None   # the process actuator's child, when there is one


class SecretFileError(Exception):
    """A secretFile/passwordFile cannot be read; the message names the field, not the secret."""


# The secrets the running probe read; `with_timeout` removes each from the
# message, so a peer that quotes what it was sent (an AMI manager refusing a
# login) cannot carry a secret into etcd, the board or `status --json`.
_READ_SECRETS: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar(
    "probe_secrets", default=None)


MAX_SECRET_FILE = 4096   # an AMI secret or a database password is a line, never a document


def read_secret(path: Optional[str], field: str) -> Optional[str]:
    """Read a secret at probe time (rotations apply at the next probe).

    The file must be as private as etcd's password file (desired/private_file.py):
    a regular file owned by root or the agent's user that its group and others
    may neither read nor write. These checks take no `user:`: the agent reads
    the file as itself, so the rule is the agent's own. A file its group or
    others may read hands every local account (a service's user among them)
    the database's or the PBX manager's password, and the agent, reading as
    root, would never notice."""
    if path is None:
        return None
    try:
        data = read_private(path, f"cannot read {field} {path}", MAX_SECRET_FILE)
    except PrivateFileError as exc:
        raise SecretFileError(str(exc)) from None
    if len(data) > MAX_SECRET_FILE:
        raise SecretFileError(f"cannot read {field} {path}: longer than {MAX_SECRET_FILE} bytes;"
                              " it must hold the secret alone")
    try:
        secret = data.decode("utf-8").strip("\r\n")
    except UnicodeDecodeError:
        raise SecretFileError(f"cannot read {field} {path}: not UTF-8 text") from None
    held = _READ_SECRETS.get()
    if held is not None and secret:
        held.append(secret)
    return secret


def redact(message: str, secret: Optional[str]) -> str:
    """Drivers sometimes echo what they were given; never let a secret through."""
    if secret:
        return message.replace(secret, "***")
    return message


def fmt_seconds(value: float) -> str:
    if 0 < value < 1:
        return f"{value * 1000:.0f} ms"
    if float(value).is_integer():
        return f"{value:.0f} s"
    return f"{value:.2f} s"


def fmt_bytes(value: float) -> str:
    return units.format_size(value)


def fmt_percent(value: float) -> str:
    return f"{value:.1f}%"


def fmt_count(value: float) -> str:
    return f"{value:.0f}"


def classify(value: float, limits: tuple[Optional[float], Optional[float]],
             label: str, fmt: Callable[[float], str], extra: str = "") -> ProbeResult:
    """value >= fail -> fail, >= warn -> warn; message like 'RSS 1.7 GiB ≥ warn 1.5 GiB'."""
    warn, fail = limits
    text = f"{label} {fmt(value)}"
    if fail is not None and value >= fail:
        status, text = "fail", f"{text} ≥ fail {fmt(fail)}"
    elif warn is not None and value >= warn:
        status, text = "warn", f"{text} ≥ warn {fmt(warn)}"
    else:
        status = "ok"
    return ProbeResult(status, value, f"{text}{extra}")


def failed(message: str, value: Optional[float] = None) -> ProbeResult:
    return ProbeResult("fail", value, message)


Probe = Callable[[object, ProbeContext], Awaitable[ProbeResult]]


def with_timeout(target: Callable[[object], str]) -> Callable[[Probe], Probe]:
    """Run the probe under ctx.timeout; a timeout is a `fail` naming the target."""
    def wrap(inner: Probe) -> Probe:
        @functools.wraps(inner)
        async def probe(check, ctx: ProbeContext) -> ProbeResult:
            secrets: list[str] = []
            token = _READ_SECRETS.set(secrets)  # the probe's task inherits the list
            try:
                # asyncio.timeout, not wait_for: no extra task per probe run
                async with asyncio.timeout(ctx.timeout):
                    result = await inner(check, ctx)
            except TimeoutError:
                result = failed(f"timed out after {units.format_duration(ctx.timeout)}: "
                                f"{target(check)}")
            except SecretFileError as exc:
                result = failed(str(exc))
            finally:
                _READ_SECRETS.reset(token)
            return _without(result, secrets)
        return probe
    return wrap


def _without(result: ProbeResult, secrets: list[str]) -> ProbeResult:
    message = result.message
    for secret in sorted(set(secrets), key=len, reverse=True):  # longest first: no half-redactions
        message = redact(message, secret)
    return result if message == result.message else dataclasses.replace(result, message=message)


class Stopwatch:
    """Monotonic elapsed time for round trips."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def os_error_text(exc: OSError) -> str:
    return exc.strerror or str(exc) or exc.__class__.__name__


def endpoint_error(exc: OSError, host: str, port: int) -> str:
    """'connection refused to 127.0.0.1:5038' and friends."""
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused to {host}:{port}"
    return f"cannot connect to {host}:{port}: {os_error_text(exc)}"
