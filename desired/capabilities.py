"""`capabilities:` beside `user:`: which Linux capabilities a service may keep, and which never.

A command with `user:` holds no capability (desired/child_user.py). Some
services need one: Kamailio or nginx listening on a port below 1024, a
media relay asking for real-time priority. `capabilities` names those, as
systemd's `AmbientCapabilities=` would; setpriv then keeps exactly them in
the child's inheritable, ambient and bounding sets, so the command holds
them and nothing else, through every exec.

The list is closed: a capability that would give the command back the
powers `user:` takes away (switching ids, reading or writing any file,
signalling or tracing the agent, changing the network the floating address
lives on, loading code into the kernel) is refused at validation, with the
reason; so is a name that is no capability at all.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

# name -> capability number (linux/capability.h): the ones a service may keep
ALLOWED = {
    "CAP_NET_BIND_SERVICE": 10,   # listen on a port below 1024 (SIP on 5060, HTTP on 80)
    "CAP_NET_BROADCAST": 11,      # send broadcasts and join multicast groups
    "CAP_NET_RAW": 13,            # raw and packet sockets: ping, ARP probes of its own
    "CAP_IPC_LOCK": 14,           # lock memory (mlock), e.g. a database's or a media server's buffers
    "CAP_SYS_NICE": 23,           # real-time scheduling, e.g. RTP media threads
}

# why the others that operators most often ask for are refused
REFUSED = {
    "CAP_SETUID": "it could switch back to root",
    "CAP_SETGID": "it could switch to any group",
    "CAP_SETPCAP": "it could hand itself capabilities",
    "CAP_SETFCAP": "it could give a program file capabilities",
    "CAP_SYS_ADMIN": "it is nearly root (mounts, namespaces, most of the kernel)",
    "CAP_SYS_PTRACE": "it could read and change the agent's memory",
    "CAP_KILL": "it could stop the agent and its fencer",
    "CAP_DAC_OVERRIDE": "it could read and write every file, the agent's secrets among them",
    "CAP_DAC_READ_SEARCH": "it could read every file, the agent's secrets among them",
    "CAP_FOWNER": "it could change the mode of every file",
    "CAP_CHOWN": "it could take any file",
    "CAP_NET_ADMIN": "it could move or remove the floating address and the routes fencing relies on",
    "CAP_SYS_MODULE": "it could load kernel code",
    "CAP_SYS_RAWIO": "it could read and write devices and memory",
    "CAP_BPF": "it could load kernel code",
    "CAP_SYS_BOOT": "it could reboot the server",
    "CAP_SYS_RESOURCE": "it could lift the kernel's limits on it",
}

_CHOICES = ", ".join(ALLOWED)


def _capability(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a capability name such as CAP_NET_BIND_SERVICE (one of {_CHOICES})")
    name = value.strip().upper()
    if not name.startswith("CAP_"):
        name = "CAP_" + name
    if name in ALLOWED:
        if name != value:
            raise ValueError(f"write {name}, as systemd's AmbientCapabilities= does")
        return name
    if name in REFUSED:
        raise ValueError(f"{name} is refused: {REFUSED[name]}; a service may keep only {_CHOICES}."
                         " For more, run it as the agent (leave out user) or under systemd")
    raise ValueError(f"{value!r} is not a capability a service may keep; use one of {_CHOICES}")


Capability = Annotated[str, BeforeValidator(_capability)]


def setpriv_list(names: tuple[str, ...]) -> str:
    """'-all,+net_bind_service' for ('CAP_NET_BIND_SERVICE',): setpriv's cap-list."""
    return ",".join(["-all", *(f"+{n.removeprefix('CAP_').lower()}" for n in names)])
