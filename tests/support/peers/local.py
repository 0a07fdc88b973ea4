"""Small real peers: processes that grow memory/threads, a tmpfs, Nagios scripts, ports.

Each fixture starts a plain process or resource and removes it afterwards.
The tmpfs needs root (`mount -t tmpfs`); without it the `disk` tests skip
with that reason.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from contextlib import contextmanager
from typing import Iterator

GROW = textwrap.dedent("""
    import sys, threading, time
    mib, threads = int(sys.argv[1]), int(sys.argv[2])
    blob = b"x" * (mib * 1024 * 1024)        # bytes() is touched, so it is resident
    for _ in range(threads):
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(3600)
""")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def grower(mib: int = 0, threads: int = 0) -> Iterator[tuple[subprocess.Popen, str]]:
    """A python child holding `mib` MiB resident and `threads` extra threads.

    Yields the process and a unique token in its command line to match on."""
    token = f"overseer-grower-{uuid.uuid4().hex[:12]}"
    proc = subprocess.Popen([sys.executable, "-c", GROW, str(mib), str(threads), token],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc, token
    finally:
        proc.kill()
        proc.wait()


def can_mount_tmpfs() -> str:
    """'' when tmpfs mounts work here, else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    return ""


@contextmanager
def tmpfs(size: str = "4m") -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="overseer-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)
        os.rmdir(path)


def nagios_script(directory: str, name: str, code: int, text: str = "", sleep: float = 0) -> str:
    """An executable that prints `text` and exits `code` (after `sleep` seconds)."""
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n")
        if sleep:
            # a grandchild that would outlive a careless timeout
            fh.write(f"sleep {sleep} &\nsleep {sleep}\n")
        if text:
            fh.write(f"echo '{text}'\necho 'second line'\n")
        fh.write(f"exit {code}\n")
    os.chmod(path, 0o755)
    return path
