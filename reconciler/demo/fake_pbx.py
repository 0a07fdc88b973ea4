"""A fake PBX: just enough Asterisk Manager Interface for the `asterisk-ami`
and `asterisk-channels` checks. `python -m overseer.reconciler.demo.fake_pbx
--port 5038 --username overseer --secret-file FILE`.

Banner `Asterisk Call Manager/5.0.1`; Login (checked against the secret file),
Ping, CoreShowChannels (a few made-up calls), Logoff. Every reply echoes the
ActionID, as Asterisk does. One thread per connection, so a slow client never
blocks the next probe.
"""
from __future__ import annotations

import argparse
import socketserver
import time
from pathlib import Path

BANNER = b"Asterisk Call Manager/5.0.1\r\n"
CHANNELS = ("PJSIP/agent-101-00000001", "PJSIP/agent-102-00000002", "PJSIP/trunk-00000003")


def message(**fields: str) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


class AmiSession(socketserver.StreamRequestHandler):
    server: "PbxServer"

    def handle(self) -> None:
        self.wfile.write(BANNER)
        self.logged_in = False
        while (action := self.read_action()) is not None:
            if not self.answer(action):
                return

    def read_action(self) -> dict | None:
        fields: dict = {}
        for raw in self.rfile:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if fields:
                    return fields
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        return None  # client closed

    def answer(self, action: dict) -> bool:
        """Reply to one action; False ends the session."""
        name, ids = action.get("action", "").lower(), {}
        if "actionid" in action:
            ids = {"ActionID": action["actionid"]}
        if name == "login":
            self.logged_in = (action.get("username") == self.server.username
                              and action.get("secret") == self.server.secret())
            self.wfile.write(message(Response="Success", **ids, Message="Authentication accepted")
                             if self.logged_in else
                             message(Response="Error", **ids, Message="Authentication failed"))
            return self.logged_in
        if name == "logoff":
            self.wfile.write(message(Response="Goodbye", **ids, Message="Thanks for all the fish."))
            return False
        if not self.logged_in:
            self.wfile.write(message(Response="Error", **ids, Message="Permission denied"))
        elif name == "ping":
            self.wfile.write(message(Response="Success", **ids, Ping="Pong", Timestamp=f"{time.time():.6f}"))
        elif name == "coreshowchannels":
            self.show_channels(ids)
        else:
            self.wfile.write(message(Response="Error", **ids, Message="Invalid/unknown command"))
        return True

    def show_channels(self, ids: dict) -> None:
        self.wfile.write(message(Response="Success", **ids, EventList="start",
                                 Message="Channels will follow"))
        for channel in CHANNELS:
            self.wfile.write(message(Event="CoreShowChannel", **ids, Channel=channel,
                                     ChannelStateDesc="Up", Application="Dial"))
        self.wfile.write(message(Event="CoreShowChannelsComplete", **ids, EventList="Complete",
                                 ListItems=str(len(CHANNELS))))


class PbxServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # a failed-over PBX comes back on the same port at once
    daemon_threads = True

    def __init__(self, port: int, username: str, secret_file: str, host: str = "127.0.0.1"):
        self.username, self.secret_file = username, Path(secret_file)
        super().__init__((host, port), AmiSession)

    def secret(self) -> str:
        # re-read each login, like a rotated secret would be
        return self.secret_file.read_text().strip()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--username", default="overseer")
    parser.add_argument("--secret-file", required=True)
    args = parser.parse_args(argv)
    with PbxServer(args.port, args.username, args.secret_file, args.host) as server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
