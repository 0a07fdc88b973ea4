"""`postgres-replication`: streaming replication health, on a primary or a standby.

Primary (`pg_is_in_recovery()` false): count `pg_stat_replication` rows in
state `streaming`; fewer than `minReplicas` fails; the value is the worst
replica's replay lag, bytes (`pg_wal_lsn_diff`) or seconds (`replay_lag`,
NULL when idle, i.e. 0), whichever unit the limits use.
Standby: the WAL receiver must be `streaming`; the value is received minus
replayed bytes, or now() - last replayed commit in seconds (0 when it has
replayed all it received, so an idle primary is not "lag"). A standby whose
receiver stopped (its primary is gone) fails but still reports that value:
it is what a failover ranks the standbys by (reconciler/planner/lag.py), and
it is measurable on the standby alone, with no primary to ask.
The password comes from `passwordFile` at probe time and is passed to libpq
as a parameter, never pasted into the DSN or any message.
"""
from __future__ import annotations

from ._common import (
    ProbeContext, ProbeResult, classify, failed, fmt_bytes, fmt_seconds, read_secret, redact,
    with_timeout,
)

_PRIMARY = """
SELECT coalesce(application_name, ''), state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8,
       coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication"""

_STANDBY = """
SELECT (SELECT status FROM pg_stat_wal_receiver LIMIT 1),
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8"""


def _fmt(check):
    return fmt_bytes if check.lag_unit == "bytes" else fmt_seconds


async def _primary(conn, check) -> ProbeResult:
    rows = await (await conn.execute(_PRIMARY)).fetchall()
    streaming = [r for r in rows if r[1] == "streaming"]
    if len(streaming) < check.minReplicas:
        others = ", ".join(f"{r[0] or '?'} {r[1]}" for r in rows if r[1] != "streaming")
        return failed(f"{len(streaming)} of {check.minReplicas} required replicas streaming"
                      + (f" ({others})" if others else ""), float(len(streaming)))
    if not streaming:
        return ProbeResult("ok", 0.0, "primary, no replicas (minReplicas 0)")
    column = 2 if check.lag_unit == "bytes" else 3
    worst = max((r[column] or 0.0) for r in streaming)
    return classify(worst, check.limits(), "primary, worst replay lag", _fmt(check),
                    f" ({len(streaming)} streaming)")


async def _standby(conn, check) -> ProbeResult:
    status, lag_bytes, lag_seconds = await (await conn.execute(_STANDBY)).fetchone()
    value = lag_bytes if check.lag_unit == "bytes" else lag_seconds
    if status != "streaming":
        # NULL: nothing received since this server started, so no lag to rank by
        lag = f", replay lag {_fmt(check)(value)}" if value is not None else ""
        return failed(f"standby not streaming (WAL receiver {status or 'not running'}){lag}", value)
    return classify(value or 0.0, check.limits(), "standby, replay lag", _fmt(check))


@with_timeout(lambda check: "PostgreSQL did not answer")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    import psycopg  # noqa: PLC0415  (~5 MB: loaded only by agents that have such a check)

    password = read_secret(check.passwordFile, "passwordFile")
    extra = {"password": password} if password is not None else {}
    try:
        async with await psycopg.AsyncConnection.connect(
                check.dsn, autocommit=True, connect_timeout=max(1, int(ctx.timeout)),
                **extra) as conn:
            in_recovery = (await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone())[0]
            return await (_standby(conn, check) if in_recovery else _primary(conn, check))
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return failed(redact(f"PostgreSQL: {text}", password))
