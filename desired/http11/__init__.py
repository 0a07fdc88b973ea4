"""Overseer's one HTTP/1.1 client layer: etcd's JSON gateway (desired/store),
the failsafe peer exchange, the `http` probe and webhooks all read answers
through it, under the same limits (Limits) and with one deadline per request.

wire.py parses (no I/O), blocking.py drives it on a socket (etcd, webhooks,
in threads), streams.py on asyncio streams (peers, probes); errors.py holds
what every user catches. docs/design-choices.md, "The HTTP client layer",
says why it is ours and not http.client or h11.
"""
