"""A dialer stand-in: runs until it is stopped, and does nothing else.

A real dialer originates calls through the PBX's AMI on its own server, so
the demo declares it `colocateWith: pbx`: what the demo shows is where it
runs (it starts only where the PBX is active, and moves with it), not what
it does. `python -m overseer.reconciler.demo.dialer`.
"""
from __future__ import annotations

import signal
import sys


def main() -> None:
    # the actuator stops it with SIGTERM: exit at once, as a dialer that hangs up would
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
