"""Mutual TLS between agents for the failsafe exchange, as Patroni's REST API
with client certificates: each agent its own certificate, from the cluster's CA.

Stronger than the shared key alone (peer_auth.py), where any holder can sign
as any server: a certificate names one server, so neither a stolen
certificate nor a compromised server can answer for the others. The
certificate names its server in subjectAltName as a DNS name, the Server
document's `metadata.name` (not its address), and is usable for both
serverAuth and clientAuth. The asker checks that the answering certificate
names the peer it asked (TLS hostname check on that name); the answerer takes
the asker's name from the client certificate, and refuses a question that
claims another (peer_desk.py). TLS itself makes every answer fresh, so with
certificates alone no key is needed; with both, both are checked.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Optional

from .peer_auth import PeerKeyError, read_private

MAX_KEY_FILE = 64 * 1024


class PeerTlsError(Exception):
    """The certificate, its key or the CA cannot be used; the message says which and why."""


@dataclass(frozen=True)
class PeerTls:
    server: ssl.SSLContext       # the peer endpoint: demands a client certificate from the CA
    client: ssl.SSLContext       # asking: checks the answering certificate names the peer asked
    cacert: str

    def __repr__(self) -> str:
        return f"PeerTls(CA {self.cacert})"


def certified_names(peercert: Optional[dict]) -> tuple[str, ...]:
    """The DNS names of a certificate as ssl's getpeercert() decodes it."""
    if not peercert:
        return ()
    return tuple(value for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS")


def load_tls(cacert: str, cert: str, key: str, me: str) -> PeerTls:
    try:
        read_private(key, "peer certificate key", MAX_KEY_FILE)
    except PeerKeyError as exc:
        raise PeerTlsError(str(exc)) from None
    try:
        names = certified_names(ssl._ssl._test_decode_cert(cert))   # what a peer will see of it
    except (OSError, ssl.SSLError) as exc:
        raise PeerTlsError(f"peer certificate {cert}: cannot read it: {exc}") from None
    if me not in names:
        raise PeerTlsError(f"peer certificate {cert} names {', '.join(names) or 'no DNS name'}, not this "
                           f"server {me!r}: its subjectAltName must hold DNS:{me}")
    contexts = []
    for purpose in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        context = ssl.SSLContext(purpose)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
            context.load_verify_locations(cacert)
        except (OSError, ssl.SSLError) as exc:
            raise PeerTlsError(f"peer TLS files (CA {cacert}, certificate {cert}, key {key}): {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED   # the client side checks the hostname too (its default)
        contexts.append(context)
    return PeerTls(contexts[0], contexts[1], cacert)
