"""One training's env-steps, env-steps/s and reward from the RL library's own TensorBoard output.

``read_training(artifacts_root, ...)`` is the one entry point: it finds the run folder(s) under a
pulled artifacts tree, reads their event files, derives each figure by the writing library's
semantics and says where every figure came from. The rules, with the library source lines they
rest on, are in docs/isaaclab-contract.md ("RL libraries' output"); the comments cite the same
files (skrl 2.1.1, rsl-rl-lib 5.5.1, rl-games 1.6.5, stable-baselines3 2.9.2, Isaac Lab
scripts/reinforcement_learning/<lib>/train.py at ooctipus/IsaacLab afdbdead).

A figure that cannot be derived is None with a reason in ``unknown``; it is never silently absent.
"""

from __future__ import annotations

import math
import re
import statistics
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabench.metrics import (
    LIBRARIES,
    MetricsError,
    Point,
    Series,
    ThroughputStats,
    throughput_stats,
)
from lambdabench.metrics.tensorboard import (
    EVENT_GLOB,
    Scalar,
    Scalars,
    detect_library,
    find_tag,
    read_file_scalars,
)

__all__ = [
    "CurvePoint",
    "Provenance",
    "RunFolder",
    "TrainingResult",
    "find_run_folders",
    "read_training",
]

# (wall time as epoch seconds, cumulative env-steps of the benchmark step, value)
CurvePoint = tuple[float, int, float]

RL_GAMES_FPS = "performance/step_inference_rl_update_fps"
RSL_COLLECTION = ("Perf/collection_time", "Perf/collection time")
SKRL_REWARD = "Reward / Total reward (mean)"
SKRL_ANY_WRITE = "Reward / Instantaneous reward (mean)"
_RL_GAMES_LAST = re.compile(r"^last_.+_(ep|frame)_(\d+)(?:_rew_.*)?\.pth$")
_RL_GAMES_EP = re.compile(r"_ep_(\d+)_")
_SB3_STEPS = re.compile(r"^model_(\d+)_steps\.zip$")


@dataclass(frozen=True)
class Provenance:
    """Where one figure came from: tag, event file (relative to the artifacts root), rule."""

    figure: str
    rule: str
    tag: str | None = None
    file: str | None = None
    library: str | None = None
    library_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "figure": self.figure,
            "tag": self.tag,
            "file": self.file,
            "library": self.library,
            "library_version": self.library_version,
            "rule": self.rule,
        }


@dataclass
class RunFolder:
    """One training run folder (Isaac Lab's <lib>/<experiment>/<timestamp>) and what it held."""

    path: Path
    relative: str
    event_files: list[Path]
    aux_files: list[Path] = field(default_factory=list)  # add_hparams sub-folders and the like
    first_wall: float | None = None
    last_wall: float | None = None


@dataclass
class _Derived:
    """One run folder's figures."""

    env_steps: int | None = None
    env_steps_exact: bool = True
    # (wall time, env-steps since this run's start) at each logged point, in order
    marks: list[tuple[float, int]] = field(default_factory=list)
    first_seconds: float | None = None  # the first mark's interval length, where the tags give it
    library_rates: list[float] = field(default_factory=list)  # the library's own per-iteration rate
    rewards: list[tuple[float, int, float]] = field(default_factory=list)  # (wall, steps since start, r)
    points: list[Point] = field(default_factory=list)
    provenance: dict[str, Provenance] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainingResult:
    """The figures of one benchmark step's training, with where each came from."""

    library: str | None
    library_version: str | None
    world_size: int
    runs: list[str]
    env_steps: int | None
    throughput: ThroughputStats | None  # per-interval wall-clock rates after warm-up
    rate: float | None  # Σ env-steps / Σ wall seconds after warm-up (what $/M steps implies)
    final_reward: float | None
    reward_curve: list[CurvePoint]
    rate_curve: list[CurvePoint]
    provenance: dict[str, Provenance]
    unknown: dict[str, str]
    skipped: dict[str, str]
    notes: list[str]
    points: list[Point] = field(default_factory=list)
    library_throughput: ThroughputStats | None = None  # the library's own per-iteration figure
    # the intervals the rate counts (after warm-up), on the events' wall clock: (start, end, env-steps)
    timed_window: tuple[float, float, int] | None = None
    first_interval_start: float | None = None  # when the first logged iteration began (events' clock)
    # the first logged run's first iteration, from its library's own timing: rsl_rl's collection + learning time of
    # iteration 0, rl_games' first epoch (frames ÷ its fps total); None where the tags time no single iteration
    first_iteration_s: float | None = None

    def series(self) -> Series:
        """The common Series (what build_record and the report already take)."""
        series = Series(library=self.library, source="tensorboard", points=list(self.points))
        series.notes = list(self.notes)
        return series

    def record_section(self) -> dict[str, Any]:
        """The run record's "training" part: figures, curves' sizes, provenance, unknowns."""
        return {
            "library": self.library,
            "library_version": self.library_version,
            "world_size": self.world_size,
            "runs": list(self.runs),
            "env_steps": self.env_steps,
            "env_steps_per_s": self.rate,
            "library_reported_env_steps_per_s": (self.library_throughput.mean if self.library_throughput else None),
            "final_reward": self.final_reward,
            "reward_points": len(self.reward_curve),
            "rate_points": len(self.rate_curve),
            "provenance": [p.to_dict() for p in self.provenance.values()],
            "unknown": dict(self.unknown),
            "skipped": dict(self.skipped),
        }


