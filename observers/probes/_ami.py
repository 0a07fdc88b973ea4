"""A minimal Asterisk Manager Interface client: banner, Login, one action, Logoff.

AMI is line based: a banner line `Asterisk Call Manager/x.y`, then messages
of `Key: Value` lines ended by an empty line. Each action carries an
ActionID; replies and list events echo it, which is how unrelated events on
the same connection are told apart.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Optional

from ._common import endpoint_error, read_secret

_ids = itertools.count(1)


class AmiError(Exception):
    """The manager answered, but not as a healthy Asterisk does; the text says how."""


def _encode(action: str, fields: dict) -> bytes:
    lines = [f"Action: {action}"] + [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class AmiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def read_message(self) -> dict:
        message: dict = {}
        while True:
            line = await self.reader.readline()
            if not line:
                raise AmiError("manager closed the connection")
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if not text:
                if message:
                    return message
                continue
            key, _, value = text.partition(":")
            message[key.strip().lower()] = value.strip()

    async def send(self, action: str, **fields) -> str:
        action_id = f"overseer-{next(_ids)}"
        self.writer.write(_encode(action, {"ActionID": action_id, **fields}))
        await self.writer.drain()
        return action_id

    async def reply(self, action_id: str) -> dict:
        """The Response to our action, skipping events that are not ours."""
        while True:
            message = await self.read_message()
            if "response" in message and message.get("actionid", action_id) == action_id:
                return message

    async def close(self) -> None:
        try:
            await self.send("Logoff")
        except OSError:
            pass        # already gone: nothing to be polite to
        self.writer.close()


async def connect(check) -> AmiClient:
    """Open, check the banner and log in; raise AmiError/OSError with a plain text."""
    secret = read_secret(check.secretFile, "secretFile")
    try:
        reader, writer = await asyncio.open_connection(check.host, check.port)
    except OSError as exc:
        raise AmiError(endpoint_error(exc, check.host, check.port)) from None
    client = AmiClient(reader, writer)
    try:
        await _login(client, check, secret)
    except BaseException:
        writer.close()      # also on timeout (cancellation): never leak the socket
        raise
    return client


async def _login(client: AmiClient, check, secret: Optional[str]) -> None:
    banner = (await client.reader.readline()).decode("utf-8", errors="replace").strip()
    if not banner.startswith("Asterisk Call Manager/"):
        raise AmiError(f"{check.host}:{check.port} is not an Asterisk manager "
                       f"(banner {banner[:40]!r})")
    action_id = await client.send("Login", Username=check.username, Secret=secret or "",
                                  Events="off")
    answer = await client.reply(action_id)
    if answer.get("response", "").lower() != "success":
        why = answer.get("message") or answer.get("response") or "no reason given"
        raise AmiError(f"AMI login as {check.username} refused: {why}")


def list_count(complete: dict, counted: int) -> int:
    """Prefer the manager's own ListItems; fall back to what we counted."""
    items: Optional[str] = complete.get("listitems")
    return int(items) if items and items.isdigit() else counted
