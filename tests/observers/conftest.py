"""Helpers for observer tests: build a check from a plain dict, run its probe."""
from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from overseer.desired.checks import Check
from overseer.observers.probes import PROBES, ProbeContext
from tests.support.secrets import write_secret

_CHECK = TypeAdapter(Check)


def make_check(**fields):
    fields.setdefault("name", "c")
    return _CHECK.validate_python(fields)


async def run_probe(check, timeout: float = 2.0, **ctx):
    return await PROBES[check.type](check, ProbeContext(timeout=timeout, **ctx))


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret"
    write_secret(path, "s3cret\n")
    return str(path)
