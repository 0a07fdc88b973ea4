"""Writing a secret file as an operator must: readable by its owner alone.

The checks' `secretFile` and `passwordFile`, like etcd's password file, are
refused when their group or others may read them (desired/private_file.py);
pytest's tmp_path files are created 0644 under the usual umask.
"""
from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, text: str) -> Path:
    """`text` in `path`, mode 0600 from its creation on (never readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)   # an existing file keeps its mode through O_CREAT
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return path
