"""TensorBoard event files of rl_games, rsl_rl, skrl and sb3, read into one Series.

Reader choice: TFRecord framing (u64 length, masked CRC-32C of the length, payload, masked CRC-32C
of the payload) decoded by hand and the payload parsed with tensorboardX's own ``Event`` protobuf.
tensorboardX is already a dependency and its ``crc32c`` module is the one its writer uses, so both
CRCs are verified with the same code that produced them; the `tensorboard` package (and TF's
EventAccumulator) would pull in a large dependency tree for 40 lines of framing.

How each library maps onto Point (``iteration``, ``env_steps`` = cumulative env-steps at the end of
the iteration, ``env_steps_per_s``):

- rl_games logs ``performance/*`` with step = frames collected *before* the epoch; ``info/epochs``
  maps frames to epochs. env_steps = frame + frames per epoch (the gap to the next frame, or
  ``steps_per_iteration``). Rate = ``performance/step_inference_rl_update_fps`` ("fps total":
  env-steps per second of collection + inference + update, comparable to rsl_rl's total_fps).
- rsl_rl logs ``Perf/total_fps`` per iteration but no step count: steps per iteration is
  ``steps_per_iteration`` if given, else the median of total_fps × (collection + learning time),
  rounded (total_fps is itself int(steps / time), so the estimate is off by well under one step
  per iteration); env_steps = (iteration + 1) × that.
- skrl logs against the trainer timestep (one step of every env): env_steps = timestep ×
  ``num_envs`` (needs num_envs; see ``num_envs_from_params``), rate = Δenv_steps / Δwall-time.
- sb3 logs against ``num_timesteps`` (already counts every env): env_steps = step, rate =
  Δenv_steps / Δwall-time between dumps; ``time/fps`` is an average since start, kept only in raw.
"""

from __future__ import annotations

import math
import re
import statistics
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdabench.metrics import MetricsError, Point, Series

__all__ = [
    "Scalar",
    "canonical_tag",
    "detect_library",
    "find_event_files",
    "find_tag",
    "iter_records",
    "load_series",
    "num_envs_from_params",
    "read_file_scalars",
    "read_scalars",
    "series_from_scalars",
]

EVENT_GLOB = "events.out.tfevents.*"

RL_GAMES_TOTAL_FPS = "performance/step_inference_rl_update_fps"
RSL_COLLECTION_TAGS = ("Perf/collection time", "Perf/collection_time")
SKRL_REWARD = "Reward / Total reward (mean)"
SKRL_EPISODE_LENGTH = "Episode / Total timesteps (mean)"
# torch's SummaryWriter keeps tags verbatim; tensorboardX's rewrites these characters to "_"
_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w\.]")


@dataclass(frozen=True)
class Scalar:
    """One logged scalar value."""

    step: int
    wall_time: float
    value: float


Scalars = dict[str, list[Scalar]]


