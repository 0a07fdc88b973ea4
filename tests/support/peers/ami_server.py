"""An Asterisk Manager Interface speaker for tests (there is no Asterisk package).

Follows the protocol as Asterisk 18-20 speaks it: a banner line
`Asterisk Call Manager/5.0.2`, messages of `Key: Value` lines ended by an
empty line, ActionID echoed on every reply and list event.
- Login: `Response: Success` / `Message: Authentication accepted` (then a
  `FullyBooted` event unless `Events: off`), or `Response: Error` /
  `Message: Authentication failed`.
- Any other action before login: `Response: Error` / `Permission denied`.
- Ping: `Response: Success`, `Ping: Pong`, `Timestamp: <epoch.micro>`.
- CoreShowChannels: `Response: Success`, `EventList: start`, one
  `Event: CoreShowChannel` per channel, then `Event: CoreShowChannelsComplete`
  with `EventList: Complete` and `ListItems: N`.
- Logoff: `Response: Goodbye`, then the connection closes.
`delay` (seconds) is waited before every reply; `hung` accepts connections
and never says anything. All three can be changed while it runs.
The server runs its own event loop in a thread so any test loop can use it.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional

BANNER = b"Asterisk Call Manager/5.0.2\r\n"


def _msg(*pairs: tuple[str, object]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


class AmiServer:
    def __init__(self, username: str = "overseer", secret: str = "s3cret",
                 channels: int = 0, delay: float = 0.0, hung: bool = False) -> None:
        self.username, self.secret = username, secret
        self.channels, self.delay, self.hung = channels, delay, hung
        # a careless manager: quotes the secret it was sent in every refusal
        self.echo_secret = False
        self.refuse_after_login = False
        self.logins: list[tuple[str, str]] = []      # (username, "ok"|"failed")
        self.port = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.base_events.Server] = None

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> "AmiServer":
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("AMI test server did not start within 5s")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        self._server.close()

    # --- protocol -------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.hung:
                await reader.read()          # say nothing until the client gives up
                return
            writer.write(BANNER)
            await writer.drain()
            state = {"authed": False}
            while True:
                message = await self._read(reader)
                if message is None:
                    return
                if not await self._answer(message, state, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Optional[dict]:
        message: dict = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode().rstrip("\r\n")
            if not text:
                if message:
                    return message
                continue
            key, _, value = text.partition(":")
            message[key.strip().lower()] = value.strip()

    async def _answer(self, message: dict, state: dict, writer) -> bool:
        if self.delay:
            await asyncio.sleep(self.delay)
        action = message.get("action", "").lower()
        aid = ("ActionID", message.get("actionid", ""))
        if action == "login":
            writer.write(self._login(message, state, aid))
        elif action == "logoff":
            writer.write(_msg(("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish.")))
            await writer.drain()
            return False
        elif not state["authed"]:
            writer.write(_msg(("Response", "Error"), aid, ("Message", "Permission denied")))
        elif self.refuse_after_login and action in ("ping", "coreshowchannels"):
            why = f"not allowed for secret {state['secret']}" if self.echo_secret else "not allowed"
            writer.write(_msg(("Response", "Error"), aid, ("Message", why)))
        elif action == "ping":
            writer.write(_msg(("Response", "Success"), aid, ("Ping", "Pong"),
                              ("Timestamp", f"{time.time():.6f}")))
        elif action == "coreshowchannels":
            writer.write(self._channels(aid))
        else:
            writer.write(_msg(("Response", "Error"), aid, ("Message", "Invalid/unknown command")))
        await writer.drain()
        return True

    def _login(self, message: dict, state: dict, aid) -> bytes:
        user, secret = message.get("username", ""), message.get("secret", "")
        state["secret"] = secret
        if user == self.username and secret == self.secret:
            state["authed"] = True
            self.logins.append((user, "ok"))
            reply = _msg(("Response", "Success"), aid, ("Message", "Authentication accepted"))
            if message.get("events", "on").lower() != "off":
                reply += _msg(("Event", "FullyBooted"), ("Privilege", "system,all"),
                              ("Uptime", 1234), ("LastReload", 1234), ("Status", "Fully Booted"))
            return reply
        self.logins.append((user, "failed"))
        why = f"Authentication failed for {user}/{secret}" if self.echo_secret else "Authentication failed"
        return _msg(("Response", "Error"), aid, ("Message", why))

    def _channels(self, aid) -> bytes:
        out = _msg(("Response", "Success"), aid, ("EventList", "start"),
                   ("Message", "Channels will follow"))
        for i in range(self.channels):
            out += _msg(("Event", "CoreShowChannel"), aid, ("Channel", f"PJSIP/10{i}-0000{i:04x}"),
                        ("ChannelState", 6), ("ChannelStateDesc", "Up"),
                        ("Context", "from-internal"), ("Exten", "200"), ("Priority", 1),
                        ("Uniqueid", f"1700000000.{i}"), ("Application", "Dial"),
                        ("Duration", "00:00:12"))
        out += _msg(("Event", "CoreShowChannelsComplete"), aid, ("EventList", "Complete"),
                    ("ListItems", self.channels))
        return out
