"""Throw-away PKI and secured etcd members for the TLS and auth tests.

`make_pki(dir)` writes a CA, a server certificate for 127.0.0.1 and a client
certificate with the `openssl` CLI (a second, unrelated CA too, for the
"wrong CA" case). `SecuredEtcd` runs the real etcd binary on free loopback
ports, either with https client URLs and client-certificate auth, or plain
http for auth tests; `etcdctl()` runs the etcdctl binary that ships next to
etcd. Every member is SIGKILLed and its data removed by `stop()`.
"""
from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from overseer.desired.store.local_etcd import etcd_binary, free_port, wait_healthy

HOST = "127.0.0.1"


class PkiUnavailable(Exception):
    """No `openssl` CLI on this machine; the message says what to install."""


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path          # a CA that signed nothing etcd uses


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def _self_signed_ca(name: str, cwd: Path) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN=overseer-test-{name}", cwd=cwd)


def _signed(name: str, cn: str, ext: str, cwd: Path) -> None:
    (cwd / f"{name}.ext").write_text(ext)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", f"{name}.ext", cwd=cwd)


def make_pki(directory: Path) -> Pki:
    if shutil.which("openssl") is None:
        raise PkiUnavailable("no `openssl` CLI to make test certificates (apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    _self_signed_ca("ca", directory)
    _self_signed_ca("other-ca", directory)
    # clientAuth too: etcd's JSON gateway, which Overseer talks to, dials etcd's
    # own gRPC port with the server certificate (docs/etcd-production.md)
    _signed("server", HOST, f"subjectAltName=IP:{HOST}\nextendedKeyUsage=serverAuth,clientAuth\n", directory)
    _signed("client", "root", "extendedKeyUsage=clientAuth\n", directory)
    return Pki(ca=directory / "ca.pem", server_cert=directory / "server.pem",
               server_key=directory / "server.key", client_cert=directory / "client.pem",
               client_key=directory / "client.key", other_ca=directory / "other-ca.pem")


def _wait_tls(port: int, pki: Pki, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Healthy once a mutual-TLS GET /health says so."""
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    wait_healthy(f"https://{HOST}:{port}", timeout, proc, context=ctx)


@dataclass
class SecuredEtcd:
    """One etcd member: https with client-cert auth when `pki` is given, else http."""
    pki: Optional[Pki] = None
    extra_args: tuple = ()
    client_port: int = 0
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)
    _tmp: Optional[tempfile.TemporaryDirectory] = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.pki else 'http'}://{HOST}:{self.client_port}"

    def _args(self, data_dir: str, peer_port: int) -> list[str]:
        peer = f"http://{HOST}:{peer_port}"
        args = [etcd_binary(), "--name", "sec", "--data-dir", data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"sec={peer}",
                "--heartbeat-interval", "10", "--election-timeout", "100",
                "--logger", "zap", "--log-level", "error"]
        args += list(self.extra_args)
        if self.pki:
            args += ["--cert-file", str(self.pki.server_cert), "--key-file", str(self.pki.server_key),
                     "--trusted-ca-file", str(self.pki.ca), "--client-cert-auth"]
        return args

    def start(self) -> "SecuredEtcd":
        self._tmp = tempfile.TemporaryDirectory(prefix="overseer-etcd-sec-")
        self.client_port = free_port(HOST)
        log = open(os.path.join(self._tmp.name, "etcd.log"), "ab")
        try:
            self.proc = subprocess.Popen(self._args(os.path.join(self._tmp.name, "data"), free_port(HOST)),
                                         stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        try:
            if self.pki:
                _wait_tls(self.client_port, self.pki, self.proc)
            else:
                wait_healthy(self.url, proc=self.proc)
        except Exception:
            self.stop()
            raise
        return self

    def etcdctl(self, *args: str) -> subprocess.CompletedProcess:
        ctl = os.path.join(os.path.dirname(etcd_binary()), "etcdctl")
        cmd = [ctl, "--endpoints", self.url, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                              env=dict(os.environ, ETCDCTL_API="3"))
        if proc.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