# ---------------------------------------------------------------------------------------------
# discovery


def _is_float_name(name: str) -> bool:
    try:
        float(name)
    except ValueError:
        return False
    return True


def _run_root(event_dir: Path, root: Path) -> Path:
    """The run folder an events folder belongs to.

    Isaac Lab's train.py dumps params/env.yaml and params/agent.yaml into every run folder
    (rl_games/train.py:166, rsl_rl/train.py:230, skrl/train.py:181, sb3/train.py:136), so the
    nearest folder with params/ is the run; rl_games writes events one level down in summaries/
    (a2c_common.py:300), sb3 in PPO_<n>/ (sb3 common/utils.py configure_logger), torch's
    add_hparams into a sub-folder named by time.time().
    """
    for folder in (event_dir, *event_dir.parents):
        if folder == root.parent or root not in (folder, *folder.parents):
            break
        if (folder / "params").is_dir():
            return folder
    if event_dir.name == "summaries" or event_dir.name.startswith("PPO_"):
        return event_dir.parent
    if _is_float_name(event_dir.name) and event_dir.parent != root.parent:
        return event_dir.parent
    return event_dir


def _skip_folder(folder: Path, root: Path) -> bool:
    parts = folder.relative_to(root).parts if root in (folder, *folder.parents) else folder.parts
    return "videos" in parts or any(p == "play" or p.startswith("play_") for p in parts)


def find_run_folders(artifacts_root: Path) -> list[RunFolder]:
    """Every training run folder under the root, oldest first by its events' wall time."""
    if not artifacts_root.exists():
        raise MetricsError(f"no such path: {artifacts_root}", "check the artifacts folder of the run")
    runs: dict[Path, RunFolder] = {}
    for file in sorted(artifacts_root.rglob(EVENT_GLOB), key=lambda p: (p.name, str(p))):
        if _skip_folder(file.parent, artifacts_root):
            continue
        root = _run_root(file.parent, artifacts_root)
        rel = str(root.relative_to(artifacts_root)) if root != artifacts_root else "."
        run = runs.setdefault(root, RunFolder(root, rel, []))
        run.event_files.append(file)
    return sorted(runs.values(), key=lambda r: (_name_time(r), r.relative))


def _name_time(run: RunFolder) -> float:
    """The event files' creation time, from their names (events.out.tfevents.<time>.<host>...)."""
    times = []
    for file in run.event_files:
        match = re.match(r"events\.out\.tfevents\.(\d+(?:\.\d+)?)", file.name)
        if match:
            times.append(float(match.group(1)))
    return min(times) if times else 0.0