def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    crc = int(crc32c(data)) & 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def iter_records(path: Path, *, verify_crc: bool = True) -> Iterator[bytes]:
    """Yield the payload of each TFRecord; a truncated last record (run still writing) ends quietly."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise MetricsError(f"cannot open event file {path}: {exc.strerror}") from exc
    with handle:
        offset = 0
        while True:
            header = handle.read(12)
            if len(header) < 12:
                return
            (length,) = struct.unpack("<Q", header[:8])
            (length_crc,) = struct.unpack("<I", header[8:])
            if verify_crc and _masked_crc(header[:8]) != length_crc:
                raise MetricsError(
                    f"corrupt event file {path}: bad length checksum at byte {offset}",
                    "the file is damaged; pull the artifacts again",
                )
            payload = handle.read(length)
            footer = handle.read(4)
            if len(payload) < length or len(footer) < 4:
                return
            if verify_crc and _masked_crc(payload) != struct.unpack("<I", footer)[0]:
                raise MetricsError(
                    f"corrupt event file {path}: bad record checksum at byte {offset}",
                    "the file is damaged; pull the artifacts again",
                )
            offset += 16 + length
            yield payload


def _tensor_scalar(tensor: Any) -> float | None:
    """A one-element TensorProto's value (TF2-style writers and torch's new_style scalars)."""
    dims = [int(d.size) for d in tensor.tensor_shape.dim]
    if math.prod(dims) != 1:
        return None
    for name in ("float_val", "double_val", "int_val", "int64_val", "half_val"):
        values = getattr(tensor, name, None)
        if values:
            return float(values[0])
    content = bytes(tensor.tensor_content)
    # DataType enum: 1 float32, 2 float64, 3 int32, 9 int64
    formats = {1: "<f", 2: "<d", 3: "<i", 9: "<q"}
    fmt = formats.get(int(tensor.dtype))
    if fmt is not None and len(content) == struct.calcsize(fmt):
        return float(struct.unpack(fmt, content)[0])
    return None


def read_file_scalars(path: Path, *, verify_crc: bool = True) -> Scalars:
    """One event file's scalar points per tag, in file order; repeated steps are all kept.

    What counts as a scalar follows TensorBoard's own reader (tensorboard 2.21
    tensorboard/data_compat.py migrate_value, and the scalars plugin): a ``simple_value``, or a
    tensor whose tag's first summary metadata in the file names the "scalars" plugin. Tensors of
    other plugins (pr_curves, hparams, histograms as tensors, text) are not scalars whatever
    numbers they hold.
    """
    from google.protobuf.message import DecodeError
    from tensorboardX.proto.event_pb2 import Event

    scalars: Scalars = {}
    plugins: dict[str, str] = {}
    for payload in iter_records(path, verify_crc=verify_crc):
        event = Event()
        try:
            event.ParseFromString(payload)
        except DecodeError as exc:
            raise MetricsError(f"undecodable event in {path}") from exc
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            # TensorBoard keeps the plugin a tag's first metadata names (later writes omit it)
            if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                number: float | None = float(value.simple_value)
            elif kind == "tensor" and plugins.get(value.tag) == "scalars":
                number = _tensor_scalar(value.tensor)
            else:
                continue
            if number is None:
                continue
            scalars.setdefault(value.tag, []).append(
                Scalar(int(event.step), float(event.wall_time), number)
            )
    return scalars


def read_scalars(path: Path, *, verify_crc: bool = True) -> Scalars:
    """All scalar points of one event file (or of every event file under a folder, oldest first), by tag.

    Points keep file order and repeated steps (``*/time`` tags step by whole seconds, so several
    iterations share a step); readers that want one value per step take the latest.
    """
    files = find_event_files(path) if path.is_dir() else [path]
    scalars: Scalars = {}
    for file in files:
        for tag, values in read_file_scalars(file, verify_crc=verify_crc).items():
            scalars.setdefault(tag, []).extend(values)
    return scalars


def find_event_files(root: Path) -> list[Path]:
    """Event files under root, oldest first (their names carry the creation time)."""
    if not root.exists():
        raise MetricsError(f"no such path: {root}", "check the artifacts folder of the run")
    return sorted(root.rglob(EVENT_GLOB), key=lambda p: (p.name, str(p)))


def detect_library(tags: Sequence[str] | Mapping[str, Any], path: Path | None = None) -> str | None:
    """Which RL library wrote these tags (path components are the fallback)."""
    names = set(tags)
    if any(t.startswith("performance/") for t in names) or "rewards/iter" in names:
        return "rl_games"
    if "Perf/total_fps" in names or any(t.startswith("Train/mean_reward") for t in names):
        return "rsl_rl"
    if "time/fps" in names or any(t.startswith("rollout/") for t in names):
        return "sb3"
    if any(re.match(r"^(Reward|Episode|Loss|Policy|Value|Learning)( / |_/_)", t) for t in names):
        return "skrl"
    if path is not None:
        for part in reversed(path.parts):
            if part in ("rl_games", "rsl_rl", "skrl", "sb3"):
                return part
    return None


def num_envs_from_params(run_dir: Path) -> int | None:
    """num_envs from Isaac Lab's ``params/env.yaml`` (a plain text search: the dump has python tags)."""
    env_yaml = run_dir / "params" / "env.yaml"
    try:
        text = env_yaml.read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"^\s*num_envs:\s*(\d+)\s*$", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def load_series(
    path: Path,
    *,
    library: str | None = None,
    num_envs: int | None = None,
    steps_per_iteration: int | None = None,
    verify_crc: bool = True,
) -> Series:
    """Read the event files at path (a file or a run folder) into one Series."""
    scalars = read_scalars(path, verify_crc=verify_crc)
    if not scalars:
        raise MetricsError(
            f"no scalar summaries in {path}", "is this the run's TensorBoard folder?"
        )
    lib = library or detect_library(scalars, path)
    if lib is None:
        raise MetricsError(f"cannot tell which RL library wrote {path}", "pass library= explicitly")
    if num_envs is None and path.is_dir():
        for folder in (path, *path.parents[:2]):
            num_envs = num_envs_from_params(folder)
            if num_envs:
                break
    return series_from_scalars(
        scalars, lib, num_envs=num_envs, steps_per_iteration=steps_per_iteration
    )


