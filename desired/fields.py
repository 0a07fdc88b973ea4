"""Shared pydantic building blocks: strict base model, names, units as types.

Every model forbids unknown fields so a typo like `failAfer` is an error, not
a silently ignored setting.
"""
from __future__ import annotations

import re
import shlex
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from . import units


class Strict(BaseModel):
    # allow_inf_nan=False: `.nan` would pass every `warn < fail` comparison unnoticed.
    # hide_input_in_errors: a ValidationError's text would quote the values
    # (a webhook URL whose path is its token, an env value) into whatever logs
    # it; the loader still names the field and line (loader.py reads errors()).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False,
                              defer_build=True, hide_input_in_errors=True)


# Names end up in etcd keys (`/` separates) and on the board; keep them plain.
# The CLI checks `--cluster` against the same pattern.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters"
Name = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN.pattern),
]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _no_bool_int(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got a boolean")
    return value


def _positive_int(value: int) -> int:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


Duration = Annotated[float, BeforeValidator(units.parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(units.parse_duration), AfterValidator(_positive)]
Size = Annotated[float, BeforeValidator(units.parse_size)]
Percent = Annotated[float, BeforeValidator(units.parse_percent)]
Count = Annotated[float, BeforeValidator(units.parse_count)]
PositiveInt = Annotated[int, BeforeValidator(_no_bool_int), AfterValidator(_positive_int)]
Lag = Annotated[tuple[str, float], BeforeValidator(units.parse_size_or_duration)]


def _argv(value: object) -> list[str]:
    # Commands are argv; a string is split like a shell would, never run by one.
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split command {value!r}: {exc}") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(a, str) for a in value):
        argv = list(value)
    else:
        raise ValueError("expected a command: a string or a list of strings")
    if not argv:
        raise ValueError("a command must not be empty")
    return argv


Command = Annotated[tuple[str, ...], BeforeValidator(_argv)]


_DSN_PASSWORD = re.compile(r"(?:^|\s)password\s*=", re.IGNORECASE)


def _no_password(dsn: str) -> str:
    # Documents live in etcd and on the board: a password in a DSN would be
    # readable by everyone who can read either. The message never repeats it.
    from urllib.parse import parse_qs, urlsplit

    if dsn.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(dsn)
            has = parts.password is not None or "password" in parse_qs(parts.query)
        except ValueError:
            raise ValueError("cannot read this dsn as a postgresql:// URI") from None
    else:
        has = bool(_DSN_PASSWORD.search(dsn))
    if has:
        raise ValueError("a dsn must not hold a password (documents are stored in etcd and"
                         " shown on the board); put it in a file and name that in passwordFile")
    return dsn


# libpq connection string (key=value or postgresql:// URI), never with a password
Dsn = Annotated[str, AfterValidator(_no_password)]
