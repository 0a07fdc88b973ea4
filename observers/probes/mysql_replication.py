"""`mysql-replication`: a replica's IO/SQL threads and Seconds_Behind_Source.

`SHOW REPLICA STATUS` (MySQL 8.0.22+, MariaDB 10.5.1+), else `SHOW SLAVE
STATUS`; column names differ between versions, so both spellings are read.
A thread that is not `Yes` fails (IO `Connecting` means it cannot reach its
source). With the IO thread down and the SQL thread running the value is
still the lag (0 once the relay log is applied: Seconds_Behind_Source is
NULL then), so a failover can rank replicas whose source is gone. PyMySQL is blocking: it runs in a thread with its own connect/read
timeouts set to the check's timeout, so an abandoned call ends by itself.
"""
from __future__ import annotations

import asyncio
from typing import Optional

from ._common import (
    ProbeContext, ProbeResult, classify, failed, fmt_seconds, read_secret, redact, with_timeout,
)


def _pick(row: dict, *names: str):
    for name in names:
        if name in row:
            return row[name]
    return None


def _status(check, password: Optional[str], timeout: float) -> Optional[dict]:
    import pymysql  # noqa: PLC0415  (loaded only by agents that have such a check)

    conn = pymysql.connect(host=check.host, port=check.port, user=check.user,
                           password=password or "", connect_timeout=timeout,
                           read_timeout=timeout, write_timeout=timeout,
                           cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("SHOW REPLICA STATUS")
            except pymysql.err.ProgrammingError:
                cur.execute("SHOW SLAVE STATUS")      # before MySQL 8.0.22 / MariaDB 10.5.1
            return cur.fetchone()
    finally:
        conn.close()


def _judge(check, row: dict) -> ProbeResult:
    io = _pick(row, "Replica_IO_Running", "Slave_IO_Running")
    sql = _pick(row, "Replica_SQL_Running", "Slave_SQL_Running")
    behind = _pick(row, "Seconds_Behind_Source", "Seconds_Behind_Master")
    if sql != "Yes":
        error = _pick(row, "Last_SQL_Error") or ""
        return failed(f"replica SQL thread {sql}" + (f": {error}" if error else ""))
    if io != "Yes":
        error = _pick(row, "Last_IO_Error") or ""
        return failed(f"replica IO thread {io}" + (f": {error}" if error else ""),
                      float(behind) if behind is not None else 0.0)
    if behind is None:
        return failed("replica threads run but Seconds_Behind_Source is NULL")
    return classify(float(behind), check.limits(), "replica behind source by", fmt_seconds)


@with_timeout(lambda check: f"MySQL at {check.host}:{check.port} did not answer")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    import pymysql  # noqa: PLC0415  (loaded only by agents that have such a check)

    password = read_secret(check.passwordFile, "passwordFile")
    try:
        row = await asyncio.to_thread(_status, check, password, ctx.timeout)
    except pymysql.err.MySQLError as exc:
        detail = exc.args[1] if len(exc.args) > 1 else str(exc)
        return failed(redact(f"MySQL {check.host}:{check.port}: {detail}", password))
    if not row:
        return failed("not a replica (SHOW REPLICA STATUS is empty)")
    return _judge(check, row)
