"""What every sub-command shares: global etcd options and one-line failures.

Global options are accepted before or after the sub-command (`overseer
--etcd URL status` and `overseer status --etcd URL`), each with its
environment variable, as docs/interfaces.md promises. Precedence: an option on
the command line (either position; the later one if both) > environment >
default. The group and the sub-command each declare the option, so the
sub-command's copy must not let the environment overwrite what was given
before the sub-command.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import NoReturn, Optional

import click
from click.core import ParameterSource

from overseer.desired.fields import NAME_PATTERN, NAME_RULE
from overseer.desired.store.client import EtcdConfig, StoreError, bad_endpoint, check_settings


@dataclass
class Settings:
    etcd: Optional[str] = None
    cluster: Optional[str] = None
    cacert: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    user: Optional[str] = None
    password_file: Optional[str] = None
    max_answer: Optional[str] = None
    insecure_transport: Optional[bool] = None
    extra: dict = field(default_factory=dict)
    # options given on the command line: the environment never overrides these
    given: set = field(default_factory=set)

    def etcd_config(self, timeout: float = 3.0) -> EtcdConfig:
        """The etcd settings; one line and exit 2 when they cannot work (an
        unreadable password file, a bad --max-answer, credentials over plain
        http to another machine), before anything is asked of etcd."""
        try:
            cfg = self._etcd_config(timeout)
            check_settings(cfg)
        except StoreError as exc:   # BadSetting, BadEndpoint: exit 2
            fail(str(exc), exc.exit_code)
        return cfg

    def _etcd_config(self, timeout: float) -> EtcdConfig:
        return EtcdConfig.from_options(self.etcd, self.cacert, self.cert, self.key,
                                       self.user, timeout=timeout,
                                       # from the environment: from_options reads it, and says so
                                       password_file=self.password_file if "password_file" in self.given
                                       else None,
                                       max_answer=self.max_answer,
                                       insecure_transport=self.insecure_transport)


_GLOBALS = (
    ("--etcd", "etcd", "OVERSEER_ETCD", "etcd endpoints, comma-separated (default http://127.0.0.1:2379)"),
    ("--cluster", "cluster", "OVERSEER_CLUSTER", "cluster name (default: the only one in etcd)"),
    ("--cacert", "cacert", "OVERSEER_ETCD_CACERT", "CA certificate for etcd TLS"),
    ("--cert", "cert", "OVERSEER_ETCD_CERT", "client certificate for etcd TLS"),
    ("--key", "key", "OVERSEER_ETCD_KEY", "client key for etcd TLS (mode 600, owned by root or you)"),
    ("--user", "user", "OVERSEER_ETCD_USER",
     "etcd user (password from --password-file, or OVERSEER_ETCD_PASSWORD)"),
    ("--password-file", "password_file", "OVERSEER_ETCD_PASSWORD_FILE",
     "file holding the etcd user's password (mode 600), read once at start"),
    ("--max-answer", "max_answer", "OVERSEER_ETCD_MAX_ANSWER",
     "largest answer read from etcd, e.g. 256MiB (default 128MiB)"),
    ("--insecure-transport", "insecure_transport", "OVERSEER_ETCD_INSECURE_TRANSPORT",
     "allow the etcd password over plain http to another machine (a trusted network only)"),
)
_FLAGS = {"insecure_transport"}


def _remember(ctx: click.Context, param: click.Parameter, value):
    if value is None:
        return value
    settings = ctx.find_object(Settings)
    if settings is None:
        settings = ctx.ensure_object(Settings)
    from_env = ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT
    if from_env and param.name in settings.given:
        return value  # `--cluster X` before the sub-command beats OVERSEER_CLUSTER
    _check(param, value, from_env)
    setattr(settings, param.name, value)
    if not from_env:
        settings.given.add(param.name)
    return value


def _check(param: click.Parameter, value: str, from_env: bool) -> None:
    """Refuse a malformed --cluster or --etcd at once, naming where it came from."""
    where = f"{param.envvar}={value!r}" if from_env else f"{param.opts[0]} {value!r}"
    if param.name == "cluster" and not NAME_PATTERN.fullmatch(value):
        # the name becomes part of every etcd key (/overseer/<cluster>/...)
        fail(f"{where}: not a valid cluster name ({NAME_RULE})", 2)
    if param.name == "etcd":
        problem = bad_endpoint(value)
        if problem:
            fail(f"{where}: {problem}", 2)


def global_options(fn):
    """Add the global etcd options to a command or group."""
    for flag, name, env, help_text in reversed(_GLOBALS):
        fn = click.option(flag, name, envvar=env, default=None, expose_value=False, is_flag=name in _FLAGS,
                          callback=_remember, is_eager=True, help=help_text,
                          show_envvar=True)(fn)
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


def confirm_or_force(what: str, force: bool, command: str) -> None:
    """A change to the whole cluster goes ahead with --force, or after a "y" typed
    at a terminal; without a terminal to ask at, it is refused (exit 2), so a
    script never does it by leaving the flag out."""
    if force:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail(f"{command}: {what}; not on a terminal, so nobody can confirm: add --force", 2)
    if not click.confirm(f"{what}. Go ahead?", default=False, err=True):
        fail(f"{command}: not confirmed; nothing changed", 1)


def check_cluster(client, cfg: EtcdConfig, name: Optional[str]) -> Optional[str]:
    """`name` if etcd holds a Cluster document of that name; else one line
    naming the clusters that exist, exit 1. None stays None (the store picks
    the only cluster)."""
    if name is None:
        return None
    from overseer.desired.store import documents

    found = documents.discover_clusters(client, cfg)
    if name not in found:
        fail(f"no cluster {name!r} in etcd at {cfg.describe()} "
             f"(clusters: {', '.join(sorted(found)) or 'none; apply a Cluster document first'})")
    return name


def open_store(timeout: float = 3.0):
    """A Store on the chosen cluster, which must exist."""
    from overseer.desired.store.client import connect
    from overseer.desired.store.store import Store

    s = settings()
    cfg = s.etcd_config(timeout=timeout)
    client = connect(cfg)
    try:
        return Store(cfg, check_cluster(client, cfg, s.cluster), client=client)
    except BaseException:
        client.close()
        raise


def service_doc(snap, cluster: str, service: str, command: str):
    """The Service document named on the command line, or one line naming the services there are."""
    doc = snap.desired.services.get(service)
    if doc is None:
        fail(f"{command}: no service {service!r} in cluster {cluster} "
             f"(services: {', '.join(sorted(snap.desired.services)) or 'none'})")
    return doc
