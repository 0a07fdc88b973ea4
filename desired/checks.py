"""Check models: one class per probe `type`, selected by the `type` field.

Each class declares only the fields its probe uses and the unit of its
`warn`/`fail` limits; `limits()` returns them as plain numbers in that unit.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Optional, Union

from pydantic import Field, model_validator

from . import units

from .fields import (
    Command, Count, Dsn, Duration, Lag, Name, Percent, PositiveDuration, PositiveInt, Size, Strict,
)
from .run_as import RunAs


class Match(Strict):
    """How to find the process: exactly one of the four ways."""
    name: Optional[str] = None
    pidfile: Optional[str] = None
    unit: Optional[str] = None
    cmdline: Optional[str] = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Match":
        given = [k for k in ("name", "pidfile", "unit", "cmdline") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of name, pidfile, unit, cmdline"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


PIDFILE_READ = 4096   # bytes of a pidfile read: its first line is all that counts


def pid_in_pidfile(text: str) -> Optional[int]:
    """The pid a pidfile's text names: its first line, as systemd's `PIDFile=`
    and `pg_ctl` read it (PostgreSQL's `postmaster.pid` holds the data
    directory, start time and port on the lines after). None when that line is
    not a pid: 0 is the kernel, not a service, and more than ten digits is
    not a pid on any Linux."""
    first = text.split("\n", 1)[0].strip()
    if not first.isdigit() or len(first) > 10 or int(first) == 0:
        return None
    return int(first)


class CheckBase(Strict):
    name: Name
    interval: Optional[PositiveDuration] = None
    timeout: Optional[PositiveDuration] = None
    failAfter: Optional[PositiveInt] = None
    recoverAfter: Optional[PositiveInt] = None
    # A non-critical check paints the board but never moves the service.
    critical: bool = True
    # After the agent started or promoted the service here, a `fail` is shown `starting` and counts for nothing until the first `ok` or `warn`, or until this much time has passed (operations.md, "Start-up grace")
    startupGrace: Optional[Duration] = None
    description: str = ""

    unit: ClassVar[Optional[str]] = None  # what warn/fail measure, for messages
    # startupGrace when neither the check nor its Service sets one: 0 for a
    # check that answers the moment the process runs; set where the program
    # listens only after loading its modules and configuration
    default_grace: ClassVar[float] = 0.0

    def grace(self, service: Optional[float] = None) -> float:
        """The start-up grace in seconds: the check's own, else its Service's, else its type's."""
        if self.startupGrace is not None:
            return self.startupGrace
        return service if service is not None else self.default_grace

    def limits(self) -> tuple[Optional[float], Optional[float]]:
        return None, None


class _Limited(CheckBase):
    @model_validator(mode="after")
    def _warn_below_fail(self):
        warn, fail = self.limits()
        if warn is not None and fail is not None and warn >= fail:
            raise ValueError(f"warn ({self.show(warn)}) must be below fail ({self.show(fail)})")
        return self

    def show(self, value: float) -> str:
        """A limit as the operator would write it: 3.0 GiB, 200ms, 85%."""
        unit = getattr(self, "lag_unit", None) or self.unit
        if unit == "bytes":
            return units.format_size(value)
        if unit == "seconds":
            return units.format_duration(value)
        if unit == "percent":
            return f"{value:g}%"
        return f"{value:g}"

    def limits(self) -> tuple[Optional[float], Optional[float]]:
        return getattr(self, "warn", None), getattr(self, "fail", None)


class ProcessCheck(CheckBase):
    type: Literal["process"]
    match: Optional[Match] = None  # without it: the process actuator's child


class MemoryCheck(_Limited):
    type: Literal["memory"]
    match: Match
    warn: Optional[Size] = None
    fail: Optional[Size] = None
    unit: ClassVar[str] = "bytes"


class ThreadsCheck(_Limited):
    type: Literal["threads"]
    match: Match
    warn: Optional[Count] = None
    fail: Optional[Count] = None
    unit: ClassVar[str] = "count"


class DiskCheck(_Limited):
    type: Literal["disk"]
    path: str = "/"
    warn: Optional[Percent] = None
    fail: Optional[Percent] = None
    unit: ClassVar[str] = "percent"


