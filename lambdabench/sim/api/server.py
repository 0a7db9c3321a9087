"""The simulator on a real loopback HTTP port, with a ticker thread; `serve` runs it until signalled."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lambdabench.errors import SimulatorError
from lambdabench.sim.api.core import API_PREFIX, HostBackend, SimCloud
from lambdabench.sim.api.scenario import Scenario

TICK_SECONDS = 0.1
# clients pace 5 % slower than the limit so jitter in scheduling never trips it
PACING_MARGIN = 1.05


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms a request
    disable_nagle_algorithm = True
    server_version = "cloudflare"
    sys_version = ""
    core: SimCloud  # set on the per-server subclass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        resp = self.core.handle(self.command, url.path, query, headers, body)
        if resp.hangup:
            self.close_connection = True  # drop the socket without a status line
            return
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the core keeps its own request log."""


class SimServer:
    """Serve a SimCloud over HTTP on loopback and tick it in the background."""

    def __init__(
        self,
        core: SimCloud,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.extra_env: dict[str, str] = dict(extra_env or {})
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        """Base URL of the API, ending in /api/v1."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    def start(self) -> SimServer:
        """Bind, then serve and tick in daemon threads."""
        handler = type("SimHandler", (_Handler,), {"core": self.core})
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            raise SimulatorError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                "choose another port (or 0 for any free port)",
            ) from exc
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._stop.clear()
        serve = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sim-http-{self.port}",
            daemon=True,
        )
        ticker = threading.Thread(target=self._tick_loop, name=f"sim-tick-{self.port}", daemon=True)
        self._threads = [serve, ticker]
        for t in self._threads:
            t.start()
        return self

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.core.tick()
            except Exception as exc:  # one bad tick must not stop lifecycles for good
                print(f"simulator tick failed: {exc}", file=sys.stderr)

    def stop(self) -> None:
        """Stop serving and ticking (the core stays open; call core.close() to stop hosts)."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Settings a client needs to talk to this simulator."""
        rl = self.core.scenario.rate_limits
        ts = self.core.time_scale
        env = {
            "LAMBDABENCH_API_URL": self.url,
            "LAMBDA_API_KEY": self.core.scenario.api_key,
            "LAMBDABENCH_MIN_REQUEST_INTERVAL": f"{rl.request_interval / ts * PACING_MARGIN:.6g}",
            "LAMBDABENCH_MIN_LAUNCH_INTERVAL": f"{rl.launch_interval / ts * PACING_MARGIN:.6g}",
            "LAMBDABENCH_SIMULATED": "1",
        }
        env.update(self.extra_env)
        return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Write `export K=V` lines to path, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the file may have existed with looser bits
    with os.fdopen(fd, "w") as fh:
        fh.write(_export_lines(env))


def _export_lines(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def serve_forever(
    core: SimCloud,
    port: int = 0,
    env_file: Path | None = None,
    *,
    host: str = "127.0.0.1",
    extra_env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or stop is set), print the env, then close the core cleanly."""
    stop = stop or threading.Event()
    server = SimServer(core, host, port, extra_env)
    server.start()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        env = server.env()
        if env_file is not None:
            write_env_file(env_file, env)
        sys.stdout.write(_export_lines(env))
        sys.stdout.flush()
        print(
            f"simulator listening on {server.url} (time scale {core.time_scale:g}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
        core.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("simulator stopped", file=sys.stderr, flush=True)
    return 0


HostsFactory = Callable[[Scenario, float], HostBackend]


def run_serve(
    port: int,
    scenario_path: Path | None,
    time_scale: float,
    env_file: Path | None,
    hosts_factory: HostsFactory | None = None,
    *,
    state_dir: Path | None = None,
) -> int:
    """Entry point for `lambdabench sim serve`: load the scenario, build hosts, serve."""
    if time_scale <= 0:
        raise SimulatorError(f"time scale must be positive, got {time_scale:g}", "pass e.g. --time-scale 60")
    scenario = Scenario.load(scenario_path) if scenario_path is not None else Scenario()
    hosts = hosts_factory(scenario, time_scale) if hosts_factory is not None else None
    # the host backend adds its SSH settings (user, port, key) to what clients are told
    host_env = getattr(hosts, "env", None)
    extra_env: dict[str, str] = dict(host_env()) if callable(host_env) else {}
    core = SimCloud(scenario, time_scale=time_scale, hosts=hosts, state_dir=state_dir)
    try:
        return serve_forever(core, port, env_file, extra_env=extra_env)
    finally:
        core.close()
