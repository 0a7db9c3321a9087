"""The simulated Lambda Cloud: one thread-safe state machine that answers the API's requests."""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import math
import random
import re
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from lambdabench.sim.api.catalog import DEFAULT_IMAGE_FAMILY, SimImage, SimType
from lambdabench.sim.api.scenario import HOST_FAULT_DURATIONS, HOST_FAULT_KINDS, ApiFault, Scenario

API_PREFIX = "/api/v1"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")
HOSTNAME = re.compile(r"^[a-z0-9][0-9a-z-]{0,62}$")
FS_NAME = re.compile(r"^[a-zA-Z]+[0-9a-zA-Z-]*$")
MOUNT_POINT = re.compile(r"^(/home|/lambda/nfs|/data)[//a-zA-Z0-9-]*$")
LIVE = ("booting", "active", "unhealthy", "terminating", "Alert")
SECRET_FIELDS = ("user_data", "private_key", "password", "token", "api_key")
USER_DATA_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class HostInfo:
    """Where an instance's machine answers SSH."""

    ip: str
    port: int = 22


class HostAddress(Protocol):
    """What the core reads of a started machine (HostInfo here, or a backend's richer record)."""

    @property
    def ip(self) -> str: ...

    @property
    def port(self) -> int: ...


class HostBackend(Protocol):
    """Runs the machines behind instances (real sshd hosts live in lambdabench.sim.hosts.manager)."""

    def start(
        self,
        instance_id: str,
        *,
        authorized_key: str,
        instance_type: SimType,
        faults: dict[str, dict[str, Any]],
        image: SimImage | None = None,
    ) -> HostAddress:
        """Bring the instance's machine up (booted from image); host fault durations are real (scaled) seconds."""
        ...

    def stop(self, instance_id: str) -> None:
        """Take the machine down and wipe its disk."""
        ...

    def close(self) -> None:
        """Stop every machine."""
        ...


@dataclass
class SimResponse:
    """One HTTP answer; hangup means close the connection without any response."""

    status: int
    headers: dict[str, str]
    body: bytes
    hangup: bool = False

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _ApiError(Exception):
    """Raised inside handlers; becomes Lambda's error envelope."""

    def __init__(self, status: int, code: str, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.suggestion = suggestion


def _image_id(img: SimImage, region: str) -> str:
    """A stable id per image family, architecture and region (GET /images lists one image per region)."""
    arch = "" if img.architecture == "x86_64" else f"/{img.architecture}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lambdabench-sim/{img.family}{arch}/{region}"))


def _invalid(message: str, suggestion: str | None = None) -> _ApiError:
    return _ApiError(400, "global/invalid-parameters", message, suggestion)


def _instance_not_found() -> _ApiError:
    return _ApiError(
        404,
        "global/object-does-not-exist",
        "Specified instance does not exist.",
        "Check the instance ID; new instances can take a moment to appear.",
    )


@dataclass
class _Instance:
    id: str
    name: str | None
    type: SimType
    price_cents_per_hour: int
    region: str
    ssh_key_name: str
    public_key: str
    hostname: str | None
    tags: list[dict[str, str]]
    file_system_names: list[str]
    file_system_mounts: list[dict[str, str]]
    firewall_rulesets: list[str]
    nth: int
    launched_at: float
    visible_at: float
    boot_end_at: float
    status: str = "booting"
    starting: bool = False
    ip: str | None = None
    port: int | None = None
    private_ip: str | None = None
    jupyter_token: str = ""
    unhealthy: bool = False
    never_active: bool = False
    missing_window: tuple[float, float] | None = None
    failover_window: tuple[float, float] | None = None  # unlisted, 404 on GET and terminate, then back
    alert_at: float | None = None  # an in-OS shutdown: "Alert" from then on, still billed
    host_faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    has_host: bool = False
    first_active_at: float | None = None
    billing_started_at: float | None = None
    terminate_called_at: float | None = None
    gone_at: float | None = None
    removed: bool = False
    host_error: str | None = None
    image: SimImage | None = None  # what it booted (Lambda's default when the launch named none)


@dataclass
class _FaultState:
    spec: ApiFault
    seen: int = 0
    fired: int = 0
    window_end: float | None = None  # an outage window's end, once it began


# faults whose `seconds` is an outage window from the first hit: an HTML 503 maintenance page for
# minutes (Lambda's status page lists maintenance windows), a key revoked for good
WINDOW_FAULTS = ("http_5xx", "invalid_api_key")
LINGER_FLOOR_S = 30.0  # real seconds a terminated instance stays listed in a time-scaled cloud, at least


def _new_id() -> str:
    """A 32-hex id, unique across simulator starts as Lambda's are (a ledger outlives a simulator:
    ids seeded per start would repeat, and a second `lambdabench demo` would meet its first one's ids)."""
    return secrets.token_hex(16)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


