"""MariaDB primary + replica on loopback ports, data in a temp dir.

mariadb-install-db once, copy the data dir for the replica (server_id
differs), start both mariadbd in the foreground, CHANGE MASTER TO on the
replica before the users are created on the primary, so they replicate.
Admin SQL goes through each server's unix socket as root; the probe uses
TCP as `overseer` with a password (so `passwordFile` is exercised).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pymysql
import pytest

from .local import free_port

PASSWORD = "my-secret-pw-99"


@dataclass
class MyNode:
    data: str
    port: int
    server_id: int
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return f"{self.data}.sock"

    def start(self, binary: str) -> None:
        argv = [binary, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.socket}",
                f"--pid-file={self.data}.pid", f"--log-error={self.data}.err",
                f"--server-id={self.server_id}", f"--log-bin={self.data}-bin",
                "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=0", "--sync-binlog=0",
                "--innodb-doublewrite=0"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.proc = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited {self.proc.returncode}; see {self.data}.err")
            try:
                self.sql("SELECT 1")
                return
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"mariadbd did not answer within 30s; see {self.data}.err")

    def sql(self, query: str):
        conn = pymysql.connect(unix_socket=self.socket, user="root", password="",
                               cursorclass=pymysql.cursors.DictCursor, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                return cur.fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class MyPair:
    primary: MyNode
    replica: MyNode
    base: str

    def replica_status(self) -> dict:
        rows = self.replica.sql("SHOW REPLICA STATUS")
        return rows[0] if rows else {}

    def wait_running(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.replica_status()
            if row.get("Slave_IO_Running") == "Yes" and row.get("Slave_SQL_Running") == "Yes":
                return
            time.sleep(0.1)
        raise RuntimeError(f"replica threads not running after {timeout}s: {self.replica_status()}")

    def close(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _binaries() -> tuple[str, str]:
    install = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
    if not install or not server:
        pytest.skip("MariaDB is not installed (apt-get install -y mariadb-server)")
    return install, server


def start_pair() -> MyPair:
    install, server = _binaries()
    base = tempfile.mkdtemp(prefix="overseer-my-")
    primary = MyNode(f"{base}/primary", free_port(), 1)
    replica = MyNode(f"{base}/replica", free_port(), 2)
    user = ["--user=root"] if os.geteuid() == 0 else []
    done = subprocess.run([install, "--no-defaults", f"--datadir={primary.data}",
                           "--auth-root-authentication-method=normal", "--skip-test-db",
                           *user], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {done.stderr[-500:]}")
    shutil.copytree(primary.data, replica.data, symlinks=True)
    primary.start(server)
    replica.start(server)
    pair = MyPair(primary, replica, base)
    replica.sql(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
                "MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, "
                "MASTER_USE_GTID=slave_pos")
    primary.sql("CREATE USER repl@'127.0.0.1' IDENTIFIED BY 'repl'")
    primary.sql("GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1'")
    replica.sql("START SLAVE")
    primary.sql(f"CREATE USER overseer@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
    primary.sql("GRANT REPLICA MONITOR, REPLICATION CLIENT ON *.* TO overseer@'127.0.0.1'")
    pair.wait_running()
    return pair
