"""Scenario files: the data that drives the simulated cloud (capacity, limits, timings, faults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lambdabench.errors import SimulatorError
from lambdabench.sim.api.catalog import DEFAULT_CAPACITY, Catalog, SimRegion, SimType

DEFAULT_API_KEY = "sim-5e1f0c3a9d2b4c7e8f60a1b2c3d4e5f6"
DEFAULT_NGC_API_KEY = "nvapi-sim-0f9e8d7c6b5a49382716a5b4c3d2e1f0"

API_ENDPOINTS = (
    "launch",
    "terminate",
    "restart",
    "list",
    "get",
    "types",
    "regions",
    "images",
    "ssh-keys",
    "file-systems",
    "firewall",
    "any",
)
API_FAULT_KINDS = (
    "http_429",
    "http_5xx",
    "transport_timeout",
    "lost_response",
    "slow_response",
    "insufficient_capacity",
    "quota_exceeded",
    "global_unknown",
    "invalid_api_key",
)
INSTANCE_FAULT_KINDS = (
    "unhealthy",
    "never_active",
    "sshd_late",
    "ssh_drop",
    "cuda_802",
    "disk_full",
    "slow_disk",
    "power_limit",
    "missing_from_list",
    "failover",
    "twin",
    "alert",
)
# Faults that live on the machine, not in the API: handed to the host backend at start.
HOST_FAULT_KINDS = ("sshd_late", "ssh_drop", "cuda_802", "disk_full", "slow_disk", "power_limit")
# Parameters of host faults that are durations (cloud seconds, scaled before they reach a host).
HOST_FAULT_DURATIONS = ("seconds", "after")

_TOP_KEYS = {
    "name",
    "description",
    "seed",
    "api_key",
    "ngc_api_key",
    "regions",
    "types",
    "capacity",
    "quota",
    "boot_seconds",
    "visibility_delay",
    "hidden_terminate",
    "terminate_while_booting",
    "terminate_seconds",
    "linger_seconds",
    "missing_private_ip",
    "extra_fields",
    "rate_limits",
    "transport_timeout_seconds",
    "faults",
    "instance_faults",
}


@dataclass
class RateLimits:
    """Lambda's published limits: ~1 request/s overall, 1 launch per 12 s, then a lock-out."""

    enabled: bool = True
    request_interval: float = 1.0
    burst: int = 2
    launch_interval: float = 12.0
    launch_tolerance: float = 0.05
    lockout_seconds: float = 60.0
    retry_after: bool = True


@dataclass
class ApiFault:
    """A fault on API requests: which endpoint, what goes wrong, how often."""

    endpoint: str
    kind: str
    count: int | None = 1
    after: int = 0
    probability: float = 1.0
    status: int | None = None
    seconds: float | None = None
    mode: str | None = None


@dataclass
class InstanceFault:
    """A fault on one launched instance, chosen by type, launch order or name."""

    kind: str
    type: str | None = None
    nth: int | None = None
    name_contains: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, type_name: str, nth: int, name: str) -> bool:
        """Whether this fault applies to the nth launch (1-based) of type_name called name."""
        if self.type is not None and self.type != type_name:
            return False
        if self.nth is not None and self.nth != nth:
            return False
        return not (self.name_contains is not None and self.name_contains not in name)