class TcpCheck(_Limited):
    type: Literal["tcp"]
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    warn: Optional[PositiveDuration] = None
    fail: Optional[PositiveDuration] = None
    unit: ClassVar[str] = "seconds"


class HttpCheck(_Limited):
    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    expectStatus: list[int] = Field(default_factory=lambda: [200], min_length=1)
    warn: Optional[PositiveDuration] = None
    fail: Optional[PositiveDuration] = None
    unit: ClassVar[str] = "seconds"


# Asterisk opens its manager port only once its modules and dialplan are
# loaded, a SIP server its port only once its configuration is read: seconds
# after the process exists (docs/operations.md, "Start-up grace").
PBX_GRACE = 20.0


class _AmiFields(_Limited):
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str
    secretFile: str
    default_grace: ClassVar[float] = PBX_GRACE


class AsteriskAmiCheck(_AmiFields):
    type: Literal["asterisk-ami"]
    warn: Optional[PositiveDuration] = None
    fail: Optional[PositiveDuration] = None
    unit: ClassVar[str] = "seconds"


class AsteriskChannelsCheck(_AmiFields):
    type: Literal["asterisk-channels"]
    warn: Optional[Count] = None
    fail: Optional[Count] = None
    unit: ClassVar[str] = "count"


class SipOptionsCheck(_Limited):
    type: Literal["sip-options"]
    host: str = "127.0.0.1"
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    warn: Optional[PositiveDuration] = None
    fail: Optional[PositiveDuration] = None
    unit: ClassVar[str] = "seconds"
    default_grace: ClassVar[float] = PBX_GRACE


class PostgresReplicationCheck(_Limited):
    type: Literal["postgres-replication"]
    dsn: Dsn
    passwordFile: Optional[str] = None
    minReplicas: int = Field(default=1, ge=0)
    warn: Optional[Lag] = None
    fail: Optional[Lag] = None
    # a failover never promotes a standby whose lag (WAL received but not yet replayed, bytes) is larger; only `switchover --force` does (operations.md, "Least lag")
    maxLagOnFailover: Optional[Size] = None

    @model_validator(mode="after")
    def _same_unit(self) -> "PostgresReplicationCheck":
        if self.warn and self.fail and self.warn[0] != self.fail[0]:
            raise ValueError("warn and fail must both be sizes (bytes behind) or both durations")
        if self.maxLagOnFailover is not None and self.lag_unit != "bytes":
            # the lag a failover compares is the check's value: it must be bytes too
            raise ValueError("maxLagOnFailover is a size (bytes behind): give warn and fail as sizes too")
        return self

    @property
    def lag_unit(self) -> str:
        chosen = self.fail or self.warn
        return chosen[0] if chosen else "bytes"

    def limits(self) -> tuple[Optional[float], Optional[float]]:
        return (self.warn[1] if self.warn else None, self.fail[1] if self.fail else None)


class MysqlReplicationCheck(_Limited):
    type: Literal["mysql-replication"]
    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    user: str
    passwordFile: Optional[str] = None
    warn: Optional[PositiveDuration] = None
    fail: Optional[PositiveDuration] = None
    # a failover never promotes a replica further behind its source (Seconds_Behind_Source); only `switchover --force` does (operations.md, "Least lag")
    maxLagOnFailover: Optional[Duration] = None
    unit: ClassVar[str] = "seconds"


# Checks whose value on a standby is its replication lag: a failover ranks by it
# (reconciler/planner/lag.py) and the monitor republishes it as it changes.
LAG_CHECK_TYPES = ("postgres-replication", "mysql-replication")


class CommandCheck(CheckBase, RunAs):
    type: Literal["command"]
    command: Command


Check = Annotated[
    Union[
        ProcessCheck, MemoryCheck, ThreadsCheck, DiskCheck, TcpCheck, HttpCheck,
        AsteriskAmiCheck, AsteriskChannelsCheck, SipOptionsCheck,
        PostgresReplicationCheck, MysqlReplicationCheck, CommandCheck,
    ],
    Field(discriminator="type"),
]

CHECK_TYPES = (
    "process", "memory", "threads", "disk", "tcp", "http", "asterisk-ami",
    "asterisk-channels", "sip-options", "postgres-replication",
    "mysql-replication", "command",
)
