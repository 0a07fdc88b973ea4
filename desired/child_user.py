"""Running a command as the `user` of its actuator, check or hook: ids, setpriv argv, environment.

`credentials()` looks the names up on this server just before each spawn (an
account created or changed later applies at the next start). `setpriv`
(util-linux) in front of the command then, in the child, sets the real,
effective and saved ids and the supplementary groups, sets no-new-privileges
(setuid binaries and file capabilities give nothing), and empties the
inheritable and ambient capability sets, and the bounding set when the agent
may (CAP_SETPCAP): after the switch away from uid 0 the kernel clears the
rest, so the command holds no capability at all. With `capabilities`,
setpriv keeps exactly those in the inheritable, ambient and bounding sets
instead: the kernel then gives them, and only them, to the command at each
exec (ambient capabilities need no file capability, and no-new-privileges
leaves them). An agent running as another
user than root needs CAP_SETUID and CAP_SETGID to switch, and CAP_KILL to
stop (and fence) what then runs as someone else; `credentials()` says which
is missing before the spawn, and which of the `capabilities` it lacks
itself (it cannot pass on what it does not hold).

A command running as another user than the agent cannot read the agent's
/proc/<pid>/environ or memory, nor signal the agent or its fencer (the kernel
refuses both across users without CAP_KILL / CAP_SYS_PTRACE).
"""
from __future__ import annotations

import errno
import functools
import grp
import os
import pwd
import shutil
from dataclasses import dataclass
from typing import Optional, Sequence

from .capabilities import ALLOWED, setpriv_list
from .run_as import RunAs

SETPRIV = shutil.which("setpriv")

# capability numbers (linux/capability.h)
CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP = 5, 6, 7, 8


class RunAsError(Exception):
    """A command cannot run as its `user`: unknown name, or the agent may not switch.

    `field` is where, below the actuator, check or hook: ("user",), ("groups", 1)."""

    def __init__(self, field: tuple, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(reason)

    def where(self, prefix: str = "") -> str:
        """'spec.actuator.groups[1]' for prefix 'spec.actuator'; 'groups[1]' without one."""
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.field)
        return prefix + path if prefix else path.lstrip(".")


@dataclass(frozen=True)
class Credentials:
    uid: int
    gid: int
    groups: tuple[int, ...]
    name: Optional[str]      # None: a numeric uid with no account
    home: Optional[str] = None
    shell: Optional[str] = None
    capabilities: tuple[str, ...] = ()   # CAP_* names kept; () for none

    def env(self) -> dict[str, str]:
        """What login and systemd's User= set: a program run as `nobody` must not
        find HOME=/root and USER=root from the agent."""
        if self.name is None:
            return {}
        env = {"USER": self.name, "LOGNAME": self.name}
        if self.home:
            env["HOME"] = self.home
        if self.shell:
            env["SHELL"] = self.shell
        return env

    def setpriv_options(self) -> list[str]:
        groups = (["--groups=" + ",".join(map(str, self.groups))] if self.groups
                  else ["--clear-groups"])
        caps = setpriv_list(self.capabilities)
        bounding = [f"--bounding-set={caps}"] if _holds(CAP_SETPCAP) else []
        return [f"--reuid={self.uid}", f"--regid={self.gid}", *groups, "--no-new-privs",
                f"--inh-caps={caps}", f"--ambient-caps={caps}", *bounding]

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """argv behind setpriv: exec'd as this user, with its `capabilities` alone."""
        return [setpriv_program(), *self.setpriv_options(), "--", *argv]


def setpriv_program() -> str:
    """setpriv's path; RunAsError when this server has none."""
    if SETPRIV is None:
        raise RunAsError(("user",), "running a command as another user needs setpriv (util-linux),"
                                 " which is not on this server's PATH")
    return SETPRIV


