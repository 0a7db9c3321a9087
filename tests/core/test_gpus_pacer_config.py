"""GPU name resolution, the shared pacer, settings precedence and redaction, the SSH key."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from lambdabench.cloud.gpus import parse_gpu_list, resolve_gpu
from lambdabench.cloud.models import InstanceType
from lambdabench.cloud.pacing import Pacer
from lambdabench.config import Settings, parse_env_file
from lambdabench.errors import ConfigError, UsageError
from lambdabench.secrets import Secret, redact
from lambdabench.sshkeys import ensure_local_key

TYPES = [
    InstanceType(n, gpus=int(n.split("_")[1].rstrip("x")) if n.startswith("gpu") else 0)
    for n in [
        "gpu_1x_a10",
        "gpu_1x_a100",
        "gpu_1x_a100_sxm4",
        "gpu_8x_a100_80gb_sxm4",
        "gpu_1x_h100_pcie",
        "gpu_1x_h100_sxm5",
        "gpu_8x_h100_sxm5",
        "gpu_1x_gh200",
        "gpu_8x_b200_sxm6",
        "cpu_4x_general",
        "gpu_2x_x1_alpha",
        "gpu_2x_x1_beta",
    ]
]


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("a10", "gpu_1x_a10"),
        ("A10", "gpu_1x_a10"),
        ("a100", "gpu_1x_a100"),
        ("a100-sxm4", "gpu_1x_a100_sxm4"),
        ("8xa100", "gpu_8x_a100_80gb_sxm4"),
        ("8xa100-80gb", "gpu_8x_a100_80gb_sxm4"),
        ("a100-80gb", "gpu_8x_a100_80gb_sxm4"),
        ("h100", "gpu_1x_h100_sxm5"),
        ("h100-pcie", "gpu_1x_h100_pcie"),
        ("8xh100", "gpu_8x_h100_sxm5"),
        ("8x h100", "gpu_8x_h100_sxm5"),
        ("gh200", "gpu_1x_gh200"),
        ("8xb200", "gpu_8x_b200_sxm6"),
        ("b200", "gpu_8x_b200_sxm6"),
        ("gpu_1x_h100_pcie", "gpu_1x_h100_pcie"),
        ("1xa10", "gpu_1x_a10"),
    ],
)
def test_resolve(spec: str, name: str) -> None:
    assert resolve_gpu(spec, TYPES).name == name


@pytest.mark.parametrize("spec", ["v100", "b300", "4xh100", "", "a10;rm -rf /", "h100-sxm9"])
def test_unknown_lists_choices(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_gpu(spec, TYPES)
    assert "a10" in info.value.one_line() and "\n" not in info.value.one_line()


def test_ambiguous_lists_both() -> None:
    with pytest.raises(UsageError, match="ambiguous") as info:
        resolve_gpu("2xx1", TYPES)
    assert "gpu_2x_x1_alpha" in info.value.one_line() and "gpu_2x_x1_beta" in info.value.one_line()


def test_gpu_list() -> None:
    assert parse_gpu_list("a10, a100,8xh100") == ["a10", "a100", "8xh100"]
    for bad in ["", "a10,,a100", ","]:
        with pytest.raises(UsageError):
            parse_gpu_list(bad)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, s: float) -> None:
        with self.lock:
            self.now += s


def test_pacer_spaces_requests_and_launches() -> None:
    t = FakeTime()
    p = Pacer(1.0, 12.0, clock=t.clock, sleep=t.sleep)
    sent = []
    for launch in [True, False, True, True]:
        p.acquire(launch=launch)
        sent.append((t.now, launch))
    launches = [ts for ts, is_launch in sent if is_launch]
    assert all(b - a >= 12.0 for a, b in zip(launches, launches[1:], strict=False))
    assert all(b - a >= 1.0 for (a, _), (b, _) in zip(sent, sent[1:], strict=False))


def test_pacer_hold_pushes_everyone_back() -> None:
    t = FakeTime()
    p = Pacer(1.0, 12.0, clock=t.clock, sleep=t.sleep)
    p.acquire()
    p.hold(60)
    start = t.now
    p.acquire()
    assert t.now - start >= 60


def test_pacer_threads_never_overlap_real_time() -> None:
    """Four threads on the real clock: slots at least an interval apart, and nobody sends before its slot.

    What a thread does after its slot (and how late it is woken) is the scheduler's: under load a woken
    thread may run just before one woken earlier, so the gaps between wake-ups are not the invariant.
    """
    import time

    seen = threading.local()

    def clock() -> float:
        seen.now = time.monotonic()  # the `now` this thread's acquire() read, to place its slot
        return float(seen.now)

    p = Pacer(0.02, 0.0, clock=clock)
    taken: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            waited = p.acquire()
            woke = time.monotonic()
            with lock:
                taken.append((seen.now + waited, woke))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    slots = sorted(slot for slot, _ in taken)
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert len(slots) == 20 and min(gaps) >= 0.02 - 1e-9, gaps
    # time.sleep never returns early (a monotonic deadline); the slack is float rounding, not load
    assert all(woke >= slot - 1e-6 for slot, woke in taken), taken


def test_settings_precedence(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    (home / ".lambda_cloud").mkdir()
    (home / ".lambda_cloud" / "lambda_keys").write_text("api_key = from-skypilot-file\n")
    assert Settings.load(env={"HOME": str(home)}, cwd=tmp_path).api_key.reveal() == "from-skypilot-file"  # type: ignore[union-attr]
    cfg = home / ".config" / "lambdabench"
    cfg.mkdir(parents=True)
    (cfg / "config.env").write_text("LAMBDA_API_KEY=from-config-file\nLAMBDABENCH_SSH_USER=cfguser\n")
    s = Settings.load(env={"HOME": str(home)}, cwd=tmp_path)
    assert s.api_key.reveal() == "from-config-file" and s.ssh_user == "cfguser"  # type: ignore[union-attr]
    (tmp_path / ".env").write_text("export LAMBDA_API_KEY='from-dotenv'  \n# comment\nNGC_API_KEY=\"ngc-dotenv-123\"\n")
    s = Settings.load(env={"HOME": str(home)}, cwd=tmp_path)
    assert s.api_key.reveal() == "from-dotenv" and s.sources["LAMBDA_API_KEY"].endswith(".env")  # type: ignore[union-attr]
    s = Settings.load(env={"HOME": str(home), "LAMBDA_API_KEY": "from-env-var"}, cwd=tmp_path)
    assert s.api_key.reveal() == "from-env-var" and s.ssh_user == "cfguser"  # type: ignore[union-attr]
    shown = {name: value for name, value, _ in s.redacted()}
    assert "from-env-var" not in str(shown) and "ngc-dotenv-123" not in str(shown)
    assert shown["LAMBDA_API_KEY"].startswith("***")


def test_bad_env_line_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "x.env"
    f.write_text("A=1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"x\.env:2"):
        parse_env_file(f)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("LAMBDABENCH_SSH_PORT", "ssh"),
        ("LAMBDABENCH_SSH_PORT", "70000"),
        ("LAMBDABENCH_API_URL", "ftp://x"),
        ("LAMBDABENCH_MIN_REQUEST_INTERVAL", "-1"),
        ("LAMBDABENCH_TIME_SCALE", "0"),
        ("LAMBDABENCH_RETRY_BUDGET", "nan"),
    ],
)
def test_bad_settings_one_line(key: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env={"HOME": str(tmp_path), key: value}, cwd=tmp_path)
    assert key in info.value.one_line()


def test_secret_never_prints() -> None:
    s = Secret("super-secret-value-1234")
    assert "super" not in repr(s) + str(s) + f"{s}" + f"{s!r}"
    assert redact("token super-secret-value-1234 here") == "token *** here"


def test_local_key_generated_once_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "id_ed25519"
    k1 = ensure_local_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert k1.public_key.startswith("ssh-ed25519 ")
    k2 = ensure_local_key(path)
    assert k1 == k2 and k1.registered_name == k2.registered_name
    assert k1.registered_name.startswith("lambdabench-") and len(k1.registered_name) <= 64
    assert k1.fingerprint.startswith("SHA256:")


def test_env_file_values_quotes_and_comments(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text('A="v" # a comment\nB=\'w x\'  #c\nC=plain # c\nD="has # inside"\nE=#empty\nexport F="f"\n')
    assert parse_env_file(f) == {"A": "v", "B": "w x", "C": "plain", "D": "has # inside", "E": "", "F": "f"}
    for bad in ('G="open\n', 'H="v" trailing\n'):
        f.write_text(bad)
        with pytest.raises(ConfigError, match="quotes"):
            parse_env_file(f)
