"""Finding and reading document files: folders walked, nothing skipped silently.

A *.yaml name that cannot be read (a dangling or looping symlink, a folder
that cannot be listed, a file without read permission, not UTF-8, too big)
is an error naming the file and the reason, never a file that seems absent:
`sync --prune` would otherwise delete its documents from etcd.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterable, Optional

from .errors import DocumentError
from .limits import MAX_FILE_BYTES, format_bytes

YAML_SUFFIXES = (".yaml", ".yml")


def expand_paths(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[DocumentError]]:
    """Files as given; folders recursively, *.yaml and *.yml, sorted.

    Nothing is skipped silently: a dangling or looping symlink, a folder that
    cannot be listed or a name that is no regular file is an error, so a
    file that became unreadable can never look like a removed one (which
    `sync --prune` would delete from etcd)."""
    files: list[Path] = []
    errors: list[DocumentError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found, problems = _walk(path)
            errors.extend(problems)
            if not found and not problems:
                errors.append(DocumentError(str(path), 0, "", "folder holds no .yaml or .yml file"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink() or path.exists():
            errors.append(_unusable(path))
        else:
            errors.append(DocumentError(str(path), 0, "", "no such file or folder"))
    return files, errors


def _walk(folder: Path) -> tuple[list[Path], list[DocumentError]]:
    found: list[Path] = []
    errors: list[DocumentError] = []

    def unlistable(exc: OSError) -> None:
        errors.append(DocumentError(exc.filename or str(folder), 0, "",
                                    f"cannot read folder: {exc.strerror or exc}"))

    # symlinked folders are not followed (as before, with Path.rglob)
    for top, _, names in os.walk(folder, onerror=unlistable):
        for name in names:
            path = Path(top) / name
            if path.suffix not in YAML_SUFFIXES:
                continue
            if path.is_file():
                found.append(path)
            elif not path.is_dir():
                errors.append(_unusable(path))
    return sorted(found), errors


def _unusable(path: Path) -> DocumentError:
    """Why a *.yaml name cannot be read: a broken symlink or no regular file."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return DocumentError(str(path), 0, "", "cannot read: symlink loop")
        if path.is_symlink() and exc.errno == errno.ENOENT:
            return DocumentError(str(path), 0, "", f"cannot read: dangling symlink to {os.readlink(path)}")
        return DocumentError(str(path), 0, "", f"cannot read: {exc.strerror or exc}")
    return DocumentError(str(path), 0, "", "cannot read: not a regular file")


def read_text(path: Path) -> tuple[Optional[str], Optional[DocumentError]]:
    """The file's text, or an error saying why not (size checked before reading)."""
    def refused(reason: str) -> tuple[None, DocumentError]:
        return None, DocumentError(str(path), 0, "", reason)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return refused(f"file is {format_bytes(size)}; at most {format_bytes(MAX_FILE_BYTES)}"
                           " per file (split the documents over several files)")
        data = path.read_bytes()
    except OSError as exc:
        return refused(f"cannot read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, DocumentError(str(path), line, "",
                                   f"cannot read: not UTF-8 text (byte 0x{data[exc.start]:02x})")
