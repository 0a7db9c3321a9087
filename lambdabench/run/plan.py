"""A sweep request becomes a plan: every check in one place, before anything is launched.

The plan holds what the runs will do (the benchmark playbook and those around it, parsed once),
where (types resolved against one instance-types snapshot, region), how many at once, how long
each may live, and what that can cost at worst. `to_json()` is everything `resume` needs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.cloud.gpus import expected_boot_seconds
from lambdabench.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from lambdabench.cloud.models import Filesystem, Image, InstanceType, TypeAvailability
    from lambdabench.consent import Spend
    from lambdabench.ledger import Ledger
    from lambdabench.remote.playbook import Playbook
    from lambdabench.run.cache import CachePlan
    from lambdabench.run.env import RunEnv
    from lambdabench.run.hosts import HostSpec

# With no --playbook a sweep benchmarks: MuJoCo MJX from PyPI runs on every Lambda GPU type, needs no NGC
# key or container, and keeps the GPU 96 % busy (README). Isaac Lab 3's kitless training ran on a real H100
# through the shipped playbooks (2026-12-05) but stays one flag away: its driver need (R580) is known only
# after launch, and Cartpole keeps an H100 12-30 % busy, so it ranks hosts more than GPUs (README).
DEFAULT_BENCHMARK = "mjx-locomotion"
# Billing stops at the accepted terminate (FIELD-NOTES "Money"), but acceptance can take long: an
# 8×H100 may refuse terminate for its whole ~25-minute boot (spec Instance.actions, vm-has-not-launched)
# and an outage or a Retry-After lock-out holds it further. A sized guess.
TEARDOWN_CLOUD_SECONDS = 30 * 60.0
# --keep-on-failure leaves a failed run's instances up until `lambdabench down`: unbounded, so the
# worst case counts one more hour for each (said in the plan), not zero
KEPT_CLOUD_SECONDS = 60 * 60.0
# the playbooks' expected_minutes are typical, not worst: a default run cap allows this much more
RUN_CAP_MARGIN = 1.25
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


SWEEP_NAME_MAX = 200  # a name is a report heading, not a document


def check_sweep_name(name: str | None) -> None:
    """A sweep's --name: printable, at most SWEEP_NAME_MAX characters (it heads every report)."""
    if name is None:
        return
    if len(name) > SWEEP_NAME_MAX:
        raise UsageError(f"--name is {len(name):,} characters long", f"Keep it to {SWEEP_NAME_MAX}.")
    if not name.strip() or not name.isprintable():
        raise UsageError(
            f"--name {name[:60]!r} must be printable text (no control characters), not blank",
            "e.g. --name 'h100 vs a100, 4096 envs'",
        )


