"""Every environment variable the `overseer` command reads, for `--help`.

The global etcd options come from common._GLOBALS (one table, so the help
and the options cannot disagree); the rest are read by one command or by
the processes an agent starts. tests/reconciler/test_cli_help.py checks that
every variable named in the CLI's sources is listed here.
"""
from __future__ import annotations

from .common import _GLOBALS

OTHERS = (
    ("OVERSEER_ETCD_PASSWORD", "the etcd user's password itself (prefer OVERSEER_ETCD_PASSWORD_FILE)"),
    ("OVERSEER_SERVER", "agent: this server's name (--server)"),
    ("OVERSEER_PEER_KEY_FILE", "agent: the cluster's failsafe key (--peer-key-file)"),
    ("OVERSEER_PEER_CACERT", "agent: CA of the agents' mutual TLS (--peer-cacert)"),
    ("OVERSEER_PEER_CERT", "agent: this agent's certificate (--peer-cert)"),
    ("OVERSEER_PEER_CERT_KEY", "agent: its private key (--peer-cert-key)"),
    ("OVERSEER_FAILSAFE_TRUSTS_NETWORK", "agent: failsafe without key or certificates (unsafe)"),
    ("OVERSEER_AGENT_METRICS", "agent: where to serve /metrics and /healthz (--metrics)"),
    ("OVERSEER_AGENT_LISTEN", "agent: the address its peer endpoint listens on (default: its document's)"),
    ("OVERSEER_UI_ALLOW_HOST", "ui, agent --ui: a name the board answers to (--allow-host)"),
    ("OVERSEER_IP_COMMAND", "the `ip` program floating IPs are set with (default ip)"),
    ("OVERSEER_FENCER_DEBUG", "the fencer process logs what it does"),
    ("OVERSEER_DEBUG", "print the traceback of an internal error"),
)


def variables() -> list[tuple[str, str]]:
    return [(env, help_text.split(" (default")[0]) for _, _, env, help_text in _GLOBALS] + list(OTHERS)


def epilog() -> str:
    """The `Environment:` block of `overseer --help` (\\b: click keeps its lines as they are)."""
    width = max(len(name) for name, _ in variables())
    return "\b\nEnvironment:\n" + "\n".join(f"  {name.ljust(width)}  {text}" for name, text in variables())
