"""Size limits on documents, checked when they are read, so `validate` refuses
what etcd or the loader could not take (exit 1 with file:line) and `apply`
never finds out from etcd.

etcd's defaults: a request of at most 1.5 MiB (`--max-request-bytes`) and
128 operations per transaction (`--max-txn-ops`). apply splits many documents
into transactions itself (desired/store/chunks.py, 1,000,000 bytes each), but
one document is one put and cannot be split: it must fit one transaction with
its key. The alias and file limits keep the loader's own time and memory
bounded: a YAML alias bomb is a few hundred bytes that expand to billions of
values.
"""
from __future__ import annotations

ETCD_MAX_REQUEST_BYTES = 1_572_864   # etcd's default --max-request-bytes (1.5 MiB)
ETCD_MAX_TXN_OPS = 128               # etcd's default --max-txn-ops

# one document as stored (canonical JSON, UTF-8); leaves room under chunks.MAX_BYTES
# for its key and framing (tests/desired/test_limits.py checks the two agree)
MAX_DOCUMENT_BYTES = 900_000
# a file is refused before it is parsed: ruamel needs about 1 s per MiB and
# many times the file's size in memory
MAX_FILE_BYTES = 4 * 1024 * 1024
# values that aliases (`*name`) may add to one file beyond those written out
MAX_ALIAS_VALUES = 100_000


def format_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size} bytes"
