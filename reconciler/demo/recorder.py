"""A call recorder stand-in: writes a heartbeat file, and checks it.

`python -m overseer.reconciler.demo.recorder DIR` touches `DIR/<server>.beat`
every half second (server from $OVERSEER_SERVER, set by the actuator).
`... recorder --check DIR` is the matching `command` check: exit 0 when the
beat is fresh, 1 (warn) when late, 2 (fail) when stale or missing; first line
of stdout is the message, as the `command` probe expects.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

WARN_AFTER, FAIL_AFTER = 2.0, 5.0  # seconds since the last beat


def beat_file(folder: str) -> Path:
    return Path(folder) / f"{os.environ.get('OVERSEER_SERVER', 'local')}.beat"


def record(folder: str) -> None:
    path = beat_file(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        path.write_text(f"{time.time():.3f}\n")
        time.sleep(0.5)


def check(folder: str) -> int:
    path = beat_file(folder)
    try:
        age = time.time() - float(path.read_text())
    except (OSError, ValueError):
        print(f"no heartbeat in {path}")
        return 2
    print(f"last heartbeat {age:.1f}s ago")
    return 0 if age < WARN_AFTER else 1 if age < FAIL_AFTER else 2


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--check", action="store_true", help="check the heartbeat instead of writing it")
    args = parser.parse_args(argv)
    if args.check:
        sys.exit(check(args.dir))
    try:
        record(args.dir)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
