"""`user`, `group`, `groups`: who a service's commands run as, as written in a document.

The `process` and `exec` actuators, `command` checks and hooks take them
(desired/models.py, checks.py, hooks.py). Without `user` a command runs as
the agent (root in the documented unit) with every power the agent has:
reading its environment, signalling it and its fencer. With `user` the
command runs as that user, cannot gain privileges and holds no
capabilities (desired/child_user.py drops them with setpriv) but those
`capabilities` lists (desired/capabilities.py says which it may).

A name is looked up on the server that runs the command, when it runs;
`overseer validate --check-users` looks them up on the machine it runs on.
"""
from __future__ import annotations

import re
from typing import Annotated, Optional

from pydantic import BeforeValidator, model_validator

from .capabilities import Capability
from .fields import Strict

UID_MAX = 2**32 - 2   # (uid_t)-1 means "unchanged" to setresuid: never an id
# what useradd/groupadd accept (with Debian's relaxed rule: upper case, dots),
# or a number: an id that needs no entry in /etc/passwd
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")


def _principal(value: object, what: str) -> str:
    if isinstance(value, bool):
        raise ValueError(f"expected a {what} name or a numeric id, got a boolean")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a {what} name or a numeric id")
    if value.isdigit():
        if int(value) > UID_MAX:
            raise ValueError(f"id {value} is out of range (at most {UID_MAX})")
        return str(int(value))
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a {what} name (letters, digits, '_', '.', '-',"
                         " starting with a letter or '_', at most 32) nor a numeric id")
    return value


def _user_name(value: object) -> str:
    return _principal(value, "user")


def _group_name(value: object) -> str:
    return _principal(value, "group")


User = Annotated[str, BeforeValidator(_user_name)]
Group = Annotated[str, BeforeValidator(_group_name)]


class RunAs(Strict):
    """Who a command runs as: an `exec` or `process` actuator's commands, a
    `command` check, a hook's command.

    Without `user` the command runs as the agent (root in the packaged
    unit), with every power the agent has: it can read the agent's
    environment and signal the agent and its fencer. With `user` it runs as
    that user, with `group` and `groups`, with no-new-privileges and no
    capability (setpriv, from util-linux, drops them); it can then do none
    of that. Names are looked up on the server when the command starts: an
    unknown one fails that start (or check, or hook) with the field named in
    the message. `overseer validate --check-users` looks them up on the
    machine it runs on. The agent needs CAP_SETUID, CAP_SETGID and CAP_KILL
    for this (root has them).

    `capabilities` keeps a few capabilities in a `user`'s command, as
    systemd's AmbientCapabilities= with User= does: CAP_NET_BIND_SERVICE
    for a port below 1024, CAP_NET_BROADCAST, CAP_NET_RAW, CAP_IPC_LOCK,
    CAP_SYS_NICE. The command holds those and no other; the agent must hold
    them too. Others are refused, with the reason: each would give back
    what `user` takes away. Without `user` it is an error: the command
    would run as the agent, with all of the agent's."""
    user: Optional[User] = None   # run as this user instead of the agent; no capabilities (but `capabilities`), no new privileges
    group: Optional[Group] = None   # its primary group; unset: the user's own
    groups: Optional[list[Group]] = None   # its supplementary groups; unset: the user's, from /etc/group; [] for none
    capabilities: Optional[list[Capability]] = None   # kept in the user's command, e.g. [CAP_NET_BIND_SERVICE] for a port below 1024; unset: none

    @model_validator(mode="after")
    def _user_first(self):
        if self.user is None and (self.group is not None or self.groups is not None):
            raise ValueError("group and groups need user: without it the command runs as the agent")
        if self.user is None and self.capabilities is not None:
            raise ValueError("capabilities need user: without it the command runs as the agent, with every"
                             " capability the agent has; add user: (a user of its own for the service)")
        return self
