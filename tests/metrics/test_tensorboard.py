"""Event files written by tensorboardX's real SummaryWriter, read back (what the tags mean: tests/metrics/test_real_libraries.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lambdabench.metrics import MetricsError
from lambdabench.metrics.tensorboard import detect_library, iter_records, read_scalars

T0 = 1_700_000_000.0

Write = Callable[[str, float, int, float], None]


def write_events(logdir: Path, body: Callable[[Write], None], *, verbatim: bool = True) -> Path:
    """Run body against a real tensorboardX writer and return the folder.

    verbatim=True writes tags unchanged, as torch.utils.tensorboard (used by rl_games, rsl_rl, skrl
    and sb3) does; verbatim=False goes through add_scalar, which rewrites spaces to "_".
    """
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.summary_pb2 import Summary

    writer = SummaryWriter(logdir=str(logdir))

    def add(tag: str, value: float, step: int, wall: float) -> None:
        if verbatim:
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            writer._get_file_writer().add_summary(summary, step, wall)
        else:
            writer.add_scalar(tag, value, global_step=step, walltime=wall)

    body(add)
    writer.close()
    return logdir


def test_detect_library_from_tags_and_path() -> None:
    assert detect_library(["rewards/iter"]) == "rl_games"
    assert detect_library(["Perf/total_fps"]) == "rsl_rl"
    assert detect_library(["rollout/ep_rew_mean"]) == "sb3"
    assert detect_library(["Reward / Total reward (mean)"]) == "skrl"
    assert detect_library(["custom"], Path("/x/logs/rsl_rl/exp/run")) == "rsl_rl"
    assert detect_library(["custom"]) is None


def test_corrupt_record_is_a_clean_error_and_truncation_is_tolerated(tmp_path: Path) -> None:
    def body(add: Write) -> None:
        for it in range(3):
            add("Perf/total_fps", 10.0, it, T0 + it)

    logdir = write_events(tmp_path / "c", body)
    (event_file,) = logdir.glob("events.out.tfevents.*")
    data = event_file.read_bytes()
    records = list(iter_records(event_file))
    assert len(records) == 4  # file_version header + 3 scalars

    event_file.write_bytes(data[:-3])  # a writer killed mid-record
    assert len(read_scalars(event_file)["Perf/total_fps"]) == 2

    damaged = bytearray(data)
    damaged[-6] ^= 0xFF  # flip a payload byte of the last record
    event_file.write_bytes(bytes(damaged))
    with pytest.raises(MetricsError, match="bad record checksum"):
        read_scalars(event_file)