def lookup_user(value: str, here: str = "this server") -> tuple[int, Optional[pwd.struct_passwd]]:
    """The uid and account of a name or a number; a number needs no account."""
    try:
        entry = pwd.getpwuid(int(value)) if value.isdigit() else pwd.getpwnam(value)
    except KeyError:
        if value.isdigit():
            return int(value), None   # an id with no account: allowed, as setpriv allows it
        raise RunAsError(("user",), f"user {value!r} does not exist on {here}") from None
    return entry.pw_uid, entry


def lookup_group(value: str, field: tuple = ("group",), here: str = "this server") -> int:
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise RunAsError(field, f"group {value!r} does not exist on {here}") from None


def resolve(spec: RunAs, here: str = "this server") -> Optional[Credentials]:
    """The ids `spec` names here, or None when it names no user (the command
    runs as the agent). Raises RunAsError naming the field; `here` is how its
    message calls this machine."""
    if spec.user is None:
        return None
    uid, entry = lookup_user(spec.user, here)
    if spec.group is not None:
        gid = lookup_group(spec.group, here=here)
    elif entry is not None:
        gid = entry.pw_gid
    else:
        raise RunAsError(("group",), f"uid {uid} has no account on {here} to take a"
                                     " primary group from; give group")
    if spec.groups is not None:
        groups = tuple(dict.fromkeys(lookup_group(g, ("groups", i), here) for i, g in enumerate(spec.groups)))
    elif entry is not None:
        groups = tuple(dict.fromkeys(os.getgrouplist(entry.pw_name, gid)))
    else:
        groups = ()
    return Credentials(uid, gid, groups, entry.pw_name if entry else None,
                       entry.pw_dir if entry else None, entry.pw_shell if entry else None,
                       tuple(dict.fromkeys(spec.capabilities or ())))


def credentials(spec: RunAs) -> Optional[Credentials]:
    """`resolve`, and whether this agent can switch to those ids at all (setpriv
    is here, the agent holds CAP_SETUID, CAP_SETGID and CAP_KILL)."""
    found = resolve(spec)
    if found is not None:
        setpriv_program()
        _may_switch(found.uid, spec.user)
        _may_pass_on(found.capabilities)
    return found


def _may_switch(uid: int, user: str) -> None:
    # setpriv would fail in the child, where a supervised service's error
    # only reaches its log file; and a child of another user that the agent
    # may not signal could never be stopped or fenced: say it here, at the start
    other = uid != os.geteuid()
    missing = [name for cap, name, needed in ((CAP_SETUID, "CAP_SETUID", other),
                                              (CAP_SETGID, "CAP_SETGID", True),
                                              (CAP_KILL, "CAP_KILL", other))
               if needed and not _holds(cap)]
    if missing:
        lacks = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
        raise RunAsError(("user",), f"the agent (uid {os.geteuid()}) may not run commands as user"
                                    f" {user!r}: it lacks {lacks}")


def _may_pass_on(capabilities: tuple[str, ...]) -> None:
    # setpriv can raise an ambient capability only from its own permitted
    # set: it would fail in the child, where only the log would say so
    missing = [name for name in capabilities if not _holds(ALLOWED[name])]
    if missing:
        raise RunAsError(("capabilities",), f"the agent (uid {os.geteuid()}) does not hold"
                                            f" {', '.join(missing)} itself, so cannot keep it in the command;"
                                            " give the agent's unit that capability or drop it here")


@functools.lru_cache(maxsize=1)
def _effective_caps() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return -1 if os.geteuid() == 0 else 0   # no /proc: root may, others may not


def _holds(cap: int) -> bool:
    return bool(_effective_caps() >> cap & 1)


def check_runnable(program: str, env: dict[str, str], cwd: Optional[str]) -> None:
    """Raise what exec would, before a wrapper (setpriv, sh) whose own exec would
    only exit 126 or 127: the error then names the missing program."""
    if "/" in program:
        path = program if os.path.isabs(program) or cwd is None else os.path.join(cwd, program)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
