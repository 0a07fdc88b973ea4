"""Connecting to etcd: endpoints, TLS, user/password, and typed errors.

The only file that builds an etcd client (etcd_http.py, etcd's JSON gateway).
Every failure is a `StoreError` subclass (errors.py) that names the endpoint
and the fix, so commands can print one line and exit with the documented
status.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar
from urllib.parse import urlparse

from ..units import parse_size
from . import credentials
from .errors import (  # noqa: F401  (re-exported: callers import errors from here)
    AnswerTooLarge, AuthTokenExpired, BadEndpoint, BadSetting, ClusterNotFound, Conflict, EtcdUnavailable,
    InsecureTransport, MalformedAnswer, Rejected, ServerReturned, StaleEpoch, StoreError,
)
from .etcd_http import HttpEtcd

T = TypeVar("T")

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
# The largest answer read from etcd (--max-answer). A 1,000-service cluster's
# full read, 200 history entries per service, is 90 MiB; an agent's (no
# history) 17 MiB (bench/answer_size.py, docs/etcd-production.md).
DEFAULT_MAX_ANSWER = 128 * 1024 * 1024
MIN_MAX_ANSWER = 2 * 1024 * 1024     # etcd accepts 1.5 MiB requests: their answers must fit


@dataclass(frozen=True)
class EtcdConfig:
    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    cacert: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    timeout: float = 3.0
    max_answer: int = DEFAULT_MAX_ANSWER
    insecure_transport: bool = False       # credentials may go over plain http to another machine
    password_from: str = credentials.PASSWORD_ENV   # where the password came from, for messages

    @classmethod
    def from_options(cls, etcd: Optional[str] = None, cacert=None, cert=None, key=None,
                     user=None, timeout: float = 3.0, password_file: Optional[str] = None,
                     max_answer: Optional[str] = None, insecure_transport: Optional[bool] = None,
                     ) -> "EtcdConfig":
        """From the command line's values, else the environment. Reads the
        password file now, once: BadSetting if it cannot be used."""
        env = os.environ
        urls = etcd or env.get("OVERSEER_ETCD") or DEFAULT_ENDPOINT
        user = user or env.get("OVERSEER_ETCD_USER")
        password, password_from = credentials.password(password_file, env) if user else (None, "")
        if insecure_transport is None:
            insecure_transport = credentials.flag(env.get(credentials.INSECURE_ENV), credentials.INSECURE_ENV)
        return cls(
            endpoints=tuple(u.strip() for u in urls.split(",") if u.strip()),
            cacert=cacert or env.get("OVERSEER_ETCD_CACERT"),
            cert=cert or env.get("OVERSEER_ETCD_CERT"),
            key=key or env.get("OVERSEER_ETCD_KEY"),
            user=user,
            password=password,
            timeout=timeout,
            max_answer=parse_max_answer(max_answer or env.get("OVERSEER_ETCD_MAX_ANSWER")),
            insecure_transport=insecure_transport,
            password_from=password_from or credentials.PASSWORD_ENV,
        )

    def describe(self) -> str:
        return ",".join(self.endpoints)


def parse_max_answer(value: Optional[str]) -> int:
    """--max-answer: a size like 256MiB; the default when not given."""
    if not value:
        return DEFAULT_MAX_ANSWER
    try:
        size = int(parse_size(value))
    except ValueError as exc:
        raise BadSetting(f"--max-answer: {exc}") from None
    if size < MIN_MAX_ANSWER:
        raise BadSetting(f"--max-answer {value}: at least 2MiB (etcd's own request limit is 1.5 MiB)")
    return size


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


def _tls_context(cfg: EtcdConfig):
    """An ssl.SSLContext. ssl is imported here, only for https: it loads OpenSSL
    (about 5 MB), which an agent on plain http never needs."""
    import ssl  # noqa: PLC0415
    if not cfg.cacert:
        raise StoreError(f"--etcd {cfg.describe()}: https needs --cacert (or OVERSEER_ETCD_CACERT)")
    if bool(cfg.cert) != bool(cfg.key):
        have, missing = ("--cert", "--key (OVERSEER_ETCD_KEY)") if cfg.cert \
            else ("--key", "--cert (OVERSEER_ETCD_CERT)")
        raise StoreError(f"{have} needs {missing}: give both or neither")
    try:
        context = ssl.create_default_context(cafile=cfg.cacert)
        if cfg.cert:
            context.load_cert_chain(cfg.cert, cfg.key)
    except (OSError, ssl.SSLError) as exc:
        raise StoreError(f"cannot read TLS file: {exc}") from None
    return context


def check_settings(cfg: EtcdConfig) -> tuple[list[tuple[str, str, int]], bool]:
    """(the endpoints, whether TLS is used), or the StoreError that says why
    these settings cannot work: nothing is asked of etcd. An agent checks at
    start, so it stops with the reason instead of retrying forever."""
    if cfg.user and cfg.password is None:
        raise StoreError(f"--user {cfg.user}: set the password in a file named by --password-file"
                         f" ({credentials.PASSWORD_FILE_ENV}) or in {credentials.PASSWORD_ENV}")
    endpoints = []
    for url in cfg.endpoints:
        try:
            endpoints.append(parse_endpoint(url))
        except BadEndpoint as exc:
            raise BadEndpoint(f"--etcd: endpoint {url!r}: {exc}") from None
    # like etcdctl: a CA given means TLS, whatever the URL says
    secure = cfg.cacert is not None or any(scheme == "https" for scheme, _, _ in endpoints)
    if secure and cfg.key:
        credentials.check_tls_key(cfg.key)
    if cfg.user:
        credentials.refuse_clear_text(endpoints, cfg.endpoints, secure, cfg.insecure_transport)
    return endpoints, secure


def connect(cfg: EtcdConfig) -> HttpEtcd:
    """Build a client and prove the cluster answers within `cfg.timeout`."""
    endpoints, secure = check_settings(cfg)
    client = HttpEtcd(cfg, endpoints, _tls_context(cfg) if secure else None)
    if cfg.user:
        client.authenticate(cfg.user, cfg.password)
    client.status()
    return client


def call(fn: Callable[..., T], cfg: EtcdConfig, *args, _client=None, **kwargs) -> T:
    """Run one client call. An expired auth token is renewed once and the call
    retried; every other StoreError goes to the caller as it is."""
    try:
        return fn(*args, **kwargs)
    except AuthTokenExpired:
        client = _client or getattr(fn, "__self__", None)
        if client is None or not cfg.user:
            raise
        client.authenticate(cfg.user, cfg.password)
        return fn(*args, **kwargs)