def check_playbook_name(name: str | None) -> None:
    """--playbook "" is a mistake (an unset shell variable), not a request for the default."""
    if name is not None and not name.strip():
        raise UsageError(
            "--playbook is empty",
            f"Name one (see `lambdabench playbooks list`), or leave "
            f"--playbook out for the default ({DEFAULT_BENCHMARK}).",
        )


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    """`--set key=value` pairs; the value is kept verbatim (it is quoted wherever it is used)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"--set {pair!r} is not key=value", "Write e.g. --set task=Isaac-Cartpole-v0.")
        if "\x00" in value:
            raise UsageError(f"--set {key}: the value contains a NUL byte")
        out[key] = value
    return out


@dataclass
class SweepRequest:
    """What the user asked for, as typed (the CLI and the Python API both build one)."""

    gpus: str = ""
    playbook: str | None = None  # None: the default benchmark
    sets: dict[str, str] = field(default_factory=dict)
    repeat: int = 1
    max_cost: str | None = None
    max_parallel: int = 0
    keep_on_failure: bool = False
    region: str | None = None
    max_run_minutes: float | None = None
    name: str | None = None
    nodes: int = 1
    hosts: list[str] = field(default_factory=list)  # BYO machines: user@addr[:port][,label=…][,price=…]
    local: bool = False  # this machine as one more target
    reuse: bool = False  # a type's repeats back to back on one instance: set-up paid once
    seeds: int = 1  # benchmark passes per run on the same instance, seed, seed + 1, … (the playbook's `seed`)
    cache: str | None = None  # a filesystem's name: set-up keeps there what a warm start needs
    failsafe: bool = False  # each instance terminates itself once its run's cap passed (the key goes there)
    image: str | None = None  # --image: the launch's image family, over what the playbooks declare
    find_max_envs: bool = False  # the benchmark searches the largest num_envs that fits instead of its N sweep
    ignore_max_envs: bool = False  # launch num_envs above the largest the ledger's searches found to fit


@dataclass(frozen=True)
class SearchBound:
    """A largest-num_envs search's worst case: how many probes at most, each one's cap, all of them in minutes."""

    probes: int
    probe_seconds: float  # a probe's cap, or its fixed part
    per_million_envs: float  # seconds a probe's cap grows per million envs (0: a fixed cap)
    minutes: float  # every probe of the longest search at its cap (envsearch.worst_case_seconds)

    @property
    def words(self) -> str:
        """e.g. "at most 15 probes, capped at 300 s + 250 s per million envs each: ≤ 250 min"."""
        if not self.per_million_envs:
            return f"at most {self.probes} probes × {self.probe_seconds:g} s = {self.minutes:g} min"
        return (
            f"at most {self.probes} probes, capped at {self.probe_seconds:g} s + {self.per_million_envs:g} s per "
            f"million envs each: ≤ {math.ceil(self.minutes)} min"
        )


@dataclass
class Benchmark:
    """The benchmark playbook and those a sweep runs around it (before: set-up; after: collect)."""

    playbook: Playbook
    before: list[Playbook]
    after: list[Playbook]
    variables: dict[str, str]
    preflight: Playbook  # gpu-preflight, on every node first
    _values: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.playbook.name

    @property
    def all(self) -> list[Playbook]:
        return [*self.before, self.playbook, *self.after]

    def expected_minutes(self, seeds: int = 1) -> float | None:
        """What the playbooks declare a run takes after boot (preflight, set-up, each seed's pass, collect), and a
        largest-num_envs search's every probe at its cap; None when one of them declares nothing."""
        books = [self.preflight, *self.all]
        if any(b.expected_minutes is None for b in books):
            return None
        total = sum(b.expected_minutes or 0.0 for b in books)
        search = self.search_bound()
        return total + (self.playbook.expected_minutes or 0.0) * (seeds - 1) + (search.minutes if search else 0.0)

    def search_bound(self) -> SearchBound | None:
        """The largest-num_envs search's worst case (every probe at its cap); None without a search."""
        from lambdabench.workloads.envsearch import max_probes, worst_case_seconds

        values = self.values
        if values.get("find_max_envs") is not True:
            return None
        start, bound = int(values["max_envs_start"]), int(values["max_envs_bound"])
        if bound < start:
            raise UsageError(
                f"max_envs_bound {bound} is below max_envs_start {start}",
                "Give a bound at least the start (--set max_envs_bound=N).",
            )
        bisect, cap = int(values["bisect_steps"]), float(values["probe_seconds"])
        per_million = float(values.get("probe_seconds_per_million_envs") or 0.0)  # MJX: a fixed cap
        seconds = worst_case_seconds(start, bound, bisect, cap, per_million)
        return SearchBound(max_probes(start, bound, bisect), cap, per_million, seconds / 60)

    def undeclared(self) -> list[str]:
        """The playbooks of this benchmark with no expected_minutes."""
        return [b.name for b in [self.preflight, *self.all] if b.expected_minutes is None]

    @property
    def livestream_webrtc(self) -> bool:
        """The benchmark streams over WebRTC (--livestream 2): its viewer needs the instance's firewall opened."""
        return str(self.values.get("livestream", "0")) == "2"

    @property
    def own_telemetry(self) -> bool:
        """The playbook samples the GPUs itself (the MJX benchmark), so the run does not."""
        return any("telemetry_sampler.sh" in str(s.body) for s in self.playbook.steps)

    def vars_for(self, playbook: Playbook, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The values this playbook declares: the --set ones, over what the run fills in, over the
        benchmark playbook's own defaults (so `setup` clones the Isaac Lab version the benchmark means)."""
        merged = {**self._benchmark_defaults(), **(extra or {}), **self.variables}
        return {k: v for k, v in merged.items() if k in playbook.vars}

    def values_for(self, playbook: Playbook) -> dict[str, Any]:
        """The values a playbook runs with (vars_for, typed, defaults filled in): resolved once, here only."""
        if playbook.name not in self._values:
            self._values[playbook.name] = playbook.resolve_vars(self.vars_for(playbook))
        return dict(self._values[playbook.name])

    @property
    def values(self) -> dict[str, Any]:
        """The benchmark playbook's values (num_envs, task, library, seed, max_iterations …) as every run uses them."""
        return self.values_for(self.playbook)

    def _benchmark_defaults(self) -> dict[str, str]:
        out = {}
        for name, spec in self.playbook.vars.items():
            if spec.default is None:
                continue
            out[name] = ("true" if spec.default else "false") if isinstance(spec.default, bool) else str(spec.default)
        return out

    @classmethod
    def load(cls, name: str, variables: dict[str, str], *, home: Path | None = None) -> Benchmark:
        """Every playbook of the benchmark, parsed once (user playbooks in <home>/playbooks first)."""
        from lambdabench.remote.playbook import default_dirs, find_playbook

        dirs = default_dirs(home)
        playbook = find_playbook(name, dirs)
        return cls(
            playbook,
            [find_playbook(n, dirs) for n in playbook.before],
            [find_playbook(n, dirs) for n in playbook.after],
            dict(variables),
            find_playbook("gpu-preflight", dirs),
        )


@dataclass
class Target:
    """Where one run goes: a Lambda instance type, or a machine the user brought (never terminated)."""

    itype: InstanceType | None = None
    host: HostSpec | None = None

    @property
    def name(self) -> str:
        """The name in the ledger and report: the Lambda type name, or host:<label> / local."""
        if self.host is not None:
            return self.host.type_name
        assert self.itype is not None
        return self.itype.name

    @property
    def short(self) -> str:
        if self.host is not None:
            return self.host.label
        from lambdabench.cloud.gpus import short_name

        assert self.itype is not None
        return short_name(self.itype)

    @property
    def price_cents_per_hour(self) -> int:
        if self.host is not None:
            return self.host.price_cents_per_hour
        assert self.itype is not None
        return self.itype.price_cents_per_hour

    @property
    def launched(self) -> bool:
        return self.itype is not None

    def facts(self) -> dict[str, Any]:
        """What the playbooks' `requires` can know before the run (a BYO host: nothing yet)."""
        if self.host is not None:
            return self.host.facts()
        from lambdabench.cloud.gpus import type_facts

        assert self.itype is not None
        return type_facts(self.itype)


@dataclass
class PlannedRun:
    target: Target
    repeat: int  # 1-based
    run_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.target.short}#{self.repeat}"

    @property
    def itype(self) -> InstanceType | None:
        return self.target.itype


@dataclass
class SweepPlan:
    """What a sweep will do, and what it can cost at worst."""

    runs: list[PlannedRun]
    benchmark: Benchmark
    max_run_seconds: float  # real seconds (scaled): bounds every billed minute of a run, boot included
    max_cost_cents: int | None
    max_parallel: int
    keep_on_failure: bool
    region: str | None = None
    nodes: int = 1
    type_order: list[str] = field(default_factory=list)  # as the user gave them
    availability: list[TypeAvailability] = field(default_factory=list)  # the snapshot planned from
    reuse: bool = False  # a launched type's repeats run back to back on its first run's instance
    failsafe: bool = False  # opt-in: each instance ends itself past its run's cap (lambdabench.run.failsafe)
    cache: CachePlan | None = None  # --cache: the filesystem and its region
    teardown_seconds: float = TEARDOWN_CLOUD_SECONDS  # real seconds (scaled): a slow terminate's worst
    kept_seconds: float = KEPT_CLOUD_SECONDS  # real seconds (scaled): a kept instance, counted until `down`
    cap_reason: str = ""  # where max_run_seconds came from, for the plan's one line about it
    time_scale: float = 1.0  # cloud seconds per real second (a simulated cloud fast-forwards)
    image: str | None = None  # the image family every launch asks for; None: Lambda's default (latest Lambda Stack)
    image_source: str = ""  # where image came from: --image, or the playbook that declares it

    def leads(self) -> dict[str, list[PlannedRun]]:
        """With --reuse: each launched type's first run (by label) and the runs that follow it on its instance."""
        if not self.reuse:
            return {}
        by_type: dict[str, list[PlannedRun]] = {}
        for r in sorted(self.runs, key=lambda r: r.repeat):
            if r.target.launched:
                by_type.setdefault(r.target.name, []).append(r)
        return {rs[0].label: rs[1:] for rs in by_type.values()}

    def followers(self) -> set[str]:
        """Labels of the runs that launch nothing: they run on a lead's instance."""
        return {f.label for rs in self.leads().values() for f in rs}

    seeds: int = 1  # benchmark passes per run, one seed each, on the same instance

    def seed_values(self) -> list[str]:
        """The seed of each benchmark pass: the playbook's `seed` (--set or default), then one more each."""
        if self.seeds <= 1:
            return []
        base = int(self.benchmark.values.get("seed") or 0)
        return [str(base + k) for k in range(self.seeds)]

    @property
    def playbook(self) -> str:
        return self.benchmark.name

    @property
    def variables(self) -> dict[str, str]:
        return self.benchmark.variables

    @property
    def max_minutes(self) -> int:
        return math.ceil(self.max_run_seconds / 60)

    @property
    def teardown_minutes(self) -> int:
        """Minutes a launched run may bill past its cap: a slow teardown, and a kept instance's hour."""
        extra = self.teardown_seconds + (self.kept_seconds if self.keep_on_failure else 0.0)
        return math.ceil(extra / 60)

    def worst_case_cents(self, run: PlannedRun) -> int:
        """Per-minute billing at the launch price for every minute the run may live, boot to proven gone."""
        nodes = self.nodes if run.target.launched else 1
        minutes = self.max_minutes + (self.teardown_minutes if run.target.launched else 0)
        return math.ceil(minutes * run.target.price_cents_per_hour / 60) * nodes

    @property
    def total_worst_case_cents(self) -> int:
        return sum(self.worst_case_cents(r) for r in self.runs)

    def left_out_for_budget(self) -> list[PlannedRun]:
        """The runs --max-cost keeps from launching, in plan order (as the sweep commits the budget)."""
        if self.max_cost_cents is None:
            return []
        leads, following = self.leads(), self.followers()
        committed, out = 0, []
        for run in self.runs:
            if run.label in following:
                continue
            group = [run, *leads.get(run.label, [])]
            worst = sum(self.worst_case_cents(r) for r in group)
            if committed + worst > self.max_cost_cents:
                out += group
            else:
                committed += worst
        return out

    def firewall_change(self) -> str | None:
        """The account change beside the money, when a launched run opens the firewall for its livestream."""
        from lambdabench.run.nodes import WEBRTC_PORTS

        if not (self.benchmark.livestream_webrtc and any(r.target.launched for r in self.runs)):
            return None
        ports = ", ".join(f"{proto} {lo}" if lo == hi else f"{proto} {lo}-{hi}" for proto, lo, hi in WEBRTC_PORTS)
        return (
            f"firewall: each run gets its own ruleset opening {ports} (Isaac Sim's WebRTC livestream) to its "
            "instance from this machine's public address only, for the run's life; deleted after its teardown "
            "(`lambdabench gc` deletes one a forced exit leaves)"
        )

    def spend(self) -> Spend:
        """What this plan may spend on the account: the launched runs --max-cost admits."""
        from lambdabench.consent import Spend

        left = {r.label for r in self.left_out_for_budget()}
        runs = [r for r in self.runs if r.target.launched and r.label not in left]
        rate = sum(r.target.price_cents_per_hour * self.nodes for r in runs)
        types = ", ".join(dict.fromkeys(r.target.name for r in runs))
        firewall = " and a livestream firewall ruleset per run" if self.firewall_change() else ""
        return Spend(
            f"a sweep of {len(runs)} run(s) on {types or 'no instance'}{firewall}",
            rate,
            sum(self.worst_case_cents(r) for r in runs),
        )

    def budget_hint(self) -> str:
        """The flags that would admit every run: a budget that covers them, or a run cap short enough."""
        need = math.ceil(self.total_worst_case_cents) / 100
        flags = [f"--max-cost {need:.2f}"]
        minutes = self._cap_that_fits()
        if minutes is not None:
            flags.append(f"--max-run-minutes {minutes}")
        return f"Give {' or '.join(flags)} to run every type (or drop the types left out)."

    def _cap_that_fits(self) -> int | None:
        """The longest --max-run-minutes (cloud minutes) whose worst case fits --max-cost, when that
        still leaves the runs their expected time; None when no such cap exists."""
        from dataclasses import replace

        if self.max_cost_cents is None:
            return None
        need = self.expected_cloud_minutes()
        for minutes in range(self.max_minutes - 1, 0, -1):
            cloud = math.floor(minutes * self.time_scale)
            if need is None or cloud < need:
                return None
            if not replace(self, max_run_seconds=minutes * 60.0).left_out_for_budget():
                return cloud
        return None

    def expected_cloud_minutes(self) -> int | None:
        """Boot and the playbooks' expected minutes, unpadded: less than this and a run is cut short."""
        work = self.benchmark.expected_minutes(self.seeds)
        if work is None:
            return None
        boots = [expected_boot_seconds(r.itype) for r in self.runs if r.itype is not None]
        return math.ceil(max(boots, default=0.0) / 60 + work)

    def describe(self) -> list[dict[str, Any]]:
        on = {f.label: lead for lead, rs in self.leads().items() for f in rs}
        out = []
        for i, r in enumerate(self.runs):
            itype = r.target.itype
            nodes = self.nodes if r.target.launched else 1
            gpus = (itype.gpus if itype else (r.target.host.gpus if r.target.host else 0)) or 0
            out.append(
                {
                    "order": i + 1,
                    "run": r.label,
                    "type": r.target.name,
                    "nodes": nodes,
                    "gpus": gpus * nodes,
                    "price_per_hour": r.target.price_cents_per_hour / 100,
                    "expected_boot_min": round(expected_boot_seconds(itype) / 60) if itype else 0,
                    "max_minutes": self.max_minutes,
                    "worst_case": self.worst_case_cents(r) / 100,
                    "terminated_by_lambdabench": r.target.launched,
                    "on": on.get(r.label),
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """What `resume` needs to rebuild this plan (the playbook by name, or by absolute path)."""
        path = self.benchmark.playbook.path
        from lambdabench.compat import footprint
        from lambdabench.remote.playbook import shipped_dir

        shipped = path.parent.resolve() == shipped_dir().resolve()
        return {
            "playbook": self.playbook if shipped else str(path.resolve()),
            "vars": self.variables,
            # what decides GPU memory besides N, as launched: later defaults never re-key this sweep's searches
            "footprint": dict(footprint(self.benchmark.playbook, self.variables)),
            "types": [r.target.name for r in self.runs],
            "type_order": self.type_order,
            "max_run_seconds": self.max_run_seconds,
            "teardown_seconds": self.teardown_seconds,
            "kept_seconds": self.kept_seconds,
            "keep_on_failure": self.keep_on_failure,
            "nodes": self.nodes,
            "region": self.region,
            "max_parallel": self.max_parallel,
            "hosts": [r.target.host.spec for r in self.runs if r.target.host is not None],
            "reuse": self.reuse,
            "failsafe": self.failsafe,
            "seeds": self.seeds,
            "cache": self.cache.to_json() if self.cache else None,
        }


def check_request_numbers(req: SweepRequest) -> None:
    """The sweep's numeric flags and the ones that do not go together, before anything else is read."""
    if req.repeat < 1 or req.repeat > 100:
        raise UsageError(f"--repeat {req.repeat} is out of range", "Use 1 to 100.")
    if req.seeds < 1 or req.seeds > 100:
        raise UsageError(f"--seeds {req.seeds} is out of range", "Use 1 to 100.")
    if req.nodes < 1 or req.nodes > 16:
        raise UsageError(f"--nodes {req.nodes} is out of range", "Use 1 to 16.")
    if req.max_parallel < 0:
        raise UsageError(f"--max-parallel {req.max_parallel} is negative", "Use 0 (all at once) or more.")
    if req.failsafe and req.reuse:
        raise UsageError("--failsafe times one run's cap; it does not take --reuse yet", "Drop --reuse, or --failsafe.")
    if req.reuse and req.nodes > 1:
        raise UsageError(
            "--reuse runs on one instance per type; it does not take --nodes yet", "Drop --reuse, or --nodes."
        )
    if req.max_run_minutes is not None and not (0 < req.max_run_minutes <= 7 * 24 * 60):
        raise UsageError(
            f"--max-run-minutes {req.max_run_minutes:g} is out of range", "Use more than 0, at most a week (10080)."
        )


def check_image(image: str, source: str, families: Sequence[str] | None = None) -> None:
    """An image family name, offered (GET /images lists it) when families are known; one line if not."""
    from lambdabench.remote.playbook import IMAGE_FAMILY_RE

    if not IMAGE_FAMILY_RE.match(image):
        raise UsageError(f"{source} {image!r} is not an image family name", "e.g. --image lambda-stack-22-04")
    if families is not None and image not in families:
        raise UsageError(
            f"image family {image!r} ({source}) is not offered",
            f"offered: {', '.join(sorted(set(families))) or '(none)'}",
        )


def check_image_offered(
    image: str, source: str, types: Sequence[InstanceType], list_images: Callable[[], Sequence[Image]]
) -> None:
    """GET /images lists the family for each launched type's architecture (GH200 is arm64); one line if not.
    A name that is no family name is refused before the call."""
    from lambdabench.cloud.gpus import type_facts

    check_image(image, source)
    images = list_images()
    check_image(image, source, [i.family for i in images])
    archs = {i.architecture for i in images if i.family == image}
    for itype in types:
        arch = type_facts(itype)["arch"]
        if arch not in archs and "" not in archs:  # an image listed without its architecture fits any
            offered = sorted({i.family for i in images if i.architecture == arch})
            raise UsageError(
                f"image family {image!r} ({source}) is not offered for {itype.name} ({arch})",
                f"offered for {arch}: {', '.join(offered) or '(none)'}; pick one with --image",
            )


def choose_image(
    asked: str | None, benchmark: Benchmark, families: Sequence[str] | None = None
) -> tuple[str | None, str]:
    """The image family the launches ask for, and why: --image, else the first playbook that declares one
    (the benchmark, then its set-up and collect). families (GET /images), when known, must list it."""
    declared = [(b.image, f"playbook {b.name}") for b in [benchmark.playbook, *benchmark.all] if b.image]
    image, source = (asked, "--image") if asked is not None else declared[0] if declared else (None, "")
    if image is not None:
        check_image(image, source, families)
    return image, source


@dataclass(frozen=True)
class CheckedRequest:
    """A sweep request once every check that needs no cloud data has passed: what planning goes on from."""

    hosts: list[HostSpec]
    names: list[str]
    max_cost_cents: int | None
    benchmark: Benchmark


def check_request(req: SweepRequest, *, env: RunEnv, ngc_key_present: bool) -> CheckedRequest:
    """Every check that needs no cloud data: a bad flag, name, variable, task or a missing secret is
    refused in one line before any API call (an unreachable API would first spend its retry window)."""
    from lambdabench.cloud.gpus import parse_gpu_list
    from lambdabench.cost import parse_dollars
    from lambdabench.run.hosts import check_host_keys, parse_hosts

    check_request_numbers(req)
    check_sweep_name(req.name)
    check_playbook_name(req.playbook)
    if req.cache is not None:
        from lambdabench.run.cache import check_name

        check_name(req.cache)
    hosts = parse_hosts(req.hosts, local=req.local, ssh_config=env.ssh_config)
    check_host_keys(hosts)
    if not req.gpus.strip() and not hosts:
        raise UsageError("nothing to benchmark", "Give --gpus (e.g. a10,h100), --host user@addr or --local.")
    names = parse_gpu_list(req.gpus) if req.gpus.strip() else []
    if req.nodes > 1 and not names:
        raise UsageError(
            f"--nodes {req.nodes} applies to Lambda types only: your own machines run one node each",
            "Add --gpus (e.g. --gpus 8xh100 --nodes 2), or drop --nodes.",
        )
    max_cost_cents = None
    if req.max_cost is not None:
        max_cost_cents = int(parse_dollars(req.max_cost) * Decimal(100))
    benchmark = Benchmark.load(req.playbook or DEFAULT_BENCHMARK, req.sets, home=env.home)
    if req.find_max_envs:
        check_search(req, benchmark)
    check_variables(benchmark, ngc_key_present=ngc_key_present)
    choose_image(req.image, benchmark)  # a name that is no image family (offered or not: GET /images, later)
    if req.seeds > 1 and "seed" not in benchmark.playbook.vars:
        raise UsageError(
            f"--seeds {req.seeds}: playbook {benchmark.name} has no `seed` variable to vary",
            "Use a playbook with one (mjx-locomotion, isaaclab-train, isaaclab3-train), or --repeat.",
        )
    return CheckedRequest(hosts, names, max_cost_cents, benchmark)


def plan_sweep(
    req: SweepRequest,
    *,
    availability: Sequence[TypeAvailability],
    regions: Sequence[str],
    env: RunEnv,
    ngc_key_present: bool,
    filesystems: Sequence[Filesystem] = (),
    list_images: Callable[[], Sequence[Image]] | None = None,
    checked: CheckedRequest | None = None,
    ledger: Ledger | None = None,
) -> SweepPlan:
    """Resolve names against one instance-types snapshot and price the plan; raises before anything launches (the
    ledger's largest-num_envs searches, when given, refuse more envs than fit)."""
    from lambdabench.cloud.gpus import resolve_gpu

    checked = checked or check_request(req, env=env, ngc_key_present=ngc_key_present)
    hosts, names, max_cost_cents, benchmark = checked.hosts, checked.names, checked.max_cost_cents, checked.benchmark
    if req.region and req.region not in regions:
        raise UsageError(f"Unknown region {req.region!r}", "See `lambdabench types` for regions.")
    offered = [a.instance_type for a in availability]
    types: list[InstanceType] = []
    for name in names:
        itype = resolve_gpu(name, offered)
        if itype.name in {t.name for t in types}:
            raise UsageError(f"--gpus names {itype.name} twice", "Use --repeat to run a type more than once.")
        types.append(itype)
    image, image_source = choose_image(req.image, benchmark)
    if image is not None and types and list_images is not None:
        check_image_offered(image, image_source, types, list_images)
    max_run, cap_reason = _run_cap(req, benchmark, types, env)
    targets = [Target(itype=t) for t in types] + [Target(host=h) for h in hosts]
    check_targets(
        benchmark,
        targets,
        nodes=req.nodes,
        ledger=ledger,
        ignore_max_envs=req.ignore_max_envs,
        simulator=env.simulator,
    )
    runs = [PlannedRun(t, k) for k in range(1, req.repeat + 1) for t in targets]
    cache = None
    if req.cache is not None:
        from lambdabench.run.cache import plan_cache

        cache = plan_cache(
            req.cache, filesystems, region=req.region, availability=availability, type_names=[t.name for t in types]
        )
    # slow boots launch first (launches are paced 12 s apart); BYO hosts need no launch
    runs.sort(key=lambda r: (-(expected_boot_seconds(r.itype) if r.itype else 0.0), r.repeat, r.target.name))
    plan = SweepPlan(
        runs=runs,
        benchmark=benchmark,
        max_run_seconds=max_run,
        max_cost_cents=max_cost_cents,
        max_parallel=req.max_parallel if req.max_parallel > 0 else len(runs),
        keep_on_failure=req.keep_on_failure,
        teardown_seconds=env.real_seconds(TEARDOWN_CLOUD_SECONDS),
        kept_seconds=env.real_seconds(KEPT_CLOUD_SECONDS),
        region=req.region,
        nodes=req.nodes,
        type_order=[t.name for t in targets],
        availability=list(availability),
        reuse=req.reuse,
        failsafe=req.failsafe,
        seeds=req.seeds,
        cache=cache,
        cap_reason=cap_reason,
        time_scale=env.time_scale,
        image=image,
        image_source=image_source,
    )
    left_out = plan.left_out_for_budget()
    if left_out and len(left_out) == len(runs) and max_cost_cents is not None:
        cheapest = min(plan.worst_case_cents(r) for r in runs)
        raise UsageError(
            f"--max-cost {max_cost_cents / 100:.2f} admits none of the {len(runs)} run(s): the cheapest "
            f"worst case is ${cheapest / 100:.2f} ({plan.max_minutes}-minute run cap)",
            plan.budget_hint(),
        )
    return plan


def check_search(req: SweepRequest, benchmark: Benchmark) -> None:
    """--find-max-envs: the playbook must have the search, and a search runs once per run (no seeds)."""
    if "find_max_envs" not in benchmark.playbook.vars:
        raise UsageError(
            f"--find-max-envs: playbook {benchmark.name} has no largest-num_envs search",
            "Use mjx-locomotion (the default), isaaclab3-train or isaaclab-train, or drop --find-max-envs.",
        )
    if req.seeds > 1:
        raise UsageError(
            f"--find-max-envs with --seeds {req.seeds}: the search has no seeds to vary",
            "Drop --seeds (use --repeat to search on separate instances).",
        )
    benchmark.variables["find_max_envs"] = "true"
    benchmark._values.clear()  # resolved again with the search on
    search = benchmark.search_bound()  # a bound below the start is refused here, before any API call
    if search and req.max_run_minutes and search.minutes > req.max_run_minutes:
        raise UsageError(
            f"--max-run-minutes {req.max_run_minutes:g} is shorter than the largest-num_envs search's worst case "
            f"({search.words})",
            f"Give --max-run-minutes {math.ceil(search.minutes)} or more, or search less "
            "(--set max_envs_bound=N, max_envs_start=N or bisect_steps=N).",
        )


def _run_cap(req: SweepRequest, benchmark: Benchmark, types: Sequence[InstanceType], env: RunEnv) -> tuple[float, str]:
    """The run cap in real seconds and where it came from: --max-run-minutes, else the slowest boot and
    the playbooks' expected minutes with a margin, else (a playbook declares none) three hours."""
    from lambdabench.run.env import DEFAULT_MAX_RUN_CLOUD_SECONDS, run_cap_scaling, run_cap_seconds

    def scaled(cloud_seconds: float, *, floor: bool = True) -> str:
        note = run_cap_scaling(cloud_seconds, env.time_scale, floor=floor)
        return f"; {note}" if note else ""

    if req.max_run_minutes:
        return (
            env.real_seconds(req.max_run_minutes * 60),
            f"--max-run-minutes {req.max_run_minutes:g}{scaled(req.max_run_minutes * 60, floor=False)}",
        )
    work = benchmark.expected_minutes(req.seeds)
    if work is None:
        return (
            env.timeouts.max_run_default,
            f"the {DEFAULT_MAX_RUN_CLOUD_SECONDS / 60:.0f}-minute default: {', '.join(benchmark.undeclared())} "
            f"declare(s) no expected_minutes{scaled(DEFAULT_MAX_RUN_CLOUD_SECONDS)}; --max-run-minutes sets it",
        )
    boot = max((expected_boot_seconds(t) for t in types), default=0.0) / 60
    minutes = math.ceil(boot + RUN_CAP_MARGIN * work)
    search = benchmark.search_bound()
    within = f" (with the largest-num_envs search: {search.words})" if search else ""
    return (
        run_cap_seconds(minutes * 60.0, env.time_scale),
        f"boot ~{boot:.0f} min + the playbooks' expected {work:g} min{within} × {RUN_CAP_MARGIN:g} = {minutes} min"
        f"{scaled(minutes * 60.0)}; --max-run-minutes sets it",
    )


def check_variables(benchmark: Benchmark, *, ngc_key_present: bool) -> None:
    """Refuse before launch (and before the cloud is asked): unknown var, bad value, unknown task, missing secret."""
    from lambdabench.run.prelaunch import check_secrets, check_task

    books = benchmark.all
    known = {v for b in books for v in b.vars}
    unknown = sorted(set(benchmark.variables) - known)
    if unknown:
        raise UsageError(
            f"playbook {benchmark.name} has no variable {unknown[0]!r}",
            f"Its variables: {', '.join(sorted(benchmark.playbook.vars)) or '(none)'} "
            f"(see `lambdabench playbooks show {benchmark.name}`).",
        )
    for book in books:
        benchmark.values_for(book)  # type errors as one line, before launch
    check_task(benchmark.playbook, benchmark.values)
    check_secrets(benchmark.all, benchmark.values_for, ["NGC_API_KEY"] if ngc_key_present else [])


def check_targets(
    benchmark: Benchmark,
    targets: Sequence[Target],
    *,
    nodes: int,
    ledger: Ledger | None = None,
    ignore_max_envs: bool = False,
    simulator: bool = False,
) -> None:
    """Refuse before launch, naming every refused target in one line (compat.refusal, as `check` words it): a type
    or machine that cannot run the benchmark, more envs than the ledger's searches of the target's kind (simulator:
    modelled; else measured) found to fit on it; then a multi-node plan that would not start one training."""
    from lambdabench.compat import footprint, largest_num_envs, refusal

    book, values = benchmark.playbook, benchmark.vars_for(benchmark.playbook)
    key = footprint(book, values)
    refused = []
    for target in targets:
        found = largest_num_envs(ledger, book, target.name, key, simulator=simulator) if ledger is not None else None
        problem = refusal(book, values, target.facts(), found, ignore_max_envs=ignore_max_envs)
        if problem is not None:
            refused.append((target.name, problem))
    if len(refused) == 1:
        raise UsageError(refused[0][1], f"Nothing was launched. {refused[0][1].hint}")
    if refused:
        hints = dict.fromkeys(p.hint for _, p in refused if p.hint)
        raise UsageError(
            f"refused on {len(refused)} of {len(targets)} type(s): " + " | ".join(f"{n}: {p}" for n, p in refused),
            f"Nothing was launched. {' '.join(hints)}",
        )
    if nodes > 1:
        check_multinode(benchmark, [t for t in targets if t.itype is not None], nodes)


def check_multinode(benchmark: Benchmark, targets: Sequence[Target], nodes: int) -> None:
    """Refuse before launch a playbook that would not start one training across the nodes."""
    from lambdabench.cloud.gpus import type_facts
    from lambdabench.run.cluster import Cluster, launcher_steps

    book = benchmark.playbook
    if book.name == "gpu-probe":
        return
    values = benchmark.values
    spec = Cluster("plan", tuple(f"10.0.0.{i + 1}" for i in range(nodes)), 1)
    for target in targets:
        assert target.itype is not None
        facts = {**type_facts(target.itype), **spec.facts(0)}
        if not launcher_steps(book, values, facts):
            raise UsageError(
                f"playbook {book.name} starts no torch.distributed.run step on {target.itype.name}, so --nodes "
                f"{nodes} would run {nodes} separate trainings",
                "Use a playbook with a torchrun step (e.g. torchrun, or isaaclab-train on a multi-GPU type).",
            )


def plan_from_json(
    doc: dict[str, Any],
    runs: list[PlannedRun],
    *,
    max_cost_cents: int | None,
    availability: Sequence[TypeAvailability],
    home: Path | None = None,
) -> SweepPlan:
    """The plan of a sweep being resumed: same benchmark, region, parallelism and cap; only these runs."""
    benchmark = Benchmark.load(str(doc.get("playbook") or DEFAULT_BENCHMARK), dict(doc.get("vars") or {}), home=home)
    parallel = int(doc.get("max_parallel") or 0)
    return SweepPlan(
        runs=runs,
        benchmark=benchmark,
        max_run_seconds=float(doc.get("max_run_seconds") or 3 * 3600),
        teardown_seconds=float(doc.get("teardown_seconds") or TEARDOWN_CLOUD_SECONDS),
        kept_seconds=float(doc.get("kept_seconds") or KEPT_CLOUD_SECONDS),
        max_cost_cents=max_cost_cents,
        max_parallel=min(parallel, len(runs)) if parallel > 0 else len(runs),
        keep_on_failure=bool(doc.get("keep_on_failure")),
        region=doc.get("region"),
        nodes=int(doc.get("nodes") or 1),
        type_order=list(doc.get("type_order") or []),
        availability=list(availability),
        reuse=bool(doc.get("reuse")),
        failsafe=bool(doc.get("failsafe")),
        seeds=int(doc.get("seeds") or 1),
        cache=_cache_from_json(doc.get("cache")),
    )


def _cache_from_json(doc: Any) -> CachePlan | None:
    from lambdabench.run.cache import CachePlan

    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        return None
    return CachePlan(doc["name"], doc.get("region") if isinstance(doc.get("region"), str) else None)
