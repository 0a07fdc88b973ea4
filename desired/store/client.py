"""Connecting to etcd: endpoints, TLS, user/password, and typed errors.

The only file that builds an etcd client. Every gRPC failure is turned into a
`StoreError` subclass that names the endpoint and the fix, so commands can
print one line and exit with the documented status.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar
from urllib.parse import urlparse

import importlib

# Agents fork supervised children from a process with gRPC threads. grpcio's
# core fork handlers (on by default in its build, half-off in Python) can then
# abort the child between fork and exec; we always exec at once, so turn them
# off before grpc is imported (grpc/grpc#41455, #13873).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# gRPC core otherwise prints an INFO line ("Handshake failed ...") to stderr on a
# TLS failure, before our own one-line error; failures reach operators through
# StoreError, so keep core quiet unless asked.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import etcd3  # noqa: E402
import etcd3.exceptions  # noqa: E402
import grpc  # noqa: E402

# gRPC's blocking waits (a stream's next response, a unary result) wake every
# 0.1 s so that a signal handler on the main thread is never held up
# (grpc/grpc#19464). An agent keeps a watch stream blocked for hours, and those
# ten wake-ups a second per blocked thread were a visible share of its idle
# CPU. `quiet_blocking_waits` stretches them for long-running processes.
_GRPC_WAIT_DEFAULT = 0.1


def quiet_blocking_waits(seconds: float = 2.0) -> None:
    """Let gRPC's blocked threads sleep up to `seconds` between checks.

    Safe where the main thread never blocks in gRPC for longer than a call
    timeout (the agent: its main thread runs asyncio, whose signal handlers
    wake the loop by its own fd): a response still wakes the waiter at once,
    since the condition is notified; only the idle re-check is slower. A
    gRPC without the private knob keeps its default."""
    common = importlib.import_module("grpc._common")
    if isinstance(getattr(common, "MAXIMUM_WAIT_TIMEOUT", None), (int, float)):
        common.MAXIMUM_WAIT_TIMEOUT = max(_GRPC_WAIT_DEFAULT, seconds)


# `etcd3.client` is shadowed by the factory function of the same name.
_Endpoint = importlib.import_module("etcd3.client").Endpoint
_EtcdTokenCallCredentials = importlib.import_module("etcd3.client").EtcdTokenCallCredentials

T = TypeVar("T")

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
# Largest etcd answer we accept. A 1,000-service cluster's snapshot (without
# history) is a few MB; this leaves a wide margin (docs/etcd-production.md).
MAX_RECEIVE_BYTES = 256 * 1024 * 1024


class StoreError(Exception):
    """Base of every etcd-related error; the message is meant for operators."""
    exit_code = 3


class EtcdUnavailable(StoreError):
    exit_code = 3


class ClusterNotFound(StoreError):
    exit_code = 1


class StaleEpoch(StoreError):
    """A fenced write lost: the `master` key no longer has the caller's epoch."""
    exit_code = 1


class ServerReturned(StoreError):
    """A fenced decision assumed servers gone that registered meanwhile: the
    write was refused and the next pass plans with them live."""
    exit_code = 1


class Conflict(StoreError):
    """A conditional write lost to a concurrent change; re-read and retry."""
    exit_code = 1


@dataclass(frozen=True)
class EtcdConfig:
    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    cacert: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    timeout: float = 3.0

    @classmethod
    def from_options(cls, etcd: Optional[str] = None, cacert=None, cert=None, key=None,
                     user=None, timeout: float = 3.0) -> "EtcdConfig":
        urls = etcd or os.environ.get("OVERSEER_ETCD") or DEFAULT_ENDPOINT
        return cls(
            endpoints=tuple(u.strip() for u in urls.split(",") if u.strip()),
            cacert=cacert or os.environ.get("OVERSEER_ETCD_CACERT"),
            cert=cert or os.environ.get("OVERSEER_ETCD_CERT"),
            key=key or os.environ.get("OVERSEER_ETCD_KEY"),
            user=user or os.environ.get("OVERSEER_ETCD_USER"),
            password=os.environ.get("OVERSEER_ETCD_PASSWORD"),
            timeout=timeout,
        )

    def describe(self) -> str:
        return ",".join(self.endpoints)


class BadEndpoint(StoreError):
    """An --etcd value that is no URL: a usage error, not an unreachable etcd."""
    exit_code = 2


