"""The environment every service command, supervised child and `command` check gets.

The agent's own environment, minus its etcd connection settings and
credentials (`OVERSEER_ETCD`, `OVERSEER_ETCD_*`), then the service's `env`,
then the documented OVERSEER_* variables on top. A child holding the etcd
password could rewrite assignments; a service never needs etcd (actuators
and checks get everything through these variables).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

# the agent's connection to etcd: endpoint, user, password, TLS files
SCRUBBED_PREFIX = "OVERSEER_ETCD"


def child_environment(overseer: Mapping[str, str],
                      extra: Optional[Mapping[str, str]] = None,
                      base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """`base` (default os.environ) without the etcd settings, then `extra`, then `overseer`.

    OVERSEER_* wins over `extra` so a service's own env block cannot make it
    believe it holds a role or epoch it was not given."""
    source = os.environ if base is None else base
    merged = {k: v for k, v in source.items() if not k.startswith(SCRUBBED_PREFIX)}
    merged.update(extra or {})
    merged.update(overseer)
    return merged
