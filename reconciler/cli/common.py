"""What every sub-command shares: global etcd options and one-line failures.

Global options are accepted before or after the sub-command (`overseer
--etcd URL status` and `overseer status --etcd URL`), each with its
environment variable, as `interfaces.md` promises.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import NoReturn, Optional

import click

from overseer.desired.store.client import EtcdConfig, StoreError


@dataclass
class Settings:
    etcd: Optional[str] = None
    cluster: Optional[str] = None
    cacert: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    user: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def etcd_config(self, timeout: float = 3.0) -> EtcdConfig:
        return EtcdConfig.from_options(self.etcd, self.cacert, self.cert, self.key,
                                       self.user, timeout=timeout)


_GLOBALS = (
    ("--etcd", "etcd", "OVERSEER_ETCD", "etcd endpoints, comma-separated (default http://127.0.0.1:2379)"),
    ("--cluster", "cluster", "OVERSEER_CLUSTER", "cluster name (default: the only one in etcd)"),
    ("--cacert", "cacert", "OVERSEER_ETCD_CACERT", "CA certificate for etcd TLS"),
    ("--cert", "cert", "OVERSEER_ETCD_CERT", "client certificate for etcd TLS"),
    ("--key", "key", "OVERSEER_ETCD_KEY", "client key for etcd TLS"),
    ("--user", "user", "OVERSEER_ETCD_USER", "etcd user (password from OVERSEER_ETCD_PASSWORD)"),
)


def _remember(ctx: click.Context, param: click.Parameter, value):
    if value is not None:
        settings = ctx.find_object(Settings)
        if settings is None:
            settings = ctx.ensure_object(Settings)
        setattr(settings, param.name, value)
    return value


def global_options(fn):
    """Add the global etcd options to a command or group."""
    for flag, name, env, help_text in reversed(_GLOBALS):
        fn = click.option(flag, name, envvar=env, default=None, expose_value=False,
                          callback=_remember, is_eager=True, help=help_text)(fn)
    return fn


def settings() -> Settings:
    return click.get_current_context().ensure_object(Settings)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"overseer: {message}", err=True)
    sys.exit(code)


def store_errors(fn):
    """Turn StoreError into one line on stderr and its exit status."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StoreError as exc:
            fail(str(exc), exc.exit_code)
    return wrapper