def parse_endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of one endpoint; BadEndpoint says what is wrong.

    urlparse raises ValueError for `http://[::1` and only on reading `.port`
    for `:99999` or `:notaport`; all of them must be one clear line."""
    hint = "write it as http://HOST:PORT"
    try:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        port = parsed.port
    except ValueError as exc:
        raise BadEndpoint(f"{exc}; {hint}") from None
    if parsed.scheme not in ("http", "https"):
        raise BadEndpoint(f"scheme must be http or https; {hint}")
    if not parsed.hostname:
        raise BadEndpoint(f"no host; {hint}")
    if port == 0:
        raise BadEndpoint(f"port 0 is not a port; {hint}")
    return parsed.scheme, parsed.hostname, port or 2379


def bad_endpoint(urls: str) -> Optional[str]:
    """What is wrong with a comma-separated --etcd value, or None."""
    each = [u.strip() for u in urls.split(",") if u.strip()]
    if not each:
        return "no endpoint; write it as http://HOST:PORT[,http://HOST:PORT...]"
    for url in each:
        try:
            parse_endpoint(url)
        except BadEndpoint as exc:
            return str(exc) if len(each) == 1 else f"endpoint {url!r}: {exc}"
    return None


def _endpoint(url: str, cfg: EtcdConfig) -> "_Endpoint":
    try:
        scheme, host, port = parse_endpoint(url)
    except BadEndpoint as exc:
        raise BadEndpoint(f"--etcd: endpoint {url!r}: {exc}") from None
    secure = scheme == "https" or cfg.cacert is not None
    creds = None
    if secure:
        if not cfg.cacert:
            raise StoreError(f"--etcd {url}: https needs --cacert (or OVERSEER_ETCD_CACERT)")
        if bool(cfg.cert) != bool(cfg.key):
            have, missing = ("--cert", "--key (OVERSEER_ETCD_KEY)") if cfg.cert \
                else ("--key", "--cert (OVERSEER_ETCD_CERT)")
            raise StoreError(f"{have} needs {missing}: give both or neither")
        try:
            creds = etcd3.MultiEndpointEtcd3Client.get_secure_creds(cfg.cacert, cfg.key, cfg.cert)
        except OSError as exc:
            raise StoreError(f"cannot read TLS file: {exc}") from None
    # Retry a failed endpoint soon: a restarted etcd must be used again quickly.
    return _Endpoint(host, port, secure=secure,
                                 creds=creds, time_retry=1.0,
                                 opts=[("grpc.enable_http_proxy", 0),
                                       # reconnect fast after an etcd restart: our lease
                                       # must be renewed within its TTL, and gRPC's default
                                       # backoff grows to minutes
                                       ("grpc.initial_reconnect_backoff_ms", 100),
                                       ("grpc.min_reconnect_backoff_ms", 100),
                                       ("grpc.max_reconnect_backoff_ms", 500),
                                       # gRPC's 4 MiB default fails whole-cluster reads
                                       # of a large cluster; etcd itself sends up to 2 GiB
                                       ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)])


def connect(cfg: EtcdConfig) -> etcd3.MultiEndpointEtcd3Client:
    """Build a client and prove the cluster answers within `cfg.timeout`."""
    if cfg.user and cfg.password is None:
        raise StoreError(f"--user {cfg.user}: set the password in OVERSEER_ETCD_PASSWORD")
    endpoints = [_endpoint(u, cfg) for u in cfg.endpoints]
    try:
        client = etcd3.MultiEndpointEtcd3Client(
            endpoints=endpoints, timeout=cfg.timeout, user=cfg.user,
            password=cfg.password, failover=True)
        if not all(ep.secure for ep in endpoints):
            # gRPC refuses call credentials on a plaintext channel ("does not have a
            # sufficient security level"); etcd3 also sends the token as plain
            # metadata on every call, which is what etcd reads.
            client.call_credentials = None
        # documents.py names the endpoint in its errors from `client.cfg`
        client.cfg = cfg
        call(client.status, cfg)
    except StoreError:
        raise
    except grpc.RpcError as exc:
        raise _translate(exc, cfg) from None
    except etcd3.exceptions.Etcd3Exception as exc:
        raise _translate(exc, cfg) from None
    return client


def _translate(exc: BaseException, cfg: EtcdConfig) -> StoreError:
    where = cfg.describe()
    if isinstance(exc, grpc.RpcError):
        code = exc.code()
        details = exc.details() or code.name
        if "invalid auth token" in details:
            return AuthTokenExpired(f"etcd at {where}: our auth token expired ({details})")
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) \
                or any(m in details for m in _AUTH_MESSAGES):
            return StoreError(f"etcd at {where} refused the credentials: {details}"
                              " (check --user / OVERSEER_ETCD_USER and OVERSEER_ETCD_PASSWORD)")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                    grpc.StatusCode.CANCELLED):
            tls = cfg.cacert is not None or any(u.startswith("https://") for u in cfg.endpoints)
            # over plain http a "handshake" is HTTP/2's, e.g. a link that just came back
            return (_tls_failure(details, where) if tls else None) or EtcdUnavailable(
                f"etcd unreachable at {where}: {details}"
                " (is etcd running? check --etcd / OVERSEER_ETCD; an https etcd needs an https:// URL)")
        return StoreError(f"etcd at {where} rejected the request: {exc.details() or code.name}")
    if isinstance(exc, etcd3.exceptions.ConnectionTimeoutError):
        return EtcdUnavailable(f"etcd at {where} did not answer within {cfg.timeout:g}s")
    if isinstance(exc, (etcd3.exceptions.ConnectionFailedError,
                        etcd3.exceptions.NoServerAvailableError)):
        # etcd3 raises ConnectionFailedError inside its `except RpcError`, so the
        # gRPC details (e.g. a TLS handshake failure) survive as __context__.
        cause = exc.__context__
        # over plain http a "handshake" is HTTP/2's, e.g. a link that just came
        # back: not a TLS problem (the fault suite's `resume` said it was)
        uses_tls = cfg.cacert is not None or any(u.startswith("https://") for u in cfg.endpoints)
        if isinstance(cause, grpc.RpcError) and uses_tls:
            tls = _tls_failure(cause.details() or "", where)
            if tls is not None:
                return tls
        return EtcdUnavailable(f"etcd unreachable at {where}"
                               " (is etcd running? check --etcd / OVERSEER_ETCD)")
    if isinstance(exc, etcd3.exceptions.PreconditionFailedError):
        return Conflict(f"etcd at {where} rejected a conditional write: {exc}")
    return EtcdUnavailable(f"etcd at {where}: {type(exc).__name__}: {exc}")


# etcd answers a bad or missing user/password with INVALID_ARGUMENT, not UNAUTHENTICATED
_AUTH_MESSAGES = ("etcdserver: authentication failed", "etcdserver: user name is empty",
                  "etcdserver: invalid auth token", "etcdserver: user name not found")


def _tls_failure(details: str, where: str) -> Optional[EtcdUnavailable]:
    """A clear error when the connection died in the TLS handshake, else None."""
    if "handshake" not in details.lower():
        return None
    if "CERTIFICATE_VERIFY_FAILED" in details:
        why = "etcd's certificate is not signed by the CA given with --cacert / OVERSEER_ETCD_CACERT"
    elif "BAD_CERTIFICATE" in details or "CERTIFICATE_REQUIRED" in details:
        why = ("etcd rejected our client certificate: give one signed by etcd's"
               " trusted CA with --cert and --key (OVERSEER_ETCD_CERT / _KEY)")
    else:
        why = "check --cacert, --cert and --key, and that the URL scheme matches etcd (http/https)"
    return EtcdUnavailable(f"etcd at {where}: TLS handshake failed: {why}")


class AuthTokenExpired(StoreError):
    """etcd dropped our auth token (idle past --auth-token-ttl, or a JWT expired)."""


def reauthenticate(client, cfg: EtcdConfig) -> None:
    """Get a fresh token for the same user and use it from now on."""
    from etcd3 import etcdrpc  # noqa: PLC0415

    response = client.authstub.Authenticate(
        etcdrpc.AuthenticateRequest(name=cfg.user, password=cfg.password), cfg.timeout)
    client.metadata = (("token", response.token),)
    if client.call_credentials is not None:
        client.call_credentials = grpc.metadata_call_credentials(
            _EtcdTokenCallCredentials(response.token))
    client._clear_old_stubs()  # the watcher carries the old token: rebuild it


def call(fn: Callable[..., T], cfg: EtcdConfig, *args, _client=None, **kwargs) -> T:
    """Run one client call, translating transport errors into StoreError. An
    expired auth token is renewed once and the call retried."""
    try:
        return _call_once(fn, cfg, *args, **kwargs)
    except AuthTokenExpired:
        client = _client or getattr(fn, "__self__", None)
        if client is None or not cfg.user:
            raise
        try:
            reauthenticate(client, cfg)
        except (grpc.RpcError, etcd3.exceptions.Etcd3Exception) as exc:
            raise _translate(exc, cfg) from None
        return _call_once(fn, cfg, *args, **kwargs)


def _call_once(fn: Callable[..., T], cfg: EtcdConfig, *args, **kwargs) -> T:
    try:
        return fn(*args, **kwargs)
    except (grpc.RpcError, etcd3.exceptions.Etcd3Exception) as exc:
        raise _translate(exc, cfg) from None
    except ValueError as exc:
        # etcd3 raises ValueError when every endpoint is marked failed.
        if "failed node" in str(exc):
            raise EtcdUnavailable(f"etcd unreachable at {cfg.describe()}") from None
        raise
