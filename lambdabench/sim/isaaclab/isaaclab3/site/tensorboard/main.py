"""`tensorboard` (console script tensorboard.main:run_main, tensorboard 2.21.0), simulated: an HTTP server over --logdir.

What it mirrors of the real one (tensorboard 2.21.0): the flags --logdir, --port (default 6006), --host,
--bind_all (plugins/core/core_plugin.py:310-380); without --host or --bind_all it serves localhost only and
says so (program.py:700-706, 880-890); the serving line "TensorBoard <version> at <url> (Press CTRL+C to
quit)" on stderr (program.py:587-596); no --logdir: "Error: A logdir or db must be specified." (core_plugin.py:700-708,
main.py:42-44); a busy port ends it with "could not bind to port N, it was already in
use" (program.py:713-722; the exit status and prefix are guesses); GET /data/runs is the JSON list of run
names, the folders under the logdir that hold event files, oldest first (core_plugin.py:87,247-264), and
/data/logdir is {"logdir": ...} (core_plugin.py:86,233). The page at / is the stand-in's own, not the app.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tensorboard import __version__

EVENTS = re.compile(r"events\.out\.tfevents\.(\d+(?:\.\d+)?)")


def runs(logdir: Path) -> list[str]:
    """Run names: each folder (relative to the logdir) with event files, by its first event file's time."""
    found: dict[str, float] = {}
    for file in logdir.rglob("events.out.tfevents.*"):
        match = EVENTS.match(file.name)
        name = "." if file.parent == logdir else str(file.parent.relative_to(logdir))
        stamp = float(match.group(1)) if match else float("inf")
        found[name] = min(found.get(name, stamp), stamp)
    return [name for name, _ in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))]


def handler(logdir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/data/runs":
                self._send(json.dumps(runs(logdir)), "application/json")
            elif path == "/data/logdir":
                self._send(json.dumps({"logdir": str(logdir)}), "application/json")
            elif path in ("/", "/index.html"):
                page = f"<html><body>[simulated] TensorBoard {__version__}: {len(runs(logdir))} run(s)</body></html>"
                self._send(page, "text/html")
            else:
                self.send_error(404)

        def _send(self, text: str, kind: str) -> None:
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            pass

    return Handler


def run_main() -> None:
    parser = argparse.ArgumentParser(prog="tensorboard")
    parser.add_argument("--logdir", default="")
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--host", default=None)
    parser.add_argument("--bind_all", action="store_true")
    args, _ = parser.parse_known_args()
    if not args.logdir:
        sys.stderr.write("Error: A logdir or db must be specified. For example `tensorboard --logdir mylogdir`\n")
        raise SystemExit(1)
    host = "" if args.bind_all else (args.host or "127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", args.port)) == 0:
            sys.stderr.write(f"TensorBoard could not bind to port {args.port}, it was already in use\n")
            raise SystemExit(1)
    server = ThreadingHTTPServer((host, args.port), handler(Path(args.logdir).resolve()))
    if args.host is None and not args.bind_all:
        sys.stderr.write("Serving TensorBoard on localhost; to expose to the network, use a proxy or pass --bind_all\n")
    shown = "localhost" if not args.bind_all and args.host is None else (args.host or socket.getfqdn())
    sys.stderr.write(f"TensorBoard {__version__} at http://{shown}:{args.port}/ (Press CTRL+C to quit)\n")
    sys.stderr.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    run_main()