# ---------------------------------------------------------------------------------------------
# params (Isaac Lab's dumps; they may carry python tags, so unknown tags load as plain data)


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    class _Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def _any(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    _Loader.add_multi_constructor("", _any)
    try:
        data = yaml.load(path.read_text(errors="replace"), Loader=_Loader)  # noqa: S506 - safe subclass
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _get(doc: Mapping[str, Any], *keys: str) -> Any:
    value: Any = doc
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


# ---------------------------------------------------------------------------------------------
# the entry point


def read_training(
    artifacts_root: Path,
    *,
    library: str | None = None,
    num_envs: int | None = None,
    world_size: int = 1,
    wall_window: tuple[float, float] | None = None,
    library_version: str | None = None,
    warmup_samples: int | None = None,
    warmup_fraction: float = 0.1,
) -> TrainingResult:
    """Env-steps, env-steps/s, reward and their curves of the training(s) under artifacts_root.

    library: the RL library (detected from tags and paths when None). num_envs: environments per
    process (params/env.yaml when None). world_size: processes of the job (GPUs × nodes); applied
    where the library logs rank 0's share only. wall_window: the benchmark step's (start, end) in
    epoch seconds; run folders whose events fall outside it are not this step's (without it only
    the newest run folder counts), and it times the run when the tags cannot.
    """
    if world_size < 1:
        raise MetricsError(f"world_size must be at least 1, not {world_size}")
    folders = find_run_folders(artifacts_root)
    skipped: dict[str, str] = {}
    loaded: list[tuple[RunFolder, Scalars, dict[str, str]]] = []
    for run in folders:
        scalars, origin, aux = _read_run(run, artifacts_root)
        run.aux_files = aux
        if not scalars:
            skipped[run.relative] = "no scalar summaries in its event files"
            continue
        walls = [s.wall_time for values in scalars.values() for s in values]
        run.first_wall, run.last_wall = min(walls), max(walls)
        loaded.append((run, scalars, origin))
    if not loaded:
        raise MetricsError(
            f"no training events under {artifacts_root}",
            "is this the run's artifacts folder? (expected logs/<library>/... with event files)",
        )
    chosen = _choose(loaded, wall_window, skipped)
    libs = {library or detect_library(scalars, run.path) for run, scalars, _ in chosen}
    libs.discard(None)
    if len(libs) != 1:
        names = ", ".join(sorted(str(x) for x in libs)) or "none"
        raise MetricsError(
            f"cannot tell which RL library wrote {artifacts_root} (found: {names})",
            "pass library= explicitly",
        )
    lib = str(libs.pop())
    if lib not in LIBRARIES:
        raise MetricsError(f"unknown RL library {lib!r}", f"use one of {', '.join(LIBRARIES)}")
    version = library_version or _detect_version(lib, [run for run, _, _ in chosen])
    notes: list[str] = []
    if lib == "sb3" and world_size > 1:
        notes.append("sb3: Isaac Lab runs it in one process (no --distributed); world_size ignored")
        world_size = 1
    derived: list[tuple[RunFolder, _Derived]] = []
    for run, scalars, origin in chosen:
        envs = num_envs or _num_envs(run.path)
        builder = {"rl_games": _rl_games, "rsl_rl": _rsl_rl, "skrl": _skrl, "sb3": _sb3}[lib]
        d = builder(run, scalars, origin, envs, world_size)
        for name, prov in d.provenance.items():
            d.provenance[name] = Provenance(prov.figure, prov.rule, prov.tag, prov.file, lib, version)
        derived.append((run, d))
    return _combine(
        lib,
        version,
        world_size,
        derived,
        skipped,
        notes,
        wall_window,
        warmup_samples,
        warmup_fraction,
    )


def _read_run(run: RunFolder, root: Path) -> tuple[Scalars, dict[str, str], list[Path]]:
    """The run's scalars (all its main event files, oldest first) and which file each tag came from.

    Event files in sub-folders that hold only hparams (torch's add_hparams) are auxiliary: they
    belong to the run but carry no training curve.
    """
    scalars: Scalars = {}
    origin: dict[str, str] = {}
    aux: list[Path] = []
    for file in run.event_files:
        values = read_file_scalars(file)
        if file.parent != run.path and _is_float_name(file.parent.name):
            aux.append(file)
            continue
        for tag, points in values.items():
            scalars.setdefault(tag, []).extend(points)
            origin.setdefault(tag, str(file.relative_to(root)))
    return scalars, origin, aux


def _choose(
    loaded: list[tuple[RunFolder, Scalars, dict[str, str]]],
    window: tuple[float, float] | None,
    skipped: dict[str, str],
) -> list[tuple[RunFolder, Scalars, dict[str, str]]]:
    if window is not None:
        start, end = window
        inside = []
        for item in loaded:
            run = item[0]
            assert run.first_wall is not None and run.last_wall is not None
            if run.last_wall >= start and run.first_wall <= end:
                inside.append(item)
            else:
                skipped[run.relative] = "its events lie outside the benchmark step's wall window"
        if not inside:
            raise MetricsError(
                "no training events inside the benchmark step's wall window",
                "the run folders found: " + ", ".join(i[0].relative for i in loaded),
            )
        return inside
    newest = max(loaded, key=lambda item: item[0].last_wall or 0.0)
    for run, _, _ in loaded:
        if run is not newest[0]:
            skipped[run.relative] = "an older run folder (no wall window given: only the newest counts)"
    return [newest]


def _num_envs(run_dir: Path) -> int | None:
    """num_envs from Isaac Lab's params/env.yaml (scene.num_envs), else a top-level num_envs."""
    doc = _yaml(run_dir / "params" / "env.yaml")
    return _int(_get(doc, "scene", "num_envs")) or _int(doc.get("num_envs"))


def _detect_version(lib: str, runs: Sequence[RunFolder]) -> str | None:
    """The library version where the artifacts record it (sb3's saved models carry system_info.txt)."""
    if lib != "sb3":
        return None
    for run in runs:
        for model in sorted(run.path.glob("*.zip")):
            try:
                with zipfile.ZipFile(model) as archive:
                    text = archive.read("system_info.txt").decode(errors="replace")
            except (OSError, KeyError, zipfile.BadZipFile):
                continue
            match = re.search(r"Stable-Baselines3:\s*(\S+)", text)
            if match:
                return match.group(1)
    return None


def _file(origin: Mapping[str, str], tag: str | None) -> str | None:
    return origin.get(tag) if tag else None


def _by_step(scalars: Scalars, *tags: str) -> tuple[str | None, dict[int, Scalar]]:
    """(tag found, its latest point per step)."""
    tag = find_tag(scalars, *tags)
    return tag, ({s.step: s for s in scalars[tag]} if tag is not None else {})


# ---------------------------------------------------------------------------------------------
# rl_games 1.6.5 (rl_games/common/a2c_common.py)


def _rl_games_frames_per_epoch(
    d: _Derived,
    epochs_tag: str | None,
    epochs: dict[int, Scalar],
    origin: dict[str, str],
    config: dict[str, Any],
    num_envs: int | None,
    world: int,
) -> tuple[int | None, int]:
    """Frames per epoch F (None: unknown) and the offset: logged frame = (epoch - 1) × F + offset × F."""
    # frames per epoch F: curr_frames × world_size (a2c_common.py:1396), logged on rank 0 only
    # (a2c_common.py:309). Two (frame, epoch) pairs of info/epochs give it exactly.
    frames_per_epoch: int | None = None
    offset = 0
    pairs = sorted((step, int(s.value)) for step, s in epochs.items())
    ratios = {(f2 - f1) / (e2 - e1) for (f1, e1), (f2, e2) in zip(pairs, pairs[1:], strict=False) if e2 > e1}
    if ratios:
        ratio = statistics.median(ratios)
        frames_per_epoch = round(ratio)
        # a2c_continuous logs the frame counted *before* the epoch (a2c_common.py:1385 before
        # :1397); the discrete A2CBase.train logs it after (:1106 then :1114)
        f0, e0 = pairs[0]
        offset = round(f0 / frames_per_epoch - (e0 - 1)) if frames_per_epoch else 0
        d.provenance["frames_per_epoch"] = Provenance(
            "frames_per_epoch",
            "Δframe / Δepoch between info/epochs points (counts every rank)",
            epochs_tag,
            _file(origin, epochs_tag),
        )
    else:
        horizon = _int(config.get("horizon_length"))
        actors = _int(config.get("num_actors")) or num_envs
        if horizon and actors:
            frames_per_epoch = horizon * actors * world
            d.provenance["frames_per_epoch"] = Provenance(
                "frames_per_epoch",
                f"params/agent.yaml horizon_length × num_envs × world_size ({horizon}×{actors}×{world})",
            )
    return frames_per_epoch, offset


def _rl_games_start(agent: Any, F: int, offset: int, logged_frames: list[int], pbt: bool) -> tuple[int | None, str]:
    """The frame this run folder's training started at (None: unknown) and the rule that gave it."""
    resumed = bool(_get(agent, "params", "load_checkpoint"))
    start: int | None
    if not resumed:
        start = 0
        start_rule = "no checkpoint loaded (params/agent.yaml load_checkpoint false): starts at 0"
    else:
        load_path = str(_get(agent, "params", "load_path") or "")
        match = _RL_GAMES_EP.search(Path(load_path).name)
        if match:
            start = int(match.group(1)) * F
            start_rule = f"resumed from {Path(load_path).name}: epoch {match.group(1)} × frames per epoch"
        elif logged_frames and not pbt:
            start = logged_frames[0] - F * offset
            start_rule = "resumed: the first logged frame (the writer logs every epoch)"
        else:
            start = None
            start_rule = ""
    return start, start_rule


def _rl_games_final_checkpoint(run: RunFolder, F: int) -> tuple[int | None, str]:
    """The frame the final checkpoint nn/last_*.pth names (None: no such checkpoint) and its rule."""
    end: int | None = None
    end_rule = ""
    for ckpt in sorted((run.path / "nn").glob("last_*.pth")):
        m = _RL_GAMES_LAST.match(ckpt.name)
        if m:
            value = int(m.group(2)) * (F if m.group(1) == "ep" else 1)
            if end is None or value > end:
                end, end_rule = value, f"final checkpoint nn/{ckpt.name}"
    return end, end_rule


def _rl_games_rewards(
    d: _Derived, scalars: Scalars, origin: dict[str, str], F: int, base: int, end_of: Callable[[int], int]
) -> str | None:
    """Append the reward series to d (rewards/step, else rewards/iter by epoch); the frame-stepped tag or None."""
    reward_tag = find_tag(scalars, "rewards/step")
    if reward_tag is not None:
        for s in scalars[reward_tag]:
            d.rewards.append((s.wall_time, end_of(s.step) - base, s.value))
        d.provenance["reward"] = Provenance(
            "reward",
            "rewards/step: mean of the last games at the epoch's frame",
            reward_tag,
            _file(origin, reward_tag),
        )
    else:
        iter_tag, by_epoch = _by_step(scalars, "rewards/iter")
        for epoch, s in sorted(by_epoch.items()):
            d.rewards.append((s.wall_time, epoch * F - base, s.value))
        if iter_tag:
            d.provenance["reward"] = Provenance(
                "reward", "rewards/iter × frames per epoch", iter_tag, _file(origin, iter_tag)
            )
    return reward_tag


def _rl_games(run: RunFolder, scalars: Scalars, origin: dict[str, str], num_envs: int | None, world: int) -> _Derived:
    d = _Derived()
    agent = _yaml(run.path / "params" / "agent.yaml")
    config = _get(agent, "params", "config") or {}
    pbt = bool(config.get("population_based_training"))
    if pbt:
        # IntervalSummaryWriter (interval_summary_writer.py:47-63): per-tag time throttle, step 0
        # and the first defer_summaries_sec dropped, so logged points are irregular
        d.notes.append("rl_games: population_based_training: points are throttled per tag")
    fps_tag = find_tag(scalars, RL_GAMES_FPS)
    epochs_tag, epochs = _by_step(scalars, "info/epochs")
    frames_per_epoch, offset = _rl_games_frames_per_epoch(d, epochs_tag, epochs, origin, config, num_envs, world)
    if frames_per_epoch is None:
        d.unknown["env_steps"] = "rl_games: frames per epoch unknown (one info/epochs point, no params)"
        return d
    F = frames_per_epoch

    def end_of(frame: int) -> int:  # frames counted once the epoch logged at `frame` finished
        return frame + F * (1 - offset)

    # where this run folder's training started: 0 unless it loaded a checkpoint, whose frame and
    # epoch it continues from (a2c_common.py:666-667, torch_runner.py _restore)
    logged_frames = sorted({s.step for tag, values in scalars.items() if _frame_tag(tag) for s in values})
    start, start_rule = _rl_games_start(agent, F, offset, logged_frames, pbt)
    # where it ended: the final checkpoint rl_games names after the last epoch or frame
    # (a2c_common.py:1453 last_<name>_ep_<N>_rew_..., :1463 last_<name>_frame_<F>_...);
    # the writer is never closed, so the last epochs' events may be missing from the file
    end, end_rule = _rl_games_final_checkpoint(run, F)
    last_logged = end_of(logged_frames[-1]) if logged_frames else None
    if end is None and last_logged is not None:
        end, end_rule = last_logged, "last logged frame + one epoch (no final checkpoint: lower bound)"
        d.env_steps_exact = False
    elif end is not None and last_logged is not None and last_logged > end:
        end, end_rule = last_logged, "last logged frame + one epoch"
    if start is None or end is None:
        d.unknown["env_steps"] = (
            "rl_games: resumed from a checkpoint whose epoch is not recorded"
            if start is None
            else "rl_games: no frame-stepped tag logged"
        )
    else:
        d.env_steps = end - start
        d.provenance["env_steps"] = Provenance(
            "env_steps", f"{end_rule} minus start ({start_rule})", fps_tag, _file(origin, fps_tag)
        )
    base = start or 0
    # rate: Δframes / Δwall between logged epochs. The library's own "fps total" (curr_frames /
    # (play + update time), a2c_common.py:386, all ranks) leaves out the time between epochs, and
    # under PBT's throttled writer the epochs that get logged are the slow ones (a tag is written
    # once its interval has passed, so a long epoch is likelier to cross it)
    if fps_tag is not None:
        for s in scalars[fps_tag]:
            d.marks.append((s.wall_time, end_of(s.step) - base))
            if s.value > 0 and math.isfinite(s.value):
                d.library_rates.append(s.value)
        first = scalars[fps_tag][0] if scalars[fps_tag] else None
        if first is not None and end_of(first.step) - base == F and first.value > 0:
            d.first_seconds = F / first.value
        d.provenance["env_steps_per_s"] = Provenance(
            "env_steps_per_s",
            "Δ(frame + one epoch) / Δwall time between logged epochs",
            fps_tag,
            _file(origin, fps_tag),
        )
    else:
        d.unknown["env_steps_per_s"] = f"rl_games: {RL_GAMES_FPS} not logged"
    reward_tag = _rl_games_rewards(d, scalars, origin, F, base, end_of)
    lengths_tag, lengths = _by_step(scalars, "episode_lengths/step")
    fps_by_frame = {s.step: s for s in scalars[fps_tag]} if fps_tag else {}
    rewards_by_frame = {s.step: s for s in scalars[reward_tag]} if reward_tag else {}
    for frame in sorted(fps_by_frame.keys() | rewards_by_frame.keys()):
        anchor = fps_by_frame.get(frame) or rewards_by_frame[frame]
        epoch_point = epochs.get(frame)
        d.points.append(
            Point(
                iteration=int(epoch_point.value) if epoch_point else round((frame / F) + 1 - offset),
                env_steps=end_of(frame) - base,
                reward=rewards_by_frame[frame].value if frame in rewards_by_frame else None,
                episode_length=lengths[frame].value if frame in lengths else None,
                wall_time=anchor.wall_time,
            )
        )
    _fill_rates(d)
    return d


def _frame_tag(tag: str) -> bool:
    """rl_games tags stepped by frame (not by epoch: */iter, nor by seconds: */time)."""
    return not (tag.endswith("/iter") or tag.endswith("/time"))


# ---------------------------------------------------------------------------------------------
# rsl_rl 5.5.1 (rsl_rl/utils/logger.py, rsl_rl/runners/on_policy_runner.py)


def _rsl_rl(run: RunFolder, scalars: Scalars, origin: dict[str, str], num_envs: int | None, world: int) -> _Derived:
    d = _Derived()
    fps_tag, fps = _by_step(scalars, "Perf/total_fps")
    coll_tag, coll = _by_step(scalars, *RSL_COLLECTION)
    _, learn = _by_step(scalars, "Perf/learning_time")
    if fps_tag is None:
        d.unknown["env_steps"] = "rsl_rl: Perf/total_fps not logged"
        d.unknown["env_steps_per_s"] = d.unknown["env_steps"]
        return d
    # steps per iteration S = num_steps_per_env × num_envs × world_size (logger.py:176), logged
    # by rank 0 only (logger.py:67); total_fps = int(S / (collection + learning)) (logger.py:214)
    agent = _yaml(run.path / "params" / "agent.yaml")
    steps_per_env = _int(agent.get("num_steps_per_env"))
    per_iteration: int | None = None
    if steps_per_env and num_envs:
        per_iteration = steps_per_env * num_envs * world
        rule = f"params: num_steps_per_env × num_envs × world_size ({steps_per_env}×{num_envs}×{world})"
    estimates = [fps[it].value * (coll[it].value + learn[it].value) for it in fps if it in coll and it in learn]
    estimates = [e for e in estimates if math.isfinite(e) and e > 0]
    if estimates:
        estimate = statistics.median(estimates)
        if per_iteration is None:
            per_iteration = round(estimate)
            rule = "median(total_fps × (collection + learning time)); total_fps is truncated to int"
        elif abs(estimate - per_iteration) > 0.02 * per_iteration:
            # rsl_rl before 2.3 counted rank 0's envs only in total_fps (see the contract page)
            d.notes.append(
                f"rsl_rl: params give {per_iteration} steps per iteration but total_fps × time gives "
                f"{estimate:.0f}; the logged rate is used as logged"
            )
    if per_iteration is None:
        d.unknown["env_steps"] = "rsl_rl: steps per iteration unknown (no params, no timing tags)"
        return d
    d.provenance["steps_per_iteration"] = Provenance("steps_per_iteration", rule)
    # step = the learning iteration; a resumed runner starts at the checkpoint's iteration, which
    # it runs again (on_policy_runner.py:77 start_it = current_learning_iteration, set by load()
    # at :160), so this folder ran one iteration per logged step, whatever the first number is
    iterations = sorted(fps)
    first = iterations[0]
    d.env_steps = len(iterations) * per_iteration
    d.provenance["env_steps"] = Provenance(
        "env_steps",
        f"{len(iterations)} logged iterations ({first}…{iterations[-1]}) × steps per iteration",
        fps_tag,
        _file(origin, fps_tag),
    )
    if iterations[-1] - first + 1 != len(iterations):
        d.notes.append("rsl_rl: iterations missing from the events; env-steps count logged ones")
        d.env_steps_exact = False
    # rate: Δsteps / Δwall between iterations' events; the library's own figure (S / (collection +
    # learning time)) leaves out logging and checkpoint saves between iterations
    for index, it in enumerate(iterations):
        d.marks.append((fps[it].wall_time, (index + 1) * per_iteration))
        seconds = (coll[it].value + learn[it].value) if it in coll and it in learn else 0.0
        if seconds > 0:
            d.library_rates.append(per_iteration / seconds)
            if index == 0:
                d.first_seconds = seconds
    d.provenance["env_steps_per_s"] = Provenance(
        "env_steps_per_s",
        "Δ(iterations × steps per iteration) / Δwall time between iterations",
        fps_tag,
        _file(origin, fps_tag),
    )
    reward_tag, rewards = _by_step(scalars, "Train/mean_reward")
    _, lengths = _by_step(scalars, "Train/mean_episode_length")
    position = {it: index for index, it in enumerate(iterations)}
    for it, s in sorted(rewards.items()):
        if it in position:
            d.rewards.append((s.wall_time, (position[it] + 1) * per_iteration, s.value))
    if reward_tag:
        d.provenance["reward"] = Provenance(
            "reward",
            "Train/mean_reward: mean of the last 100 finished episodes (logger.py:225)",
            reward_tag,
            _file(origin, reward_tag),
        )
    for index, it in enumerate(iterations):
        d.points.append(
            Point(
                iteration=it,
                env_steps=(index + 1) * per_iteration,
                reward=rewards[it].value if it in rewards else None,
                episode_length=lengths[it].value if it in lengths else None,
                wall_time=fps[it].wall_time,
            )
        )
    _fill_rates(d)
    return d


# ---------------------------------------------------------------------------------------------
# skrl 2.1.1 (skrl/agents/torch/base.py, skrl/trainers/torch/base.py)


def _skrl(run: RunFolder, scalars: Scalars, origin: dict[str, str], num_envs: int | None, world: int) -> _Derived:
    d = _Derived()
    if not num_envs:
        d.unknown["env_steps"] = "skrl: num_envs unknown (pass num_envs or keep params/env.yaml)"
        d.unknown["env_steps_per_s"] = d.unknown["env_steps"]
        return d
    # every write puts all tracked tags at step = timesteps done (post_interaction increments the
    # loop's 0-based timestep first, base.py:466; writes when step % write_interval == 0, :483);
    # one timestep steps each of rank 0's envs once, and only rank 0 writes (base.py:200)
    per_step = num_envs * world
    writes: dict[int, float] = {}
    for values in scalars.values():
        for s in values:
            writes[s.step] = max(writes.get(s.step, 0.0), s.wall_time)
    anchor = find_tag(scalars, SKRL_ANY_WRITE) or max(scalars, key=lambda t: len(scalars[t]))
    steps = sorted(writes)
    last = steps[-1]
    agent = _yaml(run.path / "params" / "agent.yaml")
    timesteps = _int(_get(agent, "trainer", "timesteps"))
    interval = steps[1] - steps[0] if len(steps) > 1 else None
    checkpoints = [
        int(p.stem.split("_")[1])
        for p in (run.path / "checkpoints").glob("agent_*.pt")
        if p.stem.split("_")[1].isdigit()
    ]
    done = max([last, *checkpoints])
    rule = f"last write's timestep {last} × num_envs × world_size ({num_envs}×{world})"
    if timesteps and done <= timesteps and (interval is None or timesteps - done < interval):
        # the trainer runs exactly trainer.timesteps (base.py train loop); the last write may fall
        # short of it by less than one write interval
        done = timesteps
        rule = (
            f"params/agent.yaml trainer.timesteps {timesteps} (last write at {last}) × num_envs × "
            f"world_size ({num_envs}×{world})"
        )
    elif done > last:
        rule = f"last checkpoint's timestep {done} × num_envs × world_size ({num_envs}×{world})"
    if timesteps and done < timesteps - (interval or 0):
        d.notes.append(f"skrl: stopped at timestep {done} of {timesteps}")
    d.env_steps = done * per_step
    d.provenance["env_steps"] = Provenance("env_steps", rule, anchor, _file(origin, anchor))
    d.marks = [(writes[step], step * per_step) for step in steps]
    d.provenance["env_steps_per_s"] = Provenance(
        "env_steps_per_s",
        "Δ(timestep × num_envs × world_size) / Δwall time between consecutive writes (any tag)",
        anchor,
        _file(origin, anchor),
    )
    reward_tag, rewards = _by_step(scalars, SKRL_REWARD)
    _, lengths = _by_step(scalars, "Episode / Total timesteps (mean)")
    if reward_tag is not None:
        for step, s in sorted(rewards.items()):
            d.rewards.append((s.wall_time, step * per_step, s.value))
        d.provenance["reward"] = Provenance(
            "reward",
            "Reward / Total reward (mean): written only at writes where an episode had ended (base.py:383)",
            reward_tag,
            _file(origin, reward_tag),
        )
        if len(rewards) < len(steps) / 2:
            d.notes.append(
                f"skrl: total reward at {len(rewards)} of {len(steps)} writes (episodes longer than "
                "the write interval end between writes)"
            )
    for step in steps:
        d.points.append(
            Point(
                iteration=step,
                env_steps=step * per_step,
                reward=rewards[step].value if step in rewards else None,
                episode_length=lengths[step].value if step in lengths else None,
                wall_time=writes[step],
            )
        )
    _fill_rates(d)
    return d


# ---------------------------------------------------------------------------------------------
# stable-baselines3 2.9.2 (stable_baselines3/common/on_policy_algorithm.py, callbacks.py)


def _sb3(run: RunFolder, scalars: Scalars, origin: dict[str, str], num_envs: int | None, world: int) -> _Derived:
    d = _Derived()
    # every dump is at step = num_timesteps, which counts every env of the process
    # (on_policy_algorithm.py:298); Isaac Lab's train.py passes log_interval=None and dumps through
    # LogEveryNTimesteps (callbacks.py:606) every --log_interval timesteps (sb3/train.py:207-215)
    writes: dict[int, float] = {}
    for values in scalars.values():
        for s in values:
            writes[s.step] = max(writes.get(s.step, 0.0), s.wall_time)
    steps = sorted(writes)
    fps_tag, fps = _by_step(scalars, "time/fps")
    anchor = fps_tag or max(scalars, key=lambda t: len(scalars[t]))
    last = steps[-1]
    agent = _yaml(run.path / "params" / "agent.yaml")
    total = _int(agent.get("n_timesteps"))
    n_steps = _int(agent.get("n_steps"))
    saved = [int(m.group(1)) for p in run.path.glob("model_*_steps.zip") if (m := _SB3_STEPS.match(p.name))]
    finished = (run.path / "model.zip").exists()  # saved after learn() returns (sb3/train.py:218)
    done = max([last, *saved])
    rule = "last dump's num_timesteps"
    if finished and total and n_steps and num_envs:
        # learn() collects whole rollouts of n_steps × n_envs until num_timesteps ≥ total
        rollout = n_steps * num_envs
        final = math.ceil(total / rollout) * rollout
        if final >= done:
            done = final
            rule = (
                f"finished (model.zip): ceil(n_timesteps / (n_steps × num_envs)) rollouts "
                f"({total}, {n_steps}×{num_envs})"
            )
    elif not finished:
        d.env_steps_exact = False
        rule += " (no model.zip: the run did not finish, lower bound)"
    d.env_steps = done
    d.provenance["env_steps"] = Provenance("env_steps", rule, anchor, _file(origin, anchor))
    d.marks = [(writes[step], step) for step in steps]
    if steps and steps[0] in fps and fps[steps[0]].value > 0:
        # time/fps at the first dump is steps / seconds since learn() started (:287)
        d.first_seconds = steps[0] / fps[steps[0]].value
    d.provenance["env_steps_per_s"] = Provenance(
        "env_steps_per_s",
        "Δnum_timesteps / Δwall time between dumps (time/fps is a since-start average)",
        anchor,
        _file(origin, anchor),
    )
    reward_tag, rewards = _by_step(scalars, "rollout/ep_rew_mean")
    _, lengths = _by_step(scalars, "rollout/ep_len_mean")
    for step, s in sorted(rewards.items()):
        d.rewards.append((s.wall_time, step, s.value))
    if reward_tag:
        d.provenance["reward"] = Provenance(
            "reward",
            "rollout/ep_rew_mean: mean of the last 100 episodes at each dump",
            reward_tag,
            _file(origin, reward_tag),
        )
    for index, step in enumerate(steps):
        d.points.append(
            Point(
                iteration=index + 1,
                env_steps=step,
                reward=rewards[step].value if step in rewards else None,
                episode_length=lengths[step].value if step in lengths else None,
                wall_time=writes[step],
            )
        )
    _fill_rates(d)
    return d


def _intervals(d: _Derived) -> list[tuple[float, int, int, float]]:
    """(wall, env-steps at its end, env-steps in it, seconds) between consecutive logged points."""
    out: list[tuple[float, int, int, float]] = []
    if d.marks and d.first_seconds and d.first_seconds > 0:
        wall, steps = d.marks[0]
        out.append((wall, steps, steps, d.first_seconds))
    for (w0, s0), (w1, s1) in zip(d.marks, d.marks[1:], strict=False):
        if w1 > w0 and s1 > s0:
            out.append((w1, s1, s1 - s0, w1 - w0))
    return out


def _fill_rates(d: _Derived) -> None:
    """Points get the rate of the interval that ends at them."""
    by_wall = {wall: steps / seconds for wall, _, steps, seconds in _intervals(d)}
    d.points = [
        Point(p.iteration, p.env_steps, by_wall.get(p.wall_time or -1.0), p.reward, p.episode_length, p.wall_time)
        for p in d.points
    ]


# ---------------------------------------------------------------------------------------------
# several run folders → one benchmark step


def _overall_rate(
    stats: ThroughputStats | None,
    intervals: list[tuple[float, int, int, float]],
    env_steps: int | None,
    window: tuple[float, float] | None,
    multi: bool,
    lib: str,
    version: str | None,
    provenance: dict[str, Provenance],
) -> tuple[float | None, tuple[float, float, int] | None]:
    """The run's env-steps/s (after warm-up, else over the step's wall window) and its timed window."""
    rate: float | None = None
    timed_window: tuple[float, float, int] | None = None
    if stats is not None and intervals:
        kept = intervals[stats.dropped :]
        seconds = sum(s for _, _, _, s in kept)
        rate = sum(n for _, _, n, _ in kept) / seconds if seconds > 0 else None
        if kept and not multi:
            timed_window = (kept[0][0] - kept[0][3], kept[-1][0], sum(n for _, _, n, _ in kept))
        provenance["rate"] = Provenance(
            "rate",
            f"Σ env-steps / Σ seconds over the intervals after warm-up ({stats.warmup_rule})",
            library=lib,
            library_version=version,
        )
    elif env_steps and window is not None and window[1] > window[0]:
        rate = env_steps / (window[1] - window[0])
        provenance["rate"] = Provenance(
            "rate",
            "env-steps / the benchmark step's wall window (tags give no timing; includes start-up)",
            library=lib,
            library_version=version,
        )
    return rate, timed_window


def _combine(
    lib: str,
    version: str | None,
    world: int,
    derived: list[tuple[RunFolder, _Derived]],
    skipped: dict[str, str],
    notes: list[str],
    window: tuple[float, float] | None,
    warmup_samples: int | None,
    warmup_fraction: float,
) -> TrainingResult:
    provenance: dict[str, Provenance] = {}
    unknown: dict[str, str] = {}
    reward_curve: list[CurvePoint] = []
    rate_curve: list[CurvePoint] = []
    intervals: list[tuple[float, int, int, float]] = []
    points: list[Point] = []
    library_rates: list[float] = []
    env_steps: int | None = 0
    offset = 0
    multi = len(derived) > 1
    for run, d in derived:
        notes.extend(f"{run.relative}: {n}" if multi else n for n in d.notes)
        for name, prov in d.provenance.items():
            key = f"{name}[{run.relative}]" if multi else name
            provenance[key] = prov
        for name, reason in d.unknown.items():
            unknown[name] = f"{run.relative}: {reason}" if multi else reason
        if d.env_steps is None or env_steps is None:
            env_steps = None
        else:
            env_steps += d.env_steps
        for wall, steps, value in d.rewards:
            reward_curve.append((wall, offset + steps, value))
        library_rates.extend(d.library_rates)
        for wall, steps, n, seconds in _intervals(d):
            intervals.append((wall, offset + steps, n, seconds))
            rate_curve.append((wall, offset + steps, n / seconds))
        points.extend(
            Point(
                p.iteration,
                offset + p.env_steps if p.env_steps is not None else None,
                p.env_steps_per_s,
                p.reward,
                p.episode_length,
                p.wall_time,
            )
            for p in d.points
        )
        offset += d.env_steps or 0
        if not d.env_steps_exact:
            notes.append(f"{run.relative}: env-steps are a lower bound")
    stats = throughput_stats(
        [n / s for _, _, n, s in intervals],
        warmup_samples=warmup_samples,
        warmup_fraction=warmup_fraction,
    )
    library_stats = throughput_stats(library_rates, warmup_samples=warmup_samples, warmup_fraction=warmup_fraction)
    rate, timed_window = _overall_rate(stats, intervals, env_steps, window, multi, lib, version, provenance)
    if rate is None:
        unknown.setdefault("env_steps_per_s", "no timed interval in the events and no wall window")
    if env_steps is None:
        unknown.setdefault("env_steps", "not derivable")
    final_reward = reward_curve[-1][2] if reward_curve else None
    if final_reward is None:
        unknown.setdefault("reward", f"{lib}: no reward tag in the events")
    return TrainingResult(
        library=lib,
        library_version=version,
        world_size=world,
        runs=[run.relative for run, _ in derived],
        env_steps=env_steps,
        throughput=stats,
        rate=rate,
        final_reward=final_reward,
        reward_curve=reward_curve,
        rate_curve=rate_curve,
        provenance=provenance,
        unknown=unknown,
        skipped=skipped,
        notes=notes,
        points=points,
        library_throughput=library_stats,
        timed_window=timed_window,
        first_interval_start=min((w - s for w, _, _, s in intervals), default=None),
        first_iteration_s=next((d.first_seconds for _, d in derived if d.first_seconds), None)
        if lib in ("rsl_rl", "rl_games")
        else None,
    )