@dataclass
class Scenario:
    """Everything a simulated cloud needs to know; all durations are cloud seconds."""

    name: str = "default"
    description: str = ""
    seed: int = 0
    api_key: str = DEFAULT_API_KEY
    ngc_api_key: str = DEFAULT_NGC_API_KEY
    catalog: Catalog = field(default_factory=Catalog)
    # (type, region) -> [(at_cloud_seconds, count)], sorted by time
    capacity: dict[tuple[str, str], list[tuple[float, int]]] = field(default_factory=dict)
    quota: int | None = None
    visibility_delay: float = 3.0
    # what terminate answers for an id still invisible after launch: "accept" (the control plane
    # knows the id) or "not_found" (a 404 as GET /instances/{id} gives, FIELD-NOTES "Launch").
    # Which one real Lambda does is undocumented: a guess either way, so the suite runs both.
    hidden_terminate: str = "accept"
    # what terminate answers for a `booting` instance: "accept", or "refuse" — the spec's
    # Instance.actions.terminate may be {available: false, reason_code: vm-has-not-launched}
    # (InstanceActionUnavailableCode); unconfirmed on the live service, so the suite runs both
    terminate_while_booting: str = "accept"
    terminate_seconds: float = 8.0
    linger_seconds: float = 300.0
    missing_private_ip: float = 0.0
    extra_fields: bool = True
    rate_limits: RateLimits = field(default_factory=RateLimits)
    transport_timeout_seconds: float = 75.0
    faults: list[ApiFault] = field(default_factory=list)
    instance_faults: list[InstanceFault] = field(default_factory=list)
    source: str = "<built-in>"

    def __post_init__(self) -> None:
        if not self.capacity:
            self.capacity = _default_capacity(self.catalog)

    @classmethod
    def load(cls, path: Path | str) -> Scenario:
        """Read a YAML scenario file, or a packaged one by name; SimulatorError names the file and the problem."""
        import yaml

        path = Path(path)
        # a bare name with no such file here: the packaged scenario (an installed wheel has no source tree)
        if not path.exists() and len(path.parts) == 1 and path.name.removesuffix(".yaml") in packaged_names():
            return cls.packaged(path.name.removesuffix(".yaml"))
        try:
            text = path.read_text()
        except OSError as exc:
            raise SimulatorError(
                f"cannot read scenario {path}: {exc.strerror or exc}",
                f"Give a scenario file, or a packaged scenario's name: {', '.join(packaged_names())}.",
            ) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise SimulatorError(f"scenario {path}{where} is not valid YAML", "fix the YAML syntax") from exc
        if data is None:
            data = {}
        if isinstance(data, dict):
            data.setdefault("name", path.stem)
        return cls.from_dict(data, source=str(path))

    @classmethod
    def packaged(cls, name: str) -> Scenario:
        """Load one of the example scenarios shipped in lambdabench/sim/api/scenarios/."""
        ref = resources.files("lambdabench.sim.api").joinpath("scenarios", f"{name}.yaml")
        with resources.as_file(ref) as path:
            if not path.exists():
                raise SimulatorError(
                    f"no packaged scenario named {name!r}",
                    f"choose one of: {', '.join(packaged_names())}",
                )
            return cls.load(path)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> Scenario:
        """Build a scenario from parsed YAML; SimulatorError on any unknown key or bad value."""
        return _Parser(source).scenario(data)


