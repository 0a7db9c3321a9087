"""nvidia-smi CSV parsing and summaries, and the on-instance sampler script with a stand-in nvidia-smi."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabench.metrics import MetricsError
from lambdabench.metrics.telemetry import (
    QUERY_FIELDS,
    ParsedTelemetry,
    load_telemetry,
    nvidia_smi_command,
    parse_nvidia_smi_csv,
    per_million_steps,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLER = ROOT / "lambdabench" / "remote" / "telemetry_sampler.sh"
FAKE_BIN = Path(__file__).resolve().parent / "bin"

# Format as printed by nvidia-smi 535/550 for this query (header units in brackets, values with
# units, clocks.sm shown as clocks.current.sm, temperature without unit).
TWO_H100 = """\
timestamp, index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], clocks.current.sm [MHz], temperature.gpu
2025/03/14 10:00:00.000, 0, NVIDIA H100 80GB HBM3, 0 %, 7 MiB, 81559 MiB, 100.00 W, 345 MHz, 31
2025/03/14 10:00:00.002, 1, NVIDIA H100 80GB HBM3, 0 %, 7 MiB, 81559 MiB, 70.00 W, 345 MHz, 29
2025/03/14 10:00:01.000, 0, NVIDIA H100 80GB HBM3, 95 %, 20480 MiB, 81559 MiB, 300.00 W, 1980 MHz, 45
2025/03/14 10:00:01.002, 1, NVIDIA H100 80GB HBM3, 50 %, 10240 MiB, 81559 MiB, 70.00 W, 1980 MHz, 40
2025/03/14 10:00:03.000, 0, NVIDIA H100 80GB HBM3, 97 %, 30720 MiB, 81559 MiB, 500.00 W, 1980 MHz, 52
2025/03/14 10:00:03.002, 1, NVIDIA H100 80GB HBM3, 58 %, 10240 MiB, 81559 MiB, 70.00 W, 1980 MHz, 41
2025/03/14 10:00:04.000, 0, NVIDIA H100 80GB HBM3, 96 %, 30720 MiB, 81559 MiB, 500.00 W, 1980 M
"""

A10_WITH_NA = """\
timestamp, index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], clocks.current.sm [MHz], temperature.gpu
2025/03/14 10:00:00.000, 0, NVIDIA A10, 12 %, 1200 MiB, 23028 MiB, [N/A], 1695 MHz, 33
2025/03/14 10:00:01.000, 0, NVIDIA A10, [N/A], 1300 MiB, 23028 MiB, 60.50 W, 1695 MHz, 34
2025/03/14 10:00:02.000, 0, NVIDIA A10, 20 %, 1250 MiB, 23028 MiB, 61.50 W, [Not Supported], 34
"""

NOHEADER_NOUNITS = """\
2025/03/14 10:00:00.000, 0, NVIDIA A100-SXM4-40GB, 10, 400, 40960, 50.00, 1410, 30
2025/03/14 10:00:02.000, 0, NVIDIA A100-SXM4-40GB, 30, 800, 40960, 150.00, 1410, 31
"""


def test_two_gpus_energy_memory_utilisation() -> None:
    parsed = parse_nvidia_smi_csv(TWO_H100)
    assert parsed.skipped_rows == 1  # the last line was cut off mid-write
    summary = summarize(parsed)
    assert summary.gpu_count == 2 and summary.gpu_names == ["NVIDIA H100 80GB HBM3"]
    gpu0, gpu1 = summary.per_gpu
    # trapezoid: GPU0 (100+300)/2*1 + (300+500)/2*2 = 1000 J; GPU1 70 W for 3 s = 210 J
    assert gpu0.energy_wh == pytest.approx(1000 / 3600)
    assert gpu1.energy_wh == pytest.approx(210 / 3600)
    assert summary.energy_wh == pytest.approx(1210 / 3600)
    assert summary.peak_memory_mib == 30720 and summary.memory_total_mib == 81559
    assert summary.mean_utilization_pct == pytest.approx((0 + 0 + 95 + 50 + 97 + 58) / 6)
    assert gpu0.max_gap_s == pytest.approx(2.0)
    assert summary.duration_s == pytest.approx(3.002)


def test_not_available_readings_are_none_and_left_out() -> None:
    parsed = parse_nvidia_smi_csv(A10_WITH_NA)
    first, second, third = parsed.samples
    assert first.power_w is None and second.utilization_pct is None and third.sm_clock_mhz is None
    summary = summarize(parsed)
    assert summary.mean_utilization_pct == pytest.approx(16.0)
    # only the interval with power on both ends counts: (60.5+61.5)/2 * 1 s
    assert summary.energy_wh == pytest.approx(61.0 / 3600)


def test_headerless_unitless_rows_use_the_query_order() -> None:
    summary = summarize(parse_nvidia_smi_csv(NOHEADER_NOUNITS))
    assert summary.energy_wh == pytest.approx(200.0 / 3600)
    assert summary.peak_memory_mib == 800


def test_window_and_per_million() -> None:
    parsed = parse_nvidia_smi_csv(TWO_H100)
    start = parsed.samples[2].time_s
    windowed = summarize(parsed, start_s=start)
    assert windowed.per_gpu[0].energy_wh == pytest.approx(800 / 3600)
    assert per_million_steps(2.0, 4_000_000) == pytest.approx(0.5)
    assert per_million_steps(2.0, 0) is None and per_million_steps(None, 10) is None


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match="cannot read GPU telemetry"):
        load_telemetry(tmp_path / "nope.csv")


def test_sampler_queries_the_columns_the_parser_reads() -> None:
    text = SAMPLER.read_text()
    assert f'QUERY="{",".join(QUERY_FIELDS)}"' in text
    assert nvidia_smi_command(500)[-1] == "--loop-ms=500"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.lists(
                st.sampled_from(["2025/03/14 10:00:00.000", "0", "7", "[N/A]", "12 %", "1e999 W", "x", '"', ""]),
                max_size=10,
            ).map(", ".join),
        ),
        max_size=20,
    )
)
def test_garbage_csv_never_crashes(lines: list[str]) -> None:
    parsed = parse_nvidia_smi_csv("\n".join(lines))
    assert isinstance(parsed, ParsedTelemetry)
    summary = summarize(parsed)
    assert math.isfinite(summary.energy_wh)
    for sample in parsed.samples:
        assert isinstance(sample.index, int)


def _sh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SAMPLER), *args], env=env, capture_output=True, text=True, timeout=20)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sampler_survives_a_dropped_session_and_stops_by_pidfile(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{FAKE_BIN}:{os.environ['PATH']}"}
    csv_path, pidfile = tmp_path / "art" / "gpu.csv", tmp_path / "run" / "sampler.pid"
    # the "SSH session": a session leader that starts the sampler and keeps running
    session = subprocess.Popen(
        ["sh", "-c", f'sh "{SAMPLER}" start "{csv_path}" "{pidfile}" 100 && exec sleep 60'],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = None
    try:
        assert session.stdout is not None
        assert session.stdout.readline().startswith("sampler started")
        pid = int(pidfile.read_text())
        os.killpg(session.pid, signal.SIGHUP)  # the connection drops
        session.wait(timeout=10)
        time.sleep(0.4)
        assert _alive(pid), "sampler died with its SSH session"
        again = _sh("start", str(csv_path), str(pidfile), "100", env=env)
        assert again.returncode == 0 and "already running" in again.stdout
        assert _sh("status", str(pidfile), env=env).returncode == 0
    finally:
        stopped = _sh("stop", str(pidfile), env=env)
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait()
    assert stopped.returncode == 0
    assert pid is not None and not _alive(pid)
    assert not pidfile.exists()
    assert _sh("stop", str(pidfile), env=env).stdout.strip() == "sampler not running"
    assert _sh("status", str(pidfile), env=env).returncode == 1
    summary = summarize(load_telemetry(csv_path))
    assert summary.gpu_count == 2 and summary.samples >= 4
    assert summary.per_gpu[1].mean_power_w is None  # the stand-in reports [N/A] for GPU 1
    assert summary.per_gpu[0].energy_wh > 0


def test_sampler_without_nvidia_smi_fails_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    if Path("/usr/bin/nvidia-smi").exists():
        pytest.skip("a real nvidia-smi is installed")
    result = _sh("start", str(tmp_path / "a.csv"), str(tmp_path / "a.pid"), env=env)
    assert result.returncode == 3 and "nvidia-smi not found" in result.stderr
    assert _sh("start", "only-one-arg", env=env).returncode == 2


def test_capture_from_a_real_h100() -> None:
    """Seven rows captured by telemetry_sampler.sh from nvidia-smi 580.159.04 on an idle H100."""
    parsed = load_telemetry(Path(__file__).parent / "nvidia_smi_h100_driver580.csv")
    assert parsed.skipped_rows == 0 and len(parsed.samples) == 7
    summary = summarize(parsed)
    assert summary.gpu_names == ["NVIDIA H100 80GB HBM3"] and summary.memory_total_mib == 81559
    assert summary.duration_s == pytest.approx(3.008)
    # ~71.65 W idle for ~3 s
    assert summary.energy_wh == pytest.approx(71.65 * 3.008 / 3600, rel=1e-3)
