"""The environment every service command, supervised child, `command` check and hook gets.

The agent's own environment minus what is the agent's alone, then the
account variables of the command's `user` (HOME, USER, LOGNAME, SHELL; see
child_user.py), then the service's `env`, then the documented OVERSEER_*
variables on top.

What is the agent's alone: its etcd connection settings and credentials
(`OVERSEER_ETCD`, `OVERSEER_ETCD_*`: endpoints, user, password, the
password and TLS key files) and what systemd gave the agent's unit
(`CREDENTIALS_DIRECTORY`, the notify socket and watchdog settings). A child
holding the etcd password could rewrite assignments, and etcd write access
runs any argv on every server; a service never needs etcd (actuators and
checks get everything through these variables).

Scrubbing hides the credentials from a command's environment only. A
command running as the agent's own user can still read them in
/proc/<agent pid>/environ: only a `user` of its own keeps them from it.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

# the agent's connection to etcd: endpoint, user, password, TLS and password files
SCRUBBED_PREFIX = "OVERSEER_ETCD"
# systemd's, for the agent's unit: its credentials, its notify socket and watchdog
SCRUBBED = frozenset({"CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})


def scrubbed(source: Mapping[str, str]) -> dict[str, str]:
    """`source` without anything that is the agent's alone."""
    return {k: v for k, v in source.items() if not k.startswith(SCRUBBED_PREFIX) and k not in SCRUBBED}


def child_environment(overseer: Mapping[str, str],
                      extra: Optional[Mapping[str, str]] = None,
                      base: Optional[Mapping[str, str]] = None,
                      account: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """`base` (default os.environ) scrubbed, then `account` (the user's HOME,
    USER, ...), then `extra`, then `overseer`.

    OVERSEER_* wins over `extra` so a service's own env block cannot make it
    believe it holds a role or epoch it was not given."""
    merged = scrubbed(os.environ if base is None else base)
    merged.update(account or {})
    merged.update(extra or {})
    merged.update(overseer)
    return merged
