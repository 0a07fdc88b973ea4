"""The store's typed errors; every message is meant for an operator.

Each carries the exit status the CLI documents (docs/interfaces.md): 3 when
etcd cannot be reached, 1 when it answered no, 2 for a usage error.
"""
from __future__ import annotations


class StoreError(Exception):
    """Base of every etcd-related error."""
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


class BadEndpoint(StoreError):
    """An --etcd value that is no URL: a usage error, not an unreachable etcd."""
    exit_code = 2


class AuthTokenExpired(StoreError):
    """etcd dropped our auth token (idle past --auth-token-ttl, or a JWT expired)."""


class Rejected(StoreError):
    """etcd answered the request with an error (a bad argument, a lease it does
    not know, a compacted revision). `code` is the gRPC status etcd gave."""
    exit_code = 1

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class MalformedAnswer(EtcdUnavailable):
    """What answered on etcd's port sent something etcd never sends: a JSON
    field of the wrong type, no header, not JSON, not HTTP, a body cut short.
    Retried like an unreachable etcd (another member, the next tick)."""


class AnswerTooLarge(MalformedAnswer):
    """An answer over the client's limit (--max-answer, or the fixed limit of
    an answer that holds no keys); nothing past the limit was read."""


class BadSetting(StoreError):
    """An etcd setting that cannot work as given: a password file that cannot
    be read, credentials over plain http. A usage error."""
    exit_code = 2


class InsecureTransport(BadSetting):
    """Credentials would cross the network in clear text (plain http to a
    member that is not on this machine) and --insecure-transport was not given."""