class SimCloud:
    """The simulated cloud: handle() answers one API request; tick() moves instances along."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        time_scale: float = 1.0,
        hosts: HostBackend | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        state_dir: Path | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.scenario = scenario or Scenario()
        self.time_scale = time_scale
        self.hosts = hosts
        self.clock = clock
        self._sleep = sleep
        self.state_dir = state_dir
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._rng = random.Random(self.scenario.seed)
        self._started_at = clock()
        self._instances: dict[str, _Instance] = {}
        self._launch_counts: dict[str, int] = {}
        self._ssh_keys: dict[str, dict[str, Any]] = {}
        self._filesystems: dict[str, dict[str, Any]] = {}
        self._rulesets: dict[str, dict[str, Any]] = {}
        self._global_rules: list[dict[str, Any]] = [
            {
                "protocol": "tcp",
                "port_range": [22, 22],
                "source_network": "0.0.0.0/0",
                "description": "Allow SSH from anywhere",
            },
            {
                "protocol": "icmp",
                "source_network": "0.0.0.0/0",
                "description": "Allow ICMP from anywhere",
            },
        ]
        self._capacity_override: dict[tuple[str, str], int] = {}
        self._faults = [_FaultState(f) for f in self.scenario.faults]
        self._tokens = float(self.scenario.rate_limits.burst)
        self._tokens_at = self._started_at
        self._last_launch_at: float | None = None
        self._locked_until = 0.0
        self._log: list[dict[str, Any]] = []
        self._private_counter = 0
        self._closed = False

    # ---- time -------------------------------------------------------------------------------

    def _real(self, cloud_seconds: float) -> float:
        """Cloud seconds from a scenario as real seconds at this time scale."""
        return cloud_seconds / self.time_scale

    def _linger(self) -> float:
        """How long a terminated instance stays listed, in real seconds.

        Fast-forwarded, five cloud minutes are a second: less than a loaded machine may take between
        two polls, so `terminated` — the client's only proof of gone — could never be seen. The real
        service lists terminated instances for minutes (FIELD-NOTES "Lifecycle"); a time-scaled cloud
        keeps them at least LINGER_FLOOR_S real seconds (never longer than the scenario's own value).
        """
        linger = self.scenario.linger_seconds
        real = self._real(linger)
        return max(real, min(linger, LINGER_FLOOR_S)) if self.time_scale > 1 else real

    # ---- lifecycle --------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance every instance whose next transition is due; hosts start/stop outside the lock."""
        to_start: list[_Instance] = []
        to_stop: list[str] = []
        changed = False
        with self._lock:
            now = self.clock()
            for inst in self._instances.values():
                if inst.status in ("booting", "active") and inst.alert_at is not None and now >= inst.alert_at:
                    # Lambda's docs: an in-OS `shutdown` leaves the instance in "Alert", still billed
                    # (FIELD-NOTES "Lifecycle"): a status outside the spec's enum
                    inst.status = "Alert"
                    if inst.billing_started_at is None:
                        inst.billing_started_at = now  # the machine exists and is billed (a guess for a boot)
                    changed = True
                elif inst.status == "booting" and not inst.starting and now >= inst.boot_end_at:
                    if inst.never_active:
                        continue
                    if inst.unhealthy:
                        # Lambda bills unhealthy machines: the machine exists, checks failed
                        inst.status = "unhealthy"
                        inst.billing_started_at = inst.boot_end_at
                        changed = True
                        continue
                    inst.starting = True
                    to_start.append(inst)
                elif inst.status == "terminating" and inst.terminate_called_at is not None:
                    if now >= inst.terminate_called_at + self._real(self.scenario.terminate_seconds):
                        inst.status = "terminated"
                        inst.gone_at = inst.terminate_called_at + self._real(self.scenario.terminate_seconds)
                        if inst.has_host:
                            to_stop.append(inst.id)
                            inst.has_host = False
                        inst.ip = inst.private_ip = None
                        changed = True
                elif (
                    inst.status == "terminated"
                    and not inst.removed
                    and inst.gone_at is not None
                    and now >= inst.gone_at + self._linger()
                ):
                    inst.removed = True
        for inst in to_start:
            self._start_host(inst)
            changed = True
        for instance_id in to_stop:
            self._stop_host(instance_id)
        if changed:
            self._persist_billing()

    def _start_host(self, inst: _Instance) -> None:
        # stamp transitions at their due time, so a late tick (or a test's clock jump) does not
        # shift billing; the host's own start-up time still counts
        began = self.clock()
        info: HostAddress | None = None
        error: str | None = None
        if self.hosts is not None:
            try:
                info = self.hosts.start(
                    inst.id,
                    authorized_key=inst.public_key,
                    instance_type=inst.type,
                    faults=inst.host_faults,
                    image=inst.image,
                )
            except Exception as exc:  # a broken host is an unhealthy instance, not a dead sim
                error = f"{type(exc).__name__}: {exc}"
        stop_after = False
        with self._lock:
            inst.starting = False
            now = self.clock()
            if error is not None:
                inst.host_error = error
                if inst.status == "booting":
                    inst.status = "unhealthy"
                    inst.billing_started_at = min(inst.boot_end_at + max(0.0, now - began), now)
                return
            if inst.status != "booting":  # terminated while the host came up
                stop_after = info is not None
            else:
                if info is None:
                    info = HostInfo(self._free_loopback(), 22)
                inst.has_host = self.hosts is not None
                inst.ip, inst.port = info.ip, info.port
                self._private_counter += 1
                if self._rng.random() >= self.scenario.missing_private_ip:
                    n = self._private_counter
                    # with real hosts the simulated private network is this machine's loopback (every
                    # node's sshd lives here), so the private address is one the other nodes reach;
                    # API-only, a 10.x address as Lambda gives (the value is not documented: a guess)
                    inst.private_ip = info.ip if inst.has_host else f"10.19.{n // 250}.{n % 250 + 2}"
                inst.status = "active"
                due = inst.boot_end_at + max(0.0, now - began)
                inst.first_active_at = inst.billing_started_at = min(due, now)
        if stop_after:
            self._stop_host(inst.id)

    def _stop_host(self, instance_id: str) -> None:
        if self.hosts is None:
            return
        try:
            self.hosts.stop(instance_id)
        except Exception as exc:  # keep the cloud running; the host worker logs its own errors
            with self._lock:
                inst = self._instances.get(instance_id)
                if inst is not None:
                    inst.host_error = f"stop: {type(exc).__name__}: {exc}"

    def _free_loopback(self) -> str:
        used = {i.ip for i in self._instances.values() if i.ip and i.status != "terminated"}
        n = 2
        while f"127.0.0.{n}" in used:
            n += 1
        if n > 254:
            raise RuntimeError("no free loopback address left")
        return f"127.0.0.{n}"

    def close(self) -> None:
        """Stop every host (instances left running stay in the billing record as never terminated)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = [i.id for i in self._instances.values() if i.has_host]
            for inst in self._instances.values():
                inst.has_host = False
        for instance_id in running:
            self._stop_host(instance_id)
        if self.hosts is not None:
            try:
                self.hosts.close()
            finally:
                self._persist_billing()
        else:
            self._persist_billing()

    # ---- truth for tests and reports --------------------------------------------------------

    def billing(self) -> list[dict[str, Any]]:
        """Billing truth per instance, in real wall-clock seconds (the time scale does not apply)."""
        with self._lock:
            now = self.clock()
            out = []
            for inst in self._instances.values():
                end = inst.terminate_called_at if inst.terminate_called_at is not None else now
                start = inst.billing_started_at
                billed = math.ceil(max(0.0, end - start) / 60) if start is not None else 0
                upper = math.ceil(max(0.0, end - inst.launched_at) / 60)
                price = inst.price_cents_per_hour
                out.append(
                    {
                        "id": inst.id,
                        "name": inst.name,
                        "instance_type": inst.type.name,
                        "region": inst.region,
                        "status": inst.status,
                        "price_cents_per_hour": price,
                        "launch_accepted_at": inst.launched_at,
                        "first_active_at": inst.first_active_at,
                        "billing_started_at": start,
                        "terminate_called_at": inst.terminate_called_at,
                        "gone_at": inst.gone_at,
                        "billed_minutes": billed,
                        "upper_bound_minutes": upper,
                        "cost_cents": billed * price / 60,
                        "upper_bound_cost_cents": upper * price / 60,
                    }
                )
            return out

    def requests(self) -> list[dict[str, Any]]:
        """The request log (secrets stripped), oldest first."""
        with self._lock:
            return [dict(e) for e in self._log]

    def instances_debug(self) -> list[dict[str, Any]]:
        """Every instance with simulator-only detail: host address, faults, timings."""
        with self._lock:
            return [
                {
                    "id": i.id,
                    "name": i.name,
                    "status": i.status,
                    "instance_type": i.type.name,
                    "region": i.region,
                    "ip": i.ip,
                    "port": i.port,
                    "private_ip": i.private_ip,
                    "nth": i.nth,
                    "launched_at": i.launched_at,
                    "visible_at": i.visible_at,
                    "boot_end_at": i.boot_end_at,
                    "unhealthy": i.unhealthy,
                    "never_active": i.never_active,
                    "host_faults": i.host_faults,
                    "missing_window": list(i.missing_window) if i.missing_window else None,
                    "removed": i.removed,
                    "host_error": i.host_error,
                }
                for i in self._instances.values()
            ]

    def set_capacity(self, instance_type: str, region: str, count: int | None) -> None:
        """Override stock of one (type, region) at run time; None goes back to the scenario."""
        with self._lock:
            if count is None:
                self._capacity_override.pop((instance_type, region), None)
            else:
                self._capacity_override[(instance_type, region)] = count

    def _persist_billing(self) -> None:
        if self.state_dir is None:
            return
        target = self.state_dir / "billing.json"
        # one temp file per thread: two threads persisting at once must not rename each other's file
        tmp = target.with_name(f".billing.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps(self.billing(), indent=1))
            tmp.replace(target)
        except FileNotFoundError:
            if self._closed:
                return  # the state dir went away with the simulator
            raise

    # ---- capacity ---------------------------------------------------------------------------

    def _capacity(self, type_name: str, region: str, now: float) -> int:
        override = self._capacity_override.get((type_name, region))
        if override is not None:
            return override
        steps = self.scenario.capacity.get((type_name, region))
        if not steps:
            return 0
        elapsed_cloud = (now - self._started_at) * self.time_scale
        count = 0
        for at, n in steps:
            if at <= elapsed_cloud:
                count = n
        return count

    def _available(self, type_name: str, region: str, now: float) -> int:
        used = sum(
            1 for i in self._instances.values() if i.type.name == type_name and i.region == region and i.status in LIVE
        )
        return self._capacity(type_name, region, now) - used

    # ---- HTTP entry -------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> SimResponse:
        """Answer one request like Lambda's edge + API would."""
        self.tick()
        method = method.upper()
        headers = {k.lower(): v for k, v in headers.items()}
        if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
            return _json(404, _error_body("global/not-found", "The requested resource was not found."))
        rel = path[len(API_PREFIX) :].rstrip("/") or "/"
        if rel.startswith("/_sim/"):
            return self._sim_endpoint(method, rel, headers, body)
        delay = 0.0
        with self._lock:
            now = self.clock()
            endpoint = _endpoint_name(method, rel)
            resp = self._edge(now, endpoint)
            if resp is None:
                fault = self._pick_fault(endpoint)
                kind = fault.kind if fault else None
                if fault is not None and kind == "transport_timeout":
                    delay = self._real(
                        fault.seconds if fault.seconds is not None else self.scenario.transport_timeout_seconds
                    )
                    resp = _hangup() if fault.mode == "hangup" else _html(fault.status or 504, _GATEWAY_TIMEOUT)
                elif fault is not None and kind == "http_429":
                    resp = self._too_many(now)
                    if fault.seconds is not None and "Retry-After" in resp.headers:
                        # a WAF rule's own Retry-After wins over Cloudflare's 30 s (FIELD-NOTES "Rate
                        # limits"): any value, however long — the client must cap it
                        resp.headers["Retry-After"] = f"{fault.seconds:.0f}"
                elif fault is not None and kind == "http_5xx":
                    status = fault.status or 500
                    resp = (
                        _json(
                            500,
                            _error_body(
                                "global/internal-error",
                                "An internal server error occurred.",
                                "Try again later. Contact Support if the problem persists.",
                            ),
                        )
                        if status == 500
                        else _html(status, _BAD_GATEWAY)
                    )
                elif kind == "invalid_api_key" or not self._authorized(headers):
                    resp = _json(
                        401,
                        _error_body(
                            "global/invalid-api-key",
                            "API key was invalid, expired, or deleted.",
                            "Check your API key or create a new one, then try again.",
                        ),
                    )
                elif kind == "insufficient_capacity":
                    resp = _json(
                        400,
                        _error_body(
                            "instance-operations/launch/insufficient-capacity",
                            "Not enough capacity to fulfill launch request.",
                            "Try a different region or instance type.",
                        ),
                    )
                elif kind == "quota_exceeded":
                    resp = _json(
                        400,
                        _error_body(
                            "global/quota-exceeded",
                            "Quota exceeded.",
                            "Contact Support to increase your quota.",
                        ),
                    )
                elif kind == "global_unknown":
                    resp = _json(500, _error_body("global/unknown", "An unknown error occurred."))
                else:
                    resp = self._route(method, rel, query, body, now)
                    if fault is not None and kind == "slow_response":
                        # processed at once, answered late: a slow network or gateway (a guess at
                        # its size; what matters is a client waiting on a call that already acted)
                        delay = self._real(fault.seconds if fault.seconds is not None else 30.0)
                    if fault is not None and kind == "lost_response":
                        # the action happened; what the client gets back says otherwise
                        if fault.mode == "http":
                            resp = _html(fault.status or 502, _BAD_GATEWAY)
                        elif fault.mode == "unknown":
                            # Lambda's catch-all, seen AFTER the action (SkyPilot PR #3410)
                            resp = _json(
                                fault.status or 500,
                                _error_body("global/unknown", "An unknown error occurred."),
                            )
                        else:
                            resp = _hangup()
            self._record(now, method, path, query, body, endpoint, resp)
        if delay > 0:
            self._sleep(delay)
        return resp

    def _edge(self, now: float, endpoint: str) -> SimResponse | None:
        """Cloudflare in front of the API: token bucket, launch pacing, then a lock-out."""
        rl = self.scenario.rate_limits
        if not rl.enabled:
            return None
        if now < self._locked_until:
            return self._too_many(now)
        rate = self.time_scale / rl.request_interval if rl.request_interval > 0 else math.inf
        self._tokens = min(float(rl.burst), self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if self._tokens < 1.0:
            return self._trip(now)
        if endpoint == "launch":
            min_gap = self._real(rl.launch_interval) * (1.0 - rl.launch_tolerance)
            if self._last_launch_at is not None and now - self._last_launch_at < min_gap:
                return self._trip(now)
            self._last_launch_at = now
        self._tokens -= 1.0
        return None

    def _trip(self, now: float) -> SimResponse:
        self._locked_until = now + self._real(self.scenario.rate_limits.lockout_seconds)
        return self._too_many(now)

    def _too_many(self, now: float) -> SimResponse:
        headers = {"Content-Type": "text/html; charset=UTF-8", "Server": "cloudflare"}
        if self.scenario.rate_limits.retry_after:
            wait = max(1, math.ceil(max(self._locked_until - now, 0.0)))
            headers["Retry-After"] = str(wait)
        return SimResponse(429, headers, b"error code: 1015")

    def _pick_fault(self, endpoint: str) -> ApiFault | None:
        now = self.clock()
        for state in self._faults:
            spec = state.spec
            if spec.endpoint not in ("any", endpoint):
                continue
            if spec.kind in WINDOW_FAULTS and spec.seconds is not None and state.window_end is not None:
                # an outage window: every request inside it gets the fault, whatever `count` says
                if now < state.window_end:
                    state.fired += 1
                    return spec
                continue
            if spec.count is not None and state.fired >= spec.count:
                continue
            state.seen += 1
            if state.seen <= spec.after:
                continue
            if spec.probability < 1.0 and self._rng.random() >= spec.probability:
                continue
            state.fired += 1
            if spec.kind in WINDOW_FAULTS and spec.seconds is not None:
                state.window_end = now + self._real(spec.seconds)
            return spec
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return value == self.scenario.api_key
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(value, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return False
            return user == self.scenario.api_key
        return False

    def _record(
        self,
        now: float,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
        endpoint: str,
        resp: SimResponse,
    ) -> None:
        entry: dict[str, Any] = {
            "t": now,
            "method": method,
            "path": path,
            "query": dict(query),
            "endpoint": endpoint,
            "status": resp.status,
            "hangup": resp.hangup,
            "body": self._scrub(body),
        }
        if resp.headers.get("Content-Type", "").startswith("application/json") and resp.status >= 400:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry["error_code"] = json.loads(resp.body)["error"]["code"]
        self._log.append(entry)
        if self.state_dir is not None:
            with (self.state_dir / "requests.jsonl").open("a") as fh:
                fh.write(json.dumps(entry) + "\n")

    def _scrub(self, body: bytes) -> Any:
        if not body:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return "<non-JSON body>"

        def clean(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: ("***" if k in SECRET_FIELDS else clean(v)) for k, v in obj.items()}
            if isinstance(obj, list):
                return [clean(v) for v in obj]
            if isinstance(obj, str):
                for secret in (self.scenario.api_key, self.scenario.ngc_api_key):
                    obj = obj.replace(secret, "***")
            return obj

        return clean(data)

    # ---- simulator-only endpoints -----------------------------------------------------------

    def _sim_endpoint(self, method: str, rel: str, headers: dict[str, str], body: bytes) -> SimResponse:
        if not self._authorized(headers):
            return _json(
                401,
                _error_body(
                    "global/invalid-api-key",
                    "API key was invalid, expired, or deleted.",
                    "Check your API key or create a new one, then try again.",
                ),
            )
        try:
            if method == "GET" and rel == "/_sim/billing":
                return _ok(self.billing())
            if method == "GET" and rel == "/_sim/requests":
                return _ok(self.requests())
            if method == "GET" and rel == "/_sim/instances":
                return _ok(self.instances_debug())
            if method == "POST" and rel == "/_sim/capacity":
                data = _object(body)
                type_name, region = data.get("instance_type_name"), data.get("region_name")
                count = data.get("count")
                if type_name not in self.scenario.catalog.types:
                    raise _invalid(f"Unknown instance type {type_name!r}.")
                if region not in self.scenario.catalog.regions:
                    raise _invalid(f"Unknown region {region!r}.")
                if count is not None and (not isinstance(count, int) or count < 0):
                    raise _invalid("count must be a non-negative integer or null.")
                self.set_capacity(type_name, region, count)
                return _ok({"instance_type_name": type_name, "region_name": region, "count": count})
        except _ApiError as err:
            return _json(err.status, _error_body(err.code, err.message, err.suggestion))
        return _json(404, _error_body("global/not-found", "The requested resource was not found."))

    # ---- API routing ------------------------------------------------------------------------

    def _route(self, method: str, rel: str, query: dict[str, str], body: bytes, now: float) -> SimResponse:
        parts = rel.strip("/").split("/")
        try:
            handler = self._dispatch(method, parts)
            if handler is None:
                raise _ApiError(404, "global/not-found", "The requested resource was not found.")
            return _ok(handler(parts, query, body, now))
        except _ApiError as err:
            return _json(err.status, _error_body(err.code, err.message, err.suggestion))

    def _dispatch(self, method: str, parts: list[str]) -> Callable[..., Any] | None:
        head, n = parts[0], len(parts)
        table: dict[tuple[str, str, int], Callable[..., Any]] = {
            ("GET", "instances", 1): self._list_instances,
            ("GET", "instances", 2): self._get_instance,
            ("POST", "instances", 2): self._update_instance,
            ("GET", "instance-types", 1): self._list_types,
            ("GET", "regions", 1): self._list_regions,
            ("GET", "images", 1): self._list_images,
            ("GET", "ssh-keys", 1): self._list_ssh_keys,
            ("POST", "ssh-keys", 1): self._add_ssh_key,
            ("DELETE", "ssh-keys", 2): self._delete_ssh_key,
            ("GET", "file-systems", 1): self._list_filesystems,
            ("POST", "filesystems", 1): self._create_filesystem,
            ("DELETE", "filesystems", 2): self._delete_filesystem,
            ("GET", "firewall-rules", 1): self._get_firewall_rules,
            ("PUT", "firewall-rules", 1): self._put_firewall_rules,
            ("GET", "firewall-rulesets", 1): self._list_rulesets,
            ("POST", "firewall-rulesets", 1): self._create_ruleset,
            ("GET", "firewall-rulesets", 2): self._get_ruleset,
            ("PATCH", "firewall-rulesets", 2): self._patch_ruleset,
            ("DELETE", "firewall-rulesets", 2): self._delete_ruleset,
        }
        if head == "instance-operations" and n == 2 and method == "POST":
            return {
                "launch": self._launch,
                "terminate": self._terminate,
                "restart": self._restart,
            }.get(parts[1])
        return table.get((method, head, n))

    # ---- instances --------------------------------------------------------------------------

    def _visible(self, inst: _Instance, now: float) -> bool:
        return not inst.removed and now >= inst.visible_at

    def _instance_json(self, inst: _Instance) -> dict[str, Any]:
        region = self.scenario.catalog.regions.get(inst.region)
        type_json = inst.type.api_json()
        type_json["price_cents_per_hour"] = inst.price_cents_per_hour
        data: dict[str, Any] = {
            "id": inst.id,
            "status": inst.status,
            "ssh_key_names": [inst.ssh_key_name],
            "file_system_names": list(inst.file_system_names),
            "file_system_mounts": [{**m, "mount_point": self._mounted_at(m)} for m in inst.file_system_mounts],
            "region": region.api_json() if region else {"name": inst.region, "description": inst.region},
            "instance_type": type_json,
            "is_reserved": False,
            "actions": _actions(inst.status, refuse_terminate=self._refuses_terminate([inst])),
            "tags": [dict(t) for t in inst.tags],
            "firewall_rulesets": [{"id": r} for r in inst.firewall_rulesets],
        }
        if inst.name is not None:
            data["name"] = inst.name
        if inst.ip is not None and inst.status in ("active", "unhealthy", "terminating"):
            data["ip"] = inst.ip
            data["hostname"] = inst.hostname or inst.ip.replace(".", "-")
            data["jupyter_token"] = inst.jupyter_token
            data["jupyter_url"] = f"https://jupyter-{inst.id}.lambdaspaces.com/?token={inst.jupyter_token}"
            if inst.private_ip is not None:
                data["private_ip"] = inst.private_ip
        if self.scenario.extra_fields:
            # real responses grow fields without a version bump; strict parsers must cope
            data["workspace_id"] = "ws-" + inst.id[:12]
            data["sim_unknown_field"] = {"note": "added by the simulator to test lenient parsing"}
        return data

    def _find(self, instance_id: str, now: float, *, hidden_ok: bool = False) -> _Instance:
        if not HEX32.match(instance_id):
            raise _invalid(
                f"Invalid instance ID {instance_id!r}: expected a 32-character hex ID.",
                "Pass the instance ID, not its name.",
            )
        inst = self._instances.get(instance_id)
        if inst is None or inst.removed or (not hidden_ok and now < inst.visible_at) or _in(inst.failover_window, now):
            raise _instance_not_found()
        return inst

    def _list_instances(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        if query.get("cluster_id"):
            return []  # the simulator has no clusters
        out = []
        for inst in self._instances.values():
            if not self._visible(inst, now):
                continue
            if _in(inst.missing_window, now) or _in(inst.failover_window, now):
                continue
            out.append(self._instance_json(inst))
        return out

    def _get_instance(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return self._instance_json(self._find(parts[1], now))

    def _update_instance(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        inst = self._find(parts[1], now)
        data = _object(body)
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str) or len(name) > 64:
                raise _invalid("name must be a string of at most 64 characters.")
            inst.name = name
        return self._instance_json(inst)

    def _launch(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        data = _object(body)
        catalog = self.scenario.catalog
        for key in ("region_name", "instance_type_name", "ssh_key_names"):
            if key not in data:
                raise _invalid(f"Missing required field {key!r}.")
        quantity = data.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _invalid("quantity must be a positive integer.")
        if quantity > 1:
            raise _invalid("Requested too many instances.", "Launch one instance per request.")
        region, type_name = data["region_name"], data["instance_type_name"]
        if not isinstance(region, str) or region not in catalog.regions:
            raise _invalid(f"Invalid region {region!r}.", "List regions with GET /regions.")
        if not isinstance(type_name, str) or type_name not in catalog.types:
            raise _invalid(
                f"Invalid instance type {type_name!r}.",
                "List instance types with GET /instance-types.",
            )
        sim_type = catalog.types[type_name]
        keys = data["ssh_key_names"]
        if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], str):
            raise _invalid("Exactly one SSH key name must be specified in ssh_key_names.")
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 64):
            raise _invalid("name must be a string of at most 64 characters.")
        hostname = data.get("hostname")
        if hostname is not None and (not isinstance(hostname, str) or not HOSTNAME.match(hostname)):
            raise _invalid("hostname must match ^[a-z0-9][0-9a-z-]{0,62}$.")
        tags = self._validate_tags(data.get("tags", []))
        user_data = data.get("user_data")
        if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > USER_DATA_LIMIT):
            raise _invalid("user_data must be plain text of at most 1 MB.")
        image = self._validate_image(data.get("image"), sim_type)
        ssh_key = next((k for k in self._ssh_keys.values() if k["name"] == keys[0]), None)
        if ssh_key is None:
            raise _ApiError(
                404,
                "global/object-does-not-exist",
                f"SSH key {keys[0]!r} does not exist.",
                "Add the key with POST /ssh-keys or check its name.",
            )
        fs_names, fs_mounts = self._validate_filesystems(data, region)
        rulesets = self._validate_rulesets(data.get("firewall_rulesets", []), region)
        if self.scenario.quota is not None:
            live = sum(1 for i in self._instances.values() if i.status in ("booting", "active", "unhealthy"))
            if live >= self.scenario.quota:
                raise _ApiError(
                    400,
                    "global/quota-exceeded",
                    "Quota exceeded.",
                    "Contact Support to increase your quota.",
                )
        if self._available(type_name, region, now) <= 0:
            raise _ApiError(
                400,
                "instance-operations/launch/insufficient-capacity",
                "Not enough capacity to fulfill launch request.",
                "Try a different region or instance type.",
            )
        args = (sim_type, region, ssh_key, name, hostname, tags, fs_names, fs_mounts, rulesets, now, image)
        first = self._create(*args)
        ids = [first.id]
        twin = next(
            (
                f
                for f in self.scenario.instance_faults
                if f.kind == "twin" and f.matches(sim_type.name, first.nth, name or "")
            ),
            None,
        )
        if twin is not None:
            # one launch, two instances under the same name (the spec's
            # `instance_ids` is a list; whether the service ever creates two is unconfirmed).
            # answer "both" names the second id; "one" hides it: only the name tells
            second = self._create(*args, count_nth=False)
            if twin.params.get("answer", "both") == "both":
                ids.append(second.id)
        return {"instance_ids": ids}

    def _create(
        self,
        sim_type: SimType,
        region: str,
        key: dict[str, Any],
        name: str | None,
        hostname: str | None,
        tags: list[dict[str, str]],
        fs_names: list[str],
        fs_mounts: list[dict[str, str]],
        rulesets: list[str],
        now: float,
        image: SimImage | None,
        count_nth: bool = True,
    ) -> _Instance:
        nth = self._launch_counts.get(sim_type.name, 0) + (1 if count_nth else 0)
        self._launch_counts[sim_type.name] = nth
        lo, hi = sim_type.boot_seconds
        boot = self._rng.uniform(lo, hi)
        instance_id = _new_id()
        inst = _Instance(
            id=instance_id,
            name=name,
            type=sim_type,
            price_cents_per_hour=sim_type.price_cents_per_hour,
            region=region,
            ssh_key_name=key["name"],
            public_key=key["public_key"],
            hostname=hostname,
            tags=tags,
            file_system_names=fs_names,
            file_system_mounts=fs_mounts,
            firewall_rulesets=rulesets,
            nth=nth,
            launched_at=now,
            visible_at=now + self._real(self.scenario.visibility_delay),
            boot_end_at=now + self._real(boot),
            jupyter_token=f"{self._rng.getrandbits(128):032x}",
            image=image,
        )
        for fault in self.scenario.instance_faults:
            if not count_nth or not fault.matches(sim_type.name, nth, name or ""):
                continue  # a twin carries no faults of its own
            if fault.kind == "unhealthy":
                inst.unhealthy = True
            elif fault.kind == "never_active":
                inst.never_active = True
            elif fault.kind == "failover":
                # a control-plane failover: the instance vanishes from everything (list, GET, terminate
                # all 404) and comes back, still running (dstack #2342/#2353 saw
                # instances vanish and return). A model of the reports: unconfirmed on the live service
                start = fault.params.get("start")
                begin = now + self._real(start) if start is not None else inst.boot_end_at
                seconds = fault.params.get("seconds")
                inst.failover_window = (begin, math.inf if seconds is None else begin + self._real(seconds))
            elif fault.kind == "alert":
                # `start`: seconds after launch (even while booting); else `after` seconds past boot end
                start = fault.params.get("start")
                inst.alert_at = (
                    now + self._real(start)
                    if start is not None
                    else inst.boot_end_at + self._real(fault.params.get("after") or 0.0)
                )
            elif fault.kind == "missing_from_list":
                start = fault.params.get("start")
                begin = now + self._real(start) if start is not None else inst.boot_end_at
                seconds = fault.params.get("seconds")
                end = math.inf if seconds is None else begin + self._real(seconds)
                inst.missing_window = (begin, end)
            elif fault.kind in HOST_FAULT_KINDS:
                params = dict(fault.params)
                for k in HOST_FAULT_DURATIONS:
                    if params.get(k) is not None:
                        params[k] = self._real(params[k])
                inst.host_faults[fault.kind] = params
        self._instances[instance_id] = inst
        for rid in rulesets:
            self._rulesets[rid]["instance_ids"].append(instance_id)
        return inst

    def _validate_tags(self, tags: Any) -> list[dict[str, str]]:
        if not isinstance(tags, list):
            raise _invalid("tags must be a list of {key, value} objects.")
        out = []
        for tag in tags:
            if (
                not isinstance(tag, dict)
                or not isinstance(tag.get("key"), str)
                or not isinstance(tag.get("value"), str)
            ):
                raise _invalid("Each tag needs a string key and a string value.")
            if not TAG_KEY.match(tag["key"]) or len(tag["key"]) > 55:
                raise _invalid(f"Invalid tag key {tag['key']!r}: keys must match ^[a-z][a-z0-9-:]+$.")
            if len(tag["value"]) > 128:
                raise _invalid("Tag values must be at most 128 characters.")
            out.append({"key": tag["key"], "value": tag["value"]})
        return out

    def _validate_image(self, image: Any, sim_type: SimType) -> SimImage | None:
        """The image the instance boots: the one asked for (by family or id) for the type's architecture, else
        Lambda's default, the latest Lambda Stack (FIELD-NOTES "Machines")."""
        catalog = self.scenario.catalog.images
        if image is None:
            default = [i for i in catalog if i.family == DEFAULT_IMAGE_FAMILY and i.architecture == sim_type.arch]
            return default[0] if default else None
        if not isinstance(image, dict) or not (("family" in image) ^ ("id" in image)):
            raise _invalid('image must be {"family": ...} or {"id": ...}.')
        if "family" in image:
            match = [i for i in catalog if i.family == image["family"]]
        else:
            regions = self.scenario.catalog.regions
            match = [i for i in catalog if any(_image_id(i, r) == image["id"] for r in regions)]
        if not match:
            raise _ApiError(
                404,
                "global/object-does-not-exist",
                "Image does not exist.",
                "List images with GET /images.",
            )
        for img in match:
            if img.architecture == sim_type.arch:
                return img
        raise _invalid(f"Image architecture does not match instance type {sim_type.name} ({sim_type.arch}).")

    def _validate_filesystems(self, data: dict[str, Any], region: str) -> tuple[list[str], list[dict[str, str]]]:
        names = data.get("file_system_names", [])
        mounts = data.get("file_system_mounts", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _invalid("file_system_names must be a list of names.")
        if not isinstance(mounts, list):
            raise _invalid("file_system_mounts must be a list.")
        by_name = {f["name"]: f for f in self._filesystems.values()}
        chosen: dict[str, str] = {}
        for fs_name in names:
            fs = by_name.get(fs_name)
            if fs is None:
                raise _ApiError(
                    404,
                    "global/object-does-not-exist",
                    f"Filesystem {fs_name!r} does not exist.",
                    "Create it with POST /filesystems.",
                )
            chosen[fs["id"]] = f"/lambda/nfs/{fs_name}"
        for m in mounts:
            if (
                not isinstance(m, dict)
                or not isinstance(m.get("file_system_id"), str)
                or not isinstance(m.get("mount_point"), str)
                or not MOUNT_POINT.match(m["mount_point"])
            ):
                raise _invalid("Invalid file_system_mounts entry.")
            if m["file_system_id"] not in self._filesystems:
                raise _ApiError(
                    404,
                    "global/object-does-not-exist",
                    "Filesystem does not exist.",
                    "Check the filesystem ID.",
                )
            chosen[m["file_system_id"]] = m["mount_point"]
        for fs_id in chosen:
            if self._filesystems[fs_id]["region"] != region:
                raise _ApiError(
                    400,
                    "instance-operations/launch/file-system-in-wrong-region",
                    "Filesystem is in a different region than the instance.",
                    "Launch in the filesystem's region.",
                )
        fs_names = [self._filesystems[i]["name"] for i in chosen]
        return fs_names, [{"mount_point": mp, "file_system_id": i} for i, mp in chosen.items()]

    def _validate_rulesets(self, entries: Any, region: str) -> list[str]:
        if not isinstance(entries, list):
            raise _invalid("firewall_rulesets must be a list of {id} objects.")
        out = []
        for e in entries:
            if not isinstance(e, dict) or not isinstance(e.get("id"), str):
                raise _invalid("firewall_rulesets entries need an id.")
            rs = self._rulesets.get(e["id"])
            if rs is None:
                raise _ApiError(
                    404,
                    "global/object-does-not-exist",
                    "Firewall ruleset does not exist.",
                    "Check the ruleset ID.",
                )
            if rs["region"] != region:
                raise _invalid("Firewall ruleset is in a different region than the instance.")
            out.append(e["id"])
        return out

    def _ids(self, body: bytes) -> list[str]:
        data = _object(body)
        ids = data.get("instance_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise _invalid("instance_ids must be a non-empty list of instance IDs.")
        return ids

    def _terminate(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        # by default the control plane knows a new id before listings show it; `hidden_terminate:
        # not_found` makes terminate 404 for it like GET /instances/{id} does (undocumented: a guess)
        hidden_ok = self.scenario.hidden_terminate == "accept"
        found = [self._find(i, now, hidden_ok=hidden_ok) for i in self._ids(body)]
        if any(inst.status in ("terminating", "terminated") for inst in found):
            # what SkyPilot saw (PR #3410): not a tidy "already terminating" error
            raise _ApiError(500, "global/unknown", "An unknown error occurred.")
        if self._refuses_terminate(found):
            # spec: actions.terminate {available: false, reason_code: vm-has-not-launched}; the error a
            # refused terminate gets is undocumented (the spec lists a 400 for this operation): a guess
            raise _invalid(
                "Instance has not launched yet and cannot be terminated.",
                "Wait until the instance has launched, then try again.",
            )
        for inst in found:
            inst.status = "terminating"
            inst.terminate_called_at = now
            for rid in inst.firewall_rulesets:
                rs = self._rulesets.get(rid)
                if rs is not None and inst.id in rs["instance_ids"]:
                    rs["instance_ids"].remove(inst.id)
        self._persist_billing()
        return {"terminated_instances": [self._instance_json(i) for i in found]}

    def _refuses_terminate(self, found: list[_Instance]) -> bool:
        return self.scenario.terminate_while_booting == "refuse" and any(i.status == "booting" for i in found)

    def _restart(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        found = [self._find(i, now) for i in self._ids(body)]
        for inst in found:
            if inst.status != "active":
                raise _ApiError(
                    409,
                    "global/conflict",
                    f"Instance {inst.id} is {inst.status} and cannot be restarted.",
                )
        return {"restarted_instances": [self._instance_json(i) for i in found]}

    # ---- catalog ----------------------------------------------------------------------------

    def _list_types(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        catalog = self.scenario.catalog
        out: dict[str, Any] = {}
        for t in catalog.types.values():
            regions = [r.api_json() for r in catalog.regions.values() if self._available(t.name, r.name, now) > 0]
            out[t.name] = {
                "instance_type": t.api_json(),
                "regions_with_capacity_available": regions,
            }
        return out

    def _list_regions(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return [r.api_json() for r in self.scenario.catalog.regions.values()]

    def _images_json(self) -> list[dict[str, Any]]:
        out = []
        for region in self.scenario.catalog.regions.values():
            for img in self.scenario.catalog.images:
                out.append(
                    {
                        "id": _image_id(img, region.name),
                        "created_time": img.created_time,
                        "updated_time": img.updated_time,
                        "name": img.name,
                        "description": img.description,
                        "family": img.family,
                        "version": img.version,
                        "architecture": img.architecture,
                        "region": region.api_json(),
                    }
                )
        return out

    def _list_images(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return self._images_json()

    # ---- SSH keys ---------------------------------------------------------------------------

    def _key_json(self, key: dict[str, Any]) -> dict[str, Any]:
        data = {"id": key["id"], "name": key["name"], "public_key": key["public_key"]}
        if self.scenario.extra_fields:
            data["workspace_id"] = "ws-" + key["id"][:12]
        return data

    def _list_ssh_keys(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return [self._key_json(k) for k in self._ssh_keys.values()]

    def _add_ssh_key(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        data = _object(body)
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise _invalid("name must be a string of 1 to 64 characters.")
        if any(k["name"] == name for k in self._ssh_keys.values()):
            # the spec allows only invalid-parameters here (global/duplicate is for filesystems)
            raise _invalid(
                f"An SSH key named {name!r} already exists.",
                "Choose another name or delete the existing key.",
            )
        public_key = data.get("public_key")
        private_key = None
        if public_key is None:
            public_key, private_key = _generate_keypair(name)
        elif (
            not isinstance(public_key, str)
            or not 1 <= len(public_key) <= 4096
            or not _looks_like_public_key(public_key)
        ):
            raise _invalid("public_key is not a valid OpenSSH public key.")
        key = {
            "id": _new_id(),
            "name": name,
            "public_key": public_key.strip(),
        }
        self._ssh_keys[key["id"]] = key
        out = self._key_json(key)
        if private_key is not None:
            out["private_key"] = private_key
        return out

    def _delete_ssh_key(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        key_id = parts[1]
        if not HEX32.match(key_id):
            raise _invalid(f"Invalid SSH key ID {key_id!r}.", "Pass the key's ID, not its name.")
        if self._ssh_keys.pop(key_id, None) is None:
            raise _ApiError(404, "global/not-found", "SSH key was not found.")
        return {}

    # ---- filesystems ------------------------------------------------------------------------
    # A filesystem's files live in a folder of the simulator's state (the hosts' own folder), kept
    # across instances until the filesystem is deleted, as Lambda's persistent storage is (FIELD-NOTES
    # "Machines": mounted at /lambda/nfs/<name>, attached only at launch, same region only). Stand-in:
    # the simulated hosts share this machine's root, where /lambda/nfs cannot be made per host, so an
    # instance's file_system_mounts report the folder itself as the mount point (the spec: "the actual
    # mount point is in the instance response", Filesystem.mount_point); an instance sees it only
    # because it was launched with it. API-only (no hosts): the documented /lambda/nfs/<name>.

    def _fs_dir(self, fs_id: str) -> Path | None:
        root = getattr(self.hosts, "state_dir", None)
        return Path(root) / "filesystems" / fs_id if root is not None else None

    def _mounted_at(self, mount: dict[str, str]) -> str:
        folder = self._fs_dir(mount["file_system_id"])
        return str(folder) if folder is not None and folder.is_dir() else mount["mount_point"]

    def _fs_bytes(self, fs_id: str) -> int:
        """bytes_used: the spec's estimate is updated every few hours; the simulator counts at once."""
        folder = self._fs_dir(fs_id)
        if folder is None or not folder.is_dir():
            return 0
        total = 0
        for path in folder.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
        return total

    def filesystem_dir(self, name: str) -> Path | None:
        """Tests and benches: the folder behind a filesystem (to plant a stale or corrupt cache)."""
        with self._lock:
            for fs in self._filesystems.values():
                if fs["name"] == name:
                    return self._fs_dir(fs["id"])
        return None

    def _fs_json(self, fs: dict[str, Any]) -> dict[str, Any]:
        in_use = any(fs["name"] in i.file_system_names and i.status in LIVE for i in self._instances.values())
        return {
            "id": fs["id"],
            "name": fs["name"],
            "mount_point": f"/lambda/nfs/{fs['name']}",
            "created": fs["created"],
            "created_by": {
                "id": "0" * 31 + "1",
                "email": "sim@lambdabench.invalid",
                "status": "active",
            },
            "is_in_use": in_use,
            "region": self.scenario.catalog.regions[fs["region"]].api_json(),
            "bytes_used": self._fs_bytes(fs["id"]),
        }

    def _list_filesystems(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return [self._fs_json(f) for f in self._filesystems.values()]

    def _create_filesystem(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        data = _object(body)
        name, region = data.get("name"), data.get("region")
        if not isinstance(name, str) or not 1 <= len(name) <= 60 or not FS_NAME.match(name):
            raise _invalid("name must match ^[a-zA-Z]+[0-9a-zA-Z-]*$ (at most 60 characters).")
        if not isinstance(region, str) or region not in self.scenario.catalog.regions:
            raise _invalid(f"Invalid region {region!r}.")
        if any(f["name"] == name for f in self._filesystems.values()):
            raise _ApiError(400, "global/duplicate", f"A filesystem named {name!r} already exists.")
        fs = {
            "id": _new_id(),
            "name": name,
            "region": region,
            "created": _iso(now),
        }
        self._filesystems[fs["id"]] = fs
        folder = self._fs_dir(fs["id"])
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        return self._fs_json(fs)

    def _delete_filesystem(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        fs_id = parts[1]
        if not HEX32.match(fs_id):
            raise _invalid(f"Invalid filesystem ID {fs_id!r}.", "Pass the filesystem's ID.")
        fs = self._filesystems.get(fs_id)
        if fs is None:
            raise _ApiError(404, "global/object-does-not-exist", "Filesystem was not found.")
        if self._fs_json(fs)["is_in_use"]:
            raise _ApiError(
                400,
                "filesystems/filesystem-in-use",
                "Filesystem is in use.",
                "Terminate the instances using it first.",
            )
        del self._filesystems[fs_id]
        folder = self._fs_dir(fs_id)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return {"deleted_ids": [fs_id]}

    # ---- firewall ---------------------------------------------------------------------------

    def _get_firewall_rules(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return [dict(r) for r in self._global_rules]

    def _put_firewall_rules(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        data = _object(body)
        self._global_rules = _validate_rules(data.get("data"))
        return [dict(r) for r in self._global_rules]

    def _ruleset_json(self, rs: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": rs["id"],
            "name": rs["name"],
            "region": self.scenario.catalog.regions[rs["region"]].api_json(),
            "rules": [dict(r) for r in rs["rules"]],
            "created": rs["created"],
            "instance_ids": list(rs["instance_ids"]),
        }

    def _global_ruleset_json(self) -> dict[str, Any]:
        return {"id": "global", "name": "Global", "rules": [dict(r) for r in self._global_rules]}

    def _list_rulesets(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        return [self._ruleset_json(r) for r in self._rulesets.values()]

    def _create_ruleset(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        data = _object(body)
        name, region = data.get("name"), data.get("region")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise _invalid("name must be a string of 1 to 64 characters.")
        if not isinstance(region, str) or region not in self.scenario.catalog.regions:
            raise _invalid(f"Invalid region {region!r}.")
        rs: dict[str, Any] = {
            "id": _new_id(),
            "name": name,
            "region": region,
            "rules": _validate_rules(data.get("rules")),
            "created": _iso(now),
            "instance_ids": [],
        }
        self._rulesets[rs["id"]] = rs
        return self._ruleset_json(rs)

    def _ruleset(self, ruleset_id: str) -> dict[str, Any]:
        rs = self._rulesets.get(ruleset_id)
        if rs is None:
            raise _ApiError(
                404,
                "global/object-does-not-exist",
                "Firewall ruleset does not exist or you do not have permission to access it.",
                "Check your firewall ruleset ID and try again.",
            )
        return rs

    def _get_ruleset(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        if parts[1] == "global":
            return self._global_ruleset_json()
        return self._ruleset_json(self._ruleset(parts[1]))

    def _patch_ruleset(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        data = _object(body)
        if parts[1] == "global":
            if "rules" in data:
                self._global_rules = _validate_rules(data["rules"])
            return self._global_ruleset_json()
        rs = self._ruleset(parts[1])
        if "name" in data:
            if not isinstance(data["name"], str) or not 1 <= len(data["name"]) <= 64:
                raise _invalid("name must be a string of 1 to 64 characters.")
            rs["name"] = data["name"]
        if "rules" in data:
            rs["rules"] = _validate_rules(data["rules"])
        return self._ruleset_json(rs)

    def _delete_ruleset(self, parts: list[str], query: dict[str, str], body: bytes, now: float) -> Any:
        if parts[1] == "global":
            raise _invalid("The global ruleset cannot be deleted.")
        rs = self._ruleset(parts[1])
        if rs["instance_ids"]:
            raise _ApiError(
                400,
                "firewall-rulesets/firewall-ruleset-in-use",
                "Firewall ruleset is in use by one or more instances.",
                "Terminate all instances that are using the ruleset before deleting it.",
            )
        del self._rulesets[rs["id"]]
        return {}


# ---- helpers ----------------------------------------------------------------------------------

_GATEWAY_TIMEOUT = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>cloudflare"
    b"</center>\r\n</body>\r\n</html>\r\n"
)
_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>"
    b"\r\n</body>\r\n</html>\r\n"
)


def _endpoint_name(method: str, rel: str) -> str:
    parts = rel.strip("/").split("/")
    head = parts[0]
    if head == "instance-operations" and len(parts) == 2:
        return parts[1]
    if head == "instances":
        return "list" if len(parts) == 1 else "get"
    return {
        "instance-types": "types",
        "regions": "regions",
        "images": "images",
        "ssh-keys": "ssh-keys",
        "file-systems": "file-systems",
        "filesystems": "file-systems",
        "firewall-rules": "firewall",
        "firewall-rulesets": "firewall",
    }.get(head, "other")


def _error_body(code: str, message: str, suggestion: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        err["suggestion"] = suggestion
    return {"error": err}


def _json(status: int, payload: Any) -> SimResponse:
    return SimResponse(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


def _ok(data: Any) -> SimResponse:
    return _json(200, {"data": data})


def _html(status: int, body: bytes) -> SimResponse:
    return SimResponse(status, {"Content-Type": "text/html; charset=UTF-8", "Server": "cloudflare"}, body)


def _hangup() -> SimResponse:
    return SimResponse(0, {}, b"", hangup=True)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise _invalid("Invalid request data: body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise _invalid("Invalid request data: expected a JSON object.")
    return data


_NON_PUBLIC = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _in(window: tuple[float, float] | None, now: float) -> bool:
    return window is not None and window[0] <= now < window[1]


def _actions(status: str, *, refuse_terminate: bool = False) -> dict[str, Any]:
    def no(code: str, why: str) -> dict[str, Any]:
        return {"available": False, "reason_code": code, "reason_description": why}

    yes = {"available": True}
    names = ("migrate", "rebuild", "restart", "cold_reboot")
    if status == "active":
        return {n: dict(yes) for n in (*names, "terminate")}
    if status in ("terminating", "terminated", "preempted"):
        return {n: no("vm-is-terminating", "The instance is terminating.") for n in (*names, "terminate")}
    out = {n: no("vm-has-not-launched", "The instance has not launched yet.") for n in names}
    out["terminate"] = (
        no("vm-has-not-launched", "The instance has not launched yet.") if refuse_terminate else dict(yes)
    )
    return out


def _validate_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise _invalid("rules must be a list of firewall rules.")
    out = []
    for rule in rules:
        if not isinstance(rule, dict):
            raise _invalid("Each firewall rule must be an object.")
        protocol = rule.get("protocol")
        if protocol not in ("tcp", "udp", "icmp", "all"):
            raise _invalid("protocol must be one of tcp, udp, icmp, all.")
        description = rule.get("description")
        if not isinstance(description, str) or len(description) > 128:
            raise _invalid("description must be a string of at most 128 characters.")
        source = rule.get("source_network")
        try:
            net = ipaddress.IPv4Network(source, strict=False) if isinstance(source, str) else None
        except ValueError:
            net = None
        if net is None:
            raise _invalid(f"source_network {source!r} is not an IPv4 CIDR block.")
        if any(net.subnet_of(private) for private in _NON_PUBLIC):  # 0.0.0.0/0 spans them: allowed
            # the spec's FirewallRule.source_network: "a public IPv4 address optionally followed by a
            # slash and an integer mask". Whether the service refuses private ranges is unconfirmed on
            # the live service; modelled as refused, so a client that names private IPs is seen. (The
            # simulator's own instance addresses, 127.0.0.x, stand for public ones.)
            raise _invalid(
                f"source_network {source!r} is not a public IPv4 range.",
                "Name the public IPv4 address of the source, or 0.0.0.0/0.",
            )
        clean: dict[str, Any] = {
            "protocol": protocol,
            "source_network": str(net),
            "description": description,
        }
        ports = rule.get("port_range")
        if protocol == "icmp":
            if ports is not None:
                raise _invalid("port_range is not allowed for icmp.")
        elif protocol in ("tcp", "udp") or ports is not None:
            if (
                not isinstance(ports, list)
                or len(ports) != 2
                or not all(isinstance(p, int) and 1 <= p <= 65535 for p in ports)
                or ports[0] > ports[1]
            ):
                raise _invalid("port_range must be [min, max] with ports 1-65535.")
            clean["port_range"] = list(ports)
        out.append(clean)
    return out


def _looks_like_public_key(text: str) -> bool:
    parts = text.strip().split()
    if len(parts) < 2 or not (
        parts[0].startswith("ssh-") or parts[0].startswith("ecdsa-") or parts[0].startswith("sk-")
    ):
        return False
    try:
        base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        return False
    return True


def _generate_keypair(comment: str) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{public} {comment}", private
