"""`spec.fence` of a Server: the fence agent that powers it off (STONITH).

A server that is frozen whole (a paused VM, a hung host) cannot fence
itself: when it thaws, its services run before its agent or fencer process
can stop them. Pacemaker's answer is a fence agent run by the cluster, not
by the lost node: `fence_ipmilan`, `fence_virsh`, `fence_aws`. Overseer's
master runs the one named here and moves the server's actives only once it
succeeded (reconciler/planner/fencing.py, reconciler/master_fencing.py).
"""
from __future__ import annotations

from .fields import Command, PositiveDuration, Strict


class FenceAgent(Strict):
    """The command the master runs to power this server off before it moves
    the server's actives elsewhere (Pacemaker's STONITH: `fence_ipmilan`,
    `fence_virsh`, `fence_aws`, or a script of your own).

    It runs only when the server is down (its lease expired and
    `failoverMargin` passed) and may still be active for a service that is
    about to move; never for a live server, and never while nothing has to
    move. It must exit 0 only once the server can no longer run anything
    (powered off, or reset). Until an attempt succeeds the server's actives
    stay where they are and the service has no active: a failed attempt is
    retried 1 s, 2 s, 4 s ... (at most 30 s) after it ended, and every
    outcome goes to the history of each waiting service. `overseer fence
    confirm SERVER` tells the master a person has made sure the server is off.

    `command` is an argv, never run by a shell, in its own process group on
    the master's server, with stdin closed; the last line it prints explains
    a failure. A command still running after `timeout` is killed with its
    process group and counts as failed. Its environment: `OVERSEER_CLUSTER`,
    `OVERSEER_SERVER` (the master, where it runs), `OVERSEER_EPOCH`,
    `OVERSEER_FENCE_SERVER` and `OVERSEER_FENCE_ADDRESS` (the server to power
    off and its `address`), `OVERSEER_FENCE_ATTEMPT` (1, 2, ...),
    `OVERSEER_FENCE_SERVICES` (the services waiting, comma separated) and
    `OVERSEER_REASON`; never the agent's etcd settings. Every server that
    may become master must be able to run it (the same path and credentials
    files on each).
    """
    command: Command                   # argv, e.g. [fence_ipmilan, --ip=10.0.1.11, --username=admin, --password-script=/etc/overseer/bmc-pass, --action=off]
    timeout: PositiveDuration = 30.0   # per attempt; the command's process group is killed then and the attempt failed