def packaged_names() -> list[str]:
    """Names of the example scenarios that ship with the package."""
    folder = resources.files("lambdabench.sim.api").joinpath("scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _default_capacity(catalog: Catalog) -> dict[tuple[str, str], list[tuple[float, int]]]:
    out: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for type_name, per_region in DEFAULT_CAPACITY.items():
        if type_name not in catalog.types:
            continue
        for region, count in per_region.items():
            if region in catalog.regions:
                out[(type_name, region)] = [(0.0, count)]
    return out


class _Parser:
    """Turns a parsed YAML document into a Scenario, naming the file in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> SimulatorError:
        return SimulatorError(f"scenario {self.source}: {problem}", "see docs/scenarios.md for the schema")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where} must be a mapping")
        return value

    def number(self, value: Any, where: str, *, minimum: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{where} must be a number, got {value!r}")
        if value < minimum:
            raise self.fail(f"{where} must be >= {minimum}, got {value!r}")
        return float(value)

    def integer(self, value: Any, where: str, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where} must be an integer, got {value!r}")
        if value < minimum:
            raise self.fail(f"{where} must be >= {minimum}, got {value!r}")
        return value

    def probability(self, value: Any, where: str) -> float:
        p = self.number(value, where)
        if p > 1.0:
            raise self.fail(f"{where} must be between 0 and 1, got {value!r}")
        return p

    def boot_range(self, value: Any, where: str) -> tuple[float, float]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            v = self.number(value, where)
            return (v, v)
        if isinstance(value, list) and len(value) == 2:
            lo = self.number(value[0], f"{where}[0]")
            hi = self.number(value[1], f"{where}[1]")
            if hi < lo:
                raise self.fail(f"{where} must be [low, high] with low <= high")
            return (lo, hi)
        raise self.fail(f"{where} must be seconds or [low, high], got {value!r}")

    def scenario(self, data: Any) -> Scenario:
        data = self.mapping(data, "the document")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise self.fail(f"unknown key(s) {', '.join(unknown)}")
        sc = Scenario(source=self.source)
        if "name" in data:
            sc.name = str(data["name"])
        if "description" in data:
            sc.description = str(data["description"])
        if "seed" in data:
            sc.seed = self.integer(data["seed"], "seed")
        for key in ("api_key", "ngc_api_key"):
            if key in data:
                value = data[key]
                if not isinstance(value, str) or len(value) < 8:
                    raise self.fail(f"{key} must be a string of at least 8 characters")
                setattr(sc, key, value)
        catalog = Catalog()
        if "regions" in data:
            catalog.regions = self.regions(data["regions"])
        if "types" in data:
            catalog.types = self.types(data["types"], catalog.types)
        if "boot_seconds" in data:
            for type_name, rng in self.mapping(data["boot_seconds"], "boot_seconds").items():
                if type_name not in catalog.types:
                    raise self.fail(f"boot_seconds names unknown type {type_name!r}")
                catalog.types[type_name] = dataclasses.replace(
                    catalog.types[type_name],
                    boot_seconds=self.boot_range(rng, f"boot_seconds.{type_name}"),
                )
        sc.catalog = catalog
        sc.capacity = _default_capacity(catalog)
        if "capacity" in data:
            self.capacity(data["capacity"], catalog, sc.capacity)
        if "quota" in data and data["quota"] is not None:
            quota = data["quota"]
            if isinstance(quota, dict):
                quota = quota.get("max_instances")
            sc.quota = self.integer(quota, "quota.max_instances")
        for key in (
            "visibility_delay",
            "terminate_seconds",
            "linger_seconds",
            "transport_timeout_seconds",
        ):
            if key in data:
                setattr(sc, key, self.number(data[key], key))
        if "hidden_terminate" in data:
            if data["hidden_terminate"] not in ("accept", "not_found"):
                raise self.fail("hidden_terminate must be accept or not_found")
            sc.hidden_terminate = data["hidden_terminate"]
        if "terminate_while_booting" in data:
            if data["terminate_while_booting"] not in ("accept", "refuse"):
                raise self.fail("terminate_while_booting must be accept or refuse")
            sc.terminate_while_booting = data["terminate_while_booting"]
        if "missing_private_ip" in data:
            value = data["missing_private_ip"]
            sc.missing_private_ip = (
                (1.0 if value else 0.0) if isinstance(value, bool) else self.probability(value, "missing_private_ip")
            )
        if "extra_fields" in data:
            if not isinstance(data["extra_fields"], bool):
                raise self.fail("extra_fields must be true or false")
            sc.extra_fields = data["extra_fields"]
        if "rate_limits" in data:
            sc.rate_limits = self.rate_limits(data["rate_limits"])
        if "faults" in data:
            sc.faults = [self.api_fault(f, i) for i, f in enumerate(self.seq(data["faults"], "faults"))]
        if "instance_faults" in data:
            sc.instance_faults = [
                self.instance_fault(f, i) for i, f in enumerate(self.seq(data["instance_faults"], "instance_faults"))
            ]
        return sc

    def seq(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{where} must be a list")
        return value

    def regions(self, value: Any) -> dict[str, SimRegion]:
        out: dict[str, SimRegion] = {}
        for i, item in enumerate(self.seq(value, "regions")):
            item = self.mapping(item, f"regions[{i}]")
            if not isinstance(item.get("name"), str):
                raise self.fail(f"regions[{i}] needs a name")
            out[item["name"]] = SimRegion(item["name"], str(item.get("description", item["name"])))
        if not out:
            raise self.fail("regions must list at least one region")
        return out

    def types(self, value: Any, base: dict[str, SimType]) -> dict[str, SimType]:
        out = dict(base)
        fields = {f.name for f in dataclasses.fields(SimType)}
        for type_name, spec in self.mapping(value, "types").items():
            if spec is None:  # `gpu_1x_a10: null` removes a type from the catalog
                out.pop(type_name, None)
                continue
            spec = dict(self.mapping(spec, f"types.{type_name}"))
            unknown = sorted(set(spec) - fields)
            if unknown:
                raise self.fail(f"types.{type_name}: unknown field(s) {', '.join(unknown)}")
            if "boot_seconds" in spec:
                spec["boot_seconds"] = self.boot_range(spec["boot_seconds"], f"types.{type_name}.boot_seconds")
            if type_name in out:
                try:
                    out[type_name] = dataclasses.replace(out[type_name], **spec)
                except TypeError as exc:
                    raise self.fail(f"types.{type_name}: {exc}") from exc
            else:
                spec["name"] = type_name
                try:
                    out[type_name] = SimType(**spec)
                except TypeError as exc:
                    raise self.fail(f"types.{type_name} is a new type and needs every field: {exc}") from exc
        return out

    def capacity(
        self,
        value: Any,
        catalog: Catalog,
        out: dict[tuple[str, str], list[tuple[float, int]]],
    ) -> None:
        for type_name, per_region in self.mapping(value, "capacity").items():
            if type_name not in catalog.types:
                raise self.fail(f"capacity names unknown type {type_name!r}")
            # a type listed here replaces its default stock entirely
            for key in [k for k in out if k[0] == type_name]:
                del out[key]
            for region, spec in self.mapping(per_region, f"capacity.{type_name}").items():
                where = f"capacity.{type_name}.{region}"
                if region not in catalog.regions:
                    raise self.fail(f"{where}: unknown region {region!r}")
                if isinstance(spec, list):
                    steps: list[tuple[float, int]] = []
                    for j, step in enumerate(spec):
                        step = self.mapping(step, f"{where}[{j}]")
                        steps.append(
                            (
                                self.number(step.get("at"), f"{where}[{j}].at"),
                                self.integer(step.get("count"), f"{where}[{j}].count"),
                            )
                        )
                    out[(type_name, region)] = sorted(steps) or [(0.0, 0)]
                else:
                    out[(type_name, region)] = [(0.0, self.integer(spec, where))]

    def rate_limits(self, value: Any) -> RateLimits:
        value = self.mapping(value, "rate_limits")
        rl = RateLimits()
        for key, raw in value.items():
            if key == "enabled" or key == "retry_after":
                if not isinstance(raw, bool):
                    raise self.fail(f"rate_limits.{key} must be true or false")
                setattr(rl, key, raw)
            elif key == "burst":
                rl.burst = self.integer(raw, "rate_limits.burst", minimum=1)
            elif key in (
                "request_interval",
                "launch_interval",
                "launch_tolerance",
                "lockout_seconds",
            ):
                setattr(rl, key, self.number(raw, f"rate_limits.{key}"))
            else:
                raise self.fail(f"rate_limits: unknown key {key!r}")
        return rl

    def api_fault(self, value: Any, i: int) -> ApiFault:
        where = f"faults[{i}]"
        value = self.mapping(value, where)
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(ApiFault)})
        if unknown:
            raise self.fail(f"{where}: unknown key(s) {', '.join(unknown)}")
        endpoint = value.get("endpoint", "any")
        kind = value.get("kind")
        if endpoint not in API_ENDPOINTS:
            raise self.fail(f"{where}.endpoint {endpoint!r} is not one of {', '.join(API_ENDPOINTS)}")
        if kind not in API_FAULT_KINDS:
            raise self.fail(f"{where}.kind {kind!r} is not one of {', '.join(API_FAULT_KINDS)}")
        count_raw = value.get("count", 1)
        count = None if count_raw in (None, "forever") else self.integer(count_raw, f"{where}.count")
        fault = ApiFault(
            endpoint=endpoint,
            kind=kind,
            count=count,
            after=self.integer(value.get("after", 0), f"{where}.after"),
            probability=self.probability(value.get("probability", 1.0), f"{where}.probability"),
        )
        if value.get("status") is not None:
            fault.status = self.integer(value["status"], f"{where}.status", minimum=100)
        if value.get("seconds") is not None:
            fault.seconds = self.number(value["seconds"], f"{where}.seconds")
        if value.get("mode") is not None:
            if value["mode"] not in ("http", "hangup", "unknown"):
                raise self.fail(f"{where}.mode must be http, hangup or unknown")
            fault.mode = value["mode"]
        return fault

    def instance_fault(self, value: Any, i: int) -> InstanceFault:
        where = f"instance_faults[{i}]"
        value = dict(self.mapping(value, where))
        kind = value.pop("kind", None)
        if kind not in INSTANCE_FAULT_KINDS:
            raise self.fail(f"{where}.kind {kind!r} is not one of {', '.join(INSTANCE_FAULT_KINDS)}")
        match = self.mapping(value.pop("match", {}) or {}, f"{where}.match")
        unknown = sorted(set(match) - {"type", "nth", "name_contains"})
        if unknown:
            raise self.fail(f"{where}.match: unknown key(s) {', '.join(unknown)}")
        fault = InstanceFault(kind=kind)
        if "type" in match:
            fault.type = str(match["type"])
        if "nth" in match:
            fault.nth = self.integer(match["nth"], f"{where}.match.nth", minimum=1)
        if "name_contains" in match:
            fault.name_contains = str(match["name_contains"])
        params: dict[str, Any] = {}
        for key, raw in value.items():
            if key in ("seconds", "after", "start"):
                # `seconds: forever` (or null) means the fault never clears
                params[key] = None if raw in (None, "forever") else self.number(raw, f"{where}.{key}")
            elif key == "bytes_per_second":
                params[key] = self.integer(raw, f"{where}.bytes_per_second", minimum=1)
            elif key in ("phase", "path"):
                params[key] = str(raw)
            elif key == "watts" and kind == "power_limit":
                params[key] = None if raw in (None, "N/A") else self.number(raw, f"{where}.watts", minimum=1)
            elif key == "gpus" and kind == "power_limit":
                if not isinstance(raw, list):
                    raise self.fail(f"{where}.gpus must be a list of GPU indices")
                params[key] = [self.integer(i, f"{where}.gpus[{k}]", minimum=0) for k, i in enumerate(raw)]
            elif key == "answer" and kind == "twin":
                if raw not in ("both", "one"):
                    raise self.fail(f"{where}.answer must be both or one")
                params[key] = raw
            else:
                raise self.fail(f"{where}: unknown key {key!r}")
        fault.params = params
        return fault