def series_from_scalars(
    scalars: Scalars,
    library: str,
    *,
    num_envs: int | None = None,
    steps_per_iteration: int | None = None,
) -> Series:
    """Map one library's tags onto the common Series."""
    builders = {"rl_games": _rl_games, "rsl_rl": _rsl_rl, "skrl": _skrl, "sb3": _sb3}
    if library not in builders:
        raise MetricsError(f"unknown RL library {library!r}", f"use one of {', '.join(builders)}")
    series = Series(library=library, source="tensorboard")
    series.raw = {tag: [(s.step, s.value) for s in values] for tag, values in scalars.items()}
    builders[library](scalars, series, num_envs, steps_per_iteration)
    return series


def canonical_tag(tag: str) -> str:
    """A tag as tensorboardX's writer stores it (spaces and brackets become "_")."""
    return _INVALID_TAG_CHARACTERS.sub("_", tag).lstrip("/")


def find_tag(tags: Mapping[str, Any] | Sequence[str], *wanted: str) -> str | None:
    """The first wanted tag present, exactly or in tensorboardX's cleaned spelling."""
    present = set(tags)
    for tag in wanted:
        if tag in present:
            return tag
    cleaned = {canonical_tag(t): t for t in present}
    for tag in wanted:
        if canonical_tag(tag) in cleaned:
            return cleaned[canonical_tag(tag)]
    return None


def _by_step(scalars: Scalars, *tags: str) -> dict[int, Scalar]:
    tag = find_tag(scalars, *tags)
    return {s.step: s for s in scalars[tag]} if tag is not None else {}


def _value(table: dict[int, Scalar], step: int) -> float | None:
    scalar = table.get(step)
    return scalar.value if scalar is not None else None


def _rl_games(scalars: Scalars, series: Series, num_envs: int | None, spi: int | None) -> None:
    fps_tag = find_tag(scalars, RL_GAMES_TOTAL_FPS) or find_tag(
        scalars, "performance/step_inference_fps", "performance/step_fps"
    )
    if fps_tag is None:
        # Only reward curves: iterations by epoch, no step count or rate.
        rewards = _by_step(scalars, "rewards/iter")
        lengths = _by_step(scalars, "episode_lengths/iter")
        for epoch in sorted(rewards.keys() | lengths.keys()):
            series.points.append(
                Point(epoch, reward=_value(rewards, epoch), episode_length=_value(lengths, epoch))
            )
        series.notes.append("rl_games: no performance/* tags; env-steps and rate unknown")
        return
    if fps_tag != RL_GAMES_TOTAL_FPS:
        series.notes.append(f"rl_games: rate from {fps_tag} (fps total not logged)")
    fps = scalars[fps_tag]
    frames = [s.step for s in fps]
    epochs = _by_step(scalars, "info/epochs")
    rewards_by_frame = _by_step(scalars, "rewards/step")
    lengths_by_frame = _by_step(scalars, "episode_lengths/step")
    rewards_by_epoch = _by_step(scalars, "rewards/iter")
    lengths_by_epoch = _by_step(scalars, "episode_lengths/iter")
    gaps = [b - a for a, b in zip(frames, frames[1:], strict=False) if b > a]
    default_gap = spi or (int(statistics.median(gaps)) if gaps else None)
    for index, scalar in enumerate(fps):
        frame = scalar.step
        epoch_value = _value(epochs, frame)
        epoch = int(epoch_value) if epoch_value is not None else index + 1
        gap = spi or (frames[index + 1] - frame if index + 1 < len(frames) else default_gap)
        reward = _value(rewards_by_frame, frame)
        if reward is None:
            reward = _value(rewards_by_epoch, epoch)
        length = _value(lengths_by_frame, frame)
        if length is None:
            length = _value(lengths_by_epoch, epoch)
        series.points.append(
            Point(
                iteration=epoch,
                env_steps=frame + gap if gap is not None else None,
                env_steps_per_s=scalar.value,
                reward=reward,
                episode_length=length,
                wall_time=scalar.wall_time,
            )
        )
    series.notes.append(
        "rl_games: env_steps = logged frame (start of epoch) + frames per epoch"
        + (" (given)" if spi else " (gap to the next epoch's frame)")
    )


