"""A small web app for the demo: `python -m overseer.reconciler.demo.web_app --port 8081`.

A threading HTTP server (one thread per request, plus a few idle workers so
the `threads` check has something to count) answering `/` with which server
runs it and `/health` with 200.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORKERS = 4  # idle "worker" threads, like a web server's pool


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in ("/", "/health"):
            self.send_error(404)
            return
        body = json.dumps({"server": os.environ.get("OVERSEER_SERVER", "?"),
                           "role": os.environ.get("OVERSEER_ROLE", "?"), "pid": os.getpid(),
                           "time": time.time()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args) -> None:
        pass  # the probes call every 200 ms: keep the state dir's log readable


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    idle = threading.Event()
    for n in range(WORKERS):
        threading.Thread(target=idle.wait, name=f"worker-{n}", daemon=True).start()
    ThreadingHTTPServer.allow_reuse_address = True
    with ThreadingHTTPServer((args.host, args.port), Handler) as server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
