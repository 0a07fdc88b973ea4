"""Role-change notifications: `spec.on` of the Cluster and of a Service.

Like Patroni's `on_role_change`, keepalived's `notify_*` and Pacemaker's alert
agents: after an event the agent runs a command (argv, never a shell) and/or
POSTs a small JSON body to a webhook. They notify only; the service's own
`actuator.promote`/`demote` commands are what make it change role.

A Service's entry for an event replaces the Cluster's entry for that event;
events it does not name inherit the Cluster's; `promote: null` in a Service
turns the Cluster's promote hook off for that service. `masterChange` is a
cluster event and is set only on the Cluster.
"""
from __future__ import annotations

import re
from typing import Annotated, Optional
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from .fields import Command, PositiveDuration, Strict
from .run_as import RunAs

SERVICE_EVENTS = ("promote", "demote", "failover", "fence")
EVENTS = SERVICE_EVENTS + ("masterChange",)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")
_HOST = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=:-]{1,255}")
# a URL in free text: scheme://, then up to a space, a quote or an angle bracket
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s'\"<>]*")
_TRAILING = ".,;:!?)]}"


def endpoint(url: str) -> str:
    """How every message names a webhook: `scheme://host[:port]/…`.

    A webhook's path and query are often its secret (Slack's
    /services/T…/B…/…, a token in the query), and its user and password are
    credentials: messages reach the history, the board, `overseer status`
    and the logs, which many more people read than the documents' authors."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unreadable URL"
    if not _SCHEME.fullmatch(parts.scheme or "") or not host or not _HOST.fullmatch(host):
        return "an unreadable URL"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{shown}{f':{port}' if port is not None else ''}/…"


def redact_urls(text: str) -> str:
    """`text` with every URL in it shortened to its `endpoint`."""
    if "://" not in text:
        return text

    def short(match: re.Match) -> str:
        url = match.group(0)
        kept = len(url.rstrip(_TRAILING))
        return endpoint(url[:kept]) + url[kept:]
    return _URL_IN_TEXT.sub(short, text)


def _http_url(value: str) -> str:
    # no message here quotes the URL: its path and query may be the secret
    if not value.isascii() or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("the URL must be ASCII, without spaces or control characters"
                         " (percent-encode the rest)")
    try:
        parts = urlsplit(value)
        parts.port
    except ValueError as exc:
        raise ValueError(f"cannot read the URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        scheme = parts.scheme.lower() if _SCHEME.fullmatch(parts.scheme) else ""
        raise ValueError("expected an http:// or https:// URL with a host"
                         + (f", not {scheme}://" if scheme not in ("", "http", "https") else ""))
    if parts.username is not None or parts.password is not None:
        raise ValueError("a user or password in the URL is never sent; put an Authorization header"
                         " in headersFile")
    return value


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or "\0" in value:
        raise ValueError("expected an absolute path, e.g. /etc/overseer/pager.headers")
    return value


WebhookUrl = Annotated[str, AfterValidator(_http_url)]
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]


class Hook(RunAs):
    """What runs after one event: a command, a webhook, or both (each on its own,
    with its own attempts and its own outcome).

    Hooks notify; they never decide. They run on the agent's hook threads
    (three, with a queue of 64: a full queue drops the run with a log line),
    after the role change they report, so a hook that fails or hangs never
    delays a promote, a fence or a failover.

    `command` is an argv, never run by a shell, in its own process group, with
    stdin closed and stdout discarded (the first line of stderr explains a
    failure), as `user` when given (else as the agent). Its environment: `OVERSEER_CLUSTER`, `OVERSEER_SERVICE` (empty
    for masterChange), `OVERSEER_SERVER` (where it runs), `OVERSEER_EPOCH`,
    `OVERSEER_EVENT`, `OVERSEER_FROM`, `OVERSEER_TO`, `OVERSEER_REASON`, and
    `OVERSEER_ROLE` (`active` or `standby`) for promote, demote and fence;
    never the agent's etcd settings. `webhook` receives an HTTP POST with
    `Content-Type: application/json` and the body
    `{"cluster", "service", "event", "server", "from", "to", "epoch", "reason", "time"}`
    (`time` in Unix seconds), plus the headers of `headersFile`; a 2xx status
    is delivered, anything else a failure. A redirect (3xx) is never followed,
    to another host or the same: it fails, naming the host it pointed to, and
    the URL is what to fix. The answer's body is never read: its status line
    and headers (at most 64 KiB) decide. https verifies the certificate
    against the system's CAs; the agent connects itself, through no proxy
    (`https_proxy` is not read). Messages name the webhook as
    `https://host[:port]/…`: its path and query, often the secret itself,
    never appear in history, on the board, in `overseer status` or the logs.

    `headersFile` names a file on each server, read by the agent at every
    attempt, one `Name: value` header a line (`#` comments, blank lines),
    e.g. `Authorization: Bearer …`: so the secret is in no document (documents
    live in etcd, readable by every agent and operator). Like etcd's password
    file it must be a regular file owned by root or the agent's user and
    readable by nobody else (`chmod 600`); otherwise, or with a malformed
    line, the attempt fails naming `file:line`, never the value. The headers
    the agent writes or that frame the request are refused there: Host,
    Content-Type, Content-Length, Transfer-Encoding, Connection, Expect,
    Upgrade, TE, Trailer, Keep-Alive.

    `from` and `to` are roles (`standby` → `active`; `active` → `standby` or
    `stopped`) for promote, demote and fence, and server names (comma
    separated) for failover and masterChange. `epoch` is the master's epoch
    of the assignment acted on (masterChange: the new master's epoch).

    Each attempt has `timeout` (default 10 s: a pager or chat webhook answers
    in well under a second; a hook still running after 10 s is hung, and it
    holds one of the three hook threads meanwhile): for a webhook, one
    deadline for connecting, the TLS handshake, sending and the answer's
    headers (name resolution is the system resolver's, with its own
    timeouts). A timed-out command's
    whole process group is killed. A failed or timed-out attempt is retried
    up to `attempts` in all (default 3, 1 s then 2 s apart, doubling up to
    30 s: rides out a webhook endpoint restarting, yet is done within about
    half a minute, before the next failover is likely). Every outcome (ok,
    failed: why, timed out) is logged and written to the service's history as
    kind `hook` (a masterChange to every service's history), where `overseer
    status` and the board show it. A stopping agent lets queued hooks finish
    for 5 s, then kills those still running; a killed agent's hooks die with it.
    """
    command: Optional[Command] = None    # argv; gets OVERSEER_EVENT, _FROM, _TO, _REASON besides the usual OVERSEER_*
    webhook: Optional[WebhookUrl] = None   # an http(s) URL, POSTed JSON {cluster, service, event, server, from, to, epoch, reason, time}; never redirected
    headersFile: Optional[AbsolutePath] = None   # extra webhook headers, `Name: value` a line, in a file only root (or the agent's user) may read
    timeout: PositiveDuration = 10.0     # per attempt; the command's process group is killed then
    attempts: int = Field(default=3, ge=1, le=10)   # tries of a failed or timed-out hook, 1 s, 2 s, 4 s... apart

    @model_validator(mode="after")
    def _something(self) -> "Hook":
        if self.command is None and self.webhook is None:
            raise ValueError("give a command, a webhook or both (in a Service, `EVENT: null`"
                             " turns the Cluster's hook for that event off)")
        if self.user is not None and self.command is None:
            raise ValueError("user, group and groups are for the command; this hook has none"
                             " (a webhook is sent by the agent itself)")
        if self.headersFile is not None and self.webhook is None:
            raise ValueError("headersFile is for the webhook; this hook has none")
        return self


class ServiceHooks(Strict):
    """A Service's `on`: replaces the Cluster's hook event by event."""
    promote: Optional[Hook] = None    # this server became active for the service
    demote: Optional[Hook] = None     # this server stepped down from active (assignment, or agent stopping)
    failover: Optional[Hook] = None   # the master moved the active elsewhere (failover or switchover); runs on the master
    fence: Optional[Hook] = None      # this server fenced itself: demoted its active without etcd
    masterChange: Optional[Hook] = None   # Cluster only: a new master took over (runs once on it, service "")

    @field_validator("masterChange")
    @classmethod
    def _cluster_only(cls, value):
        if value is not None and cls is ServiceHooks:
            raise ValueError("masterChange is a cluster event: set it in the Cluster's spec.on")
        return value


class ClusterHooks(ServiceHooks):
    """The Cluster's `on`: every service's hooks unless the service names its own.

    A Service's `on` replaces the Cluster's hook event by event: events it
    does not name inherit the Cluster's, and `promote: null` in a Service turns
    the Cluster's promote hook off for that service. promote, demote and
    fence run on the server where the role changed (a demote also when the
    active's process exits, or its agent stops); failover and masterChange
    run once, on the master.
    """


def effective_hook(cluster_on: Optional[ClusterHooks], service_on: Optional[ServiceHooks],
                   event: str) -> Optional[Hook]:
    """The hook to run for `event`: the service's own if it names the event
    (even as null), else the Cluster's."""
    if service_on is not None and event in service_on.model_fields_set:
        return getattr(service_on, event)
    return getattr(cluster_on, event, None) if cluster_on is not None else None