def _rsl_rl(scalars: Scalars, series: Series, num_envs: int | None, spi: int | None) -> None:
    total = _by_step(scalars, "Perf/total_fps")
    collection_tag = find_tag(scalars, *RSL_COLLECTION_TAGS)
    collection = _by_step(scalars, *RSL_COLLECTION_TAGS)
    learning = _by_step(scalars, "Perf/learning_time")
    rewards = _by_step(scalars, "Train/mean_reward")
    lengths = _by_step(scalars, "Train/mean_episode_length")
    if collection_tag:
        series.notes.append(f"rsl_rl: collection time from {collection_tag!r}")
    if spi is None:
        estimates = [
            total[it].value * (collection[it].value + learning[it].value)
            for it in total
            if it in collection and it in learning
        ]
        estimates = [e for e in estimates if math.isfinite(e) and e > 0]
        if estimates:
            spi = round(statistics.median(estimates))
            series.notes.append(
                f"rsl_rl: {spi} env-steps per iteration, estimated as median(total_fps × "
                "(collection + learning time))"
            )
        else:
            series.notes.append("rsl_rl: steps per iteration unknown; env_steps left empty")
    else:
        series.notes.append(f"rsl_rl: {spi} env-steps per iteration (given)")
    iterations = sorted(total.keys() | rewards.keys())
    for it in iterations:
        anchor = total.get(it) or rewards.get(it)
        series.points.append(
            Point(
                iteration=it,
                env_steps=(it + 1) * spi if spi else None,
                env_steps_per_s=_value(total, it),
                reward=_value(rewards, it),
                episode_length=_value(lengths, it),
                wall_time=anchor.wall_time if anchor else None,
            )
        )


def _rate_from_wall_time(points: list[Point]) -> list[Point]:
    """Fill env_steps_per_s from consecutive (env_steps, wall_time) pairs."""
    out: list[Point] = []
    previous: Point | None = None
    for point in points:
        rate = point.env_steps_per_s
        if (
            rate is None
            and previous is not None
            and point.env_steps is not None
            and previous.env_steps is not None
            and point.wall_time is not None
            and previous.wall_time is not None
            and point.wall_time > previous.wall_time
        ):
            rate = (point.env_steps - previous.env_steps) / (point.wall_time - previous.wall_time)
        out.append(
            Point(
                point.iteration,
                point.env_steps,
                rate,
                point.reward,
                point.episode_length,
                point.wall_time,
            )
        )
        previous = point
    return out


def _skrl(scalars: Scalars, series: Series, num_envs: int | None, spi: int | None) -> None:
    rewards = _by_step(scalars, SKRL_REWARD, "Reward / Instantaneous reward (mean)")
    lengths = _by_step(scalars, SKRL_EPISODE_LENGTH)
    anchors = rewards or lengths or _by_step(scalars, *sorted(scalars))
    points = [
        Point(
            iteration=step,
            env_steps=step * num_envs if num_envs else None,
            reward=_value(rewards, step),
            episode_length=_value(lengths, step),
            wall_time=anchors[step].wall_time,
        )
        for step in sorted(anchors)
    ]
    series.points = _rate_from_wall_time(points)
    if num_envs:
        series.notes.append(
            f"skrl: iteration = trainer timestep; env_steps = timestep × num_envs ({num_envs}); "
            "rate = Δenv_steps / Δwall-time between writes"
        )
    else:
        series.notes.append("skrl: num_envs unknown, so env-steps and rate are left empty")


def _sb3(scalars: Scalars, series: Series, num_envs: int | None, spi: int | None) -> None:
    rewards = _by_step(scalars, "rollout/ep_rew_mean")
    lengths = _by_step(scalars, "rollout/ep_len_mean")
    iterations = _by_step(scalars, "time/iterations")
    fps = _by_step(scalars, "time/fps")
    anchors = fps or rewards or _by_step(scalars, *sorted(scalars))
    points = []
    for index, step in enumerate(sorted(anchors)):
        it = _value(iterations, step)
        points.append(
            Point(
                iteration=int(it) if it is not None else index + 1,
                env_steps=step,
                reward=_value(rewards, step),
                episode_length=_value(lengths, step),
                wall_time=anchors[step].wall_time,
            )
        )
    series.points = _rate_from_wall_time(points)
    series.notes.append(
        "sb3: env_steps = num_timesteps (the logged step); rate = Δenv_steps / Δwall-time "
        "between dumps (time/fps is a since-start average, kept in raw)"
    )
