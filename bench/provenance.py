"""Where and on what a bench result was measured: date, commit and machine.

Every results file carries these, and bench/report.py prints them with its
table, so a figure in docs/benchmarks.md always says what it was measured on.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit() -> str:
    """The short commit of the checkout; `+changes` when tracked files differ from it."""
    head = _git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if _git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    system = platform.system()
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        system = fields.get("PRETTY_NAME", system).strip('"')
    except OSError:
        pass
    return f"{os.cpu_count()}-core, {system}, Python {platform.python_version()}"


def stamp() -> dict:
    return {"date": time.strftime("%Y-%m-%d"), "commit": commit(), "machine": machine()}
