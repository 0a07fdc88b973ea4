"""nginx (http/tcp) and Kamailio (SIP OPTIONS) as plain processes on loopback ports.

Both run in the foreground with their configuration, pid file and logs in a
temp dir; never as system services. `require(binary)` skips with a clear
reason when the Debian package is not installed (`make test` installs them).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from .local import free_port

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


def require(binary: str, package: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install -y {package})")
    return path


def wait_tcp(port: int, proc: subprocess.Popen, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Nginx:
    port: int
    root: str
    proc: subprocess.Popen


NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /teapot {{ return 418; }}
    }}
}}
"""


def start_nginx(directory: str) -> Nginx:
    binary = require("nginx", "nginx")
    port = free_port()
    os.makedirs(f"{directory}/www", exist_ok=True)
    with open(f"{directory}/www/index.html", "w") as fh:
        fh.write("<h1>ok</h1>\n")
    # as root the workers would become `nobody`, who cannot read a 0700 temp dir
    user = "user root;" if os.geteuid() == 0 else ""
    with open(f"{directory}/nginx.conf", "w") as fh:
        fh.write(NGINX_CONF.format(d=directory, port=port, user=user))
    proc = subprocess.Popen([binary, "-c", f"{directory}/nginx.conf", "-p", directory,
                             "-e", f"{directory}/error.log"], start_new_session=True)
    wait_tcp(port, proc, "nginx")
    return Nginx(port, f"{directory}/www", proc)


@dataclass
class Kamailio:
    port: int
    proc: subprocess.Popen


KAMAILIO_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "sl.so"
request_route {{
    if (method == "OPTIONS") {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("501", "Not Implemented");
}}
"""


def start_kamailio(directory: str) -> Kamailio:
    binary = require("kamailio", "kamailio")
    port = free_port()
    while not _udp_free(port):
        port = free_port()
    cfg = os.path.join(directory, "kamailio.cfg")
    with open(cfg, "w") as fh:
        fh.write(KAMAILIO_CFG.format(port=port, modules=KAMAILIO_MODULES))
    log = open(os.path.join(directory, "kamailio.log"), "w")
    proc = subprocess.Popen([binary, "-f", cfg, "-DD", "-E", "-Y", directory,
                             "-P", os.path.join(directory, "kamailio.pid")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_tcp(port, proc, "kamailio")
    return Kamailio(port, proc)


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class SilentUdp:
    """A bound UDP socket that reads nothing and answers nothing."""

    def __enter__(self) -> int:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()
