"""Units operators write in documents: durations, sizes, percentages.

Every parser returns a plain number in a canonical unit (seconds, bytes,
percent) and raises ValueError with the accepted forms in the message, so the
loader can print `file:line: field: message` without a traceback.
"""
from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)?\s*$")
_SIZE_FACTORS = {
    None: 1, "B": 1,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
    "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
}

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")


def _reject_bool(value: object, what: str) -> None:
    # YAML `yes`/`true` are bools, which are ints in Python: never a quantity.
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got a boolean")


def parse_duration(value: object) -> float:
    """'500ms' -> 0.5, '2s' -> 2.0, '1m' -> 60.0. A bare number is refused:
    '5' could mean seconds or milliseconds, and guessing wrong moves calls."""
    _reject_bool(value, "a duration like 500ms, 2s or 1m")
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_FACTORS[m.group(2)]
    raise ValueError(f"expected a duration like 500ms, 2s or 1m, got {value!r}")


def parse_size(value: object) -> float:
    """'512MiB' -> 536870912; a plain integer is bytes."""
    _reject_bool(value, "a size like 512MiB or 2GiB")
    if isinstance(value, (int, float)) and value >= 0:
        return float(value)
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return float(m.group(1)) * _SIZE_FACTORS[m.group(2)]
    raise ValueError(f"expected a size like 512MiB or 2GiB (or plain bytes), got {value!r}")


def parse_percent(value: object) -> float:
    """'85%' or 85 -> 85.0; must lie in 0..100."""
    _reject_bool(value, "a percentage like 85%")
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            number = float(m.group(1))
    if number is None:
        raise ValueError(f"expected a percentage like 85%, got {value!r}")
    if not 0 <= number <= 100:
        raise ValueError(f"a percentage must lie between 0% and 100%, got {value!r}")
    return number


def parse_count(value: object) -> float:
    """A non-negative whole number (threads, channels)."""
    _reject_bool(value, "a whole number")
    if isinstance(value, int) and value >= 0:
        return float(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return value
    raise ValueError(f"expected a non-negative whole number, got {value!r}")


def parse_size_or_duration(value: object) -> tuple[str, float]:
    """Replication lag: '16MiB' (bytes behind) or '10s' (time behind)."""
    try:
        return "seconds", parse_duration(value)
    except ValueError:
        pass
    try:
        return "bytes", parse_size(value)
    except ValueError:
        raise ValueError(
            f"expected a size like 16MiB or a duration like 10s, got {value!r}"
        ) from None


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"


def format_size(size: float) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size:.0f} B"
