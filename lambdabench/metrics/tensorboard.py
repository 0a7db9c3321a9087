"""TensorBoard event files of rl_games, rsl_rl, skrl and sb3, read into scalars by tag.

Reader choice: TFRecord framing (u64 length, masked CRC-32C of the length, payload, masked CRC-32C
of the payload) decoded by hand and the payload parsed with tensorboardX's own ``Event`` protobuf.
tensorboardX is already a dependency and its ``crc32c`` module is the one its writer uses, so both
CRCs are verified with the same code that produced them; the `tensorboard` package (and TF's
EventAccumulator) would pull in a large dependency tree for 40 lines of framing.

What each library's tags mean (steps, rates, rewards, world size) is `metrics.training`'s: one reader,
`read_training`.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdabench.metrics import MetricsError

__all__ = [
    "Scalar",
    "canonical_tag",
    "detect_library",
    "find_event_files",
    "find_tag",
    "iter_records",
    "read_file_scalars",
    "read_scalars",
]

EVENT_GLOB = "events.out.tfevents.*"

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
            scalars.setdefault(value.tag, []).append(Scalar(int(event.step), float(event.wall_time), number))
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
