"""--cache (issue 29 item 2) over real SSH: a filesystem made, mounted at launch, filled by set-up, warm next time;
a stale or missing cache runs cold and never fails the run; gc never deletes it; `cache ls|rm`."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from lambdabench.ledger import Ledger
from lambdabench.simulate import SimProcess, needs_sshd

pytestmark = needs_sshd

IL3 = (
    "sweep",
    "--gpus",
    "a10",
    "--playbook",
    "isaaclab3-train",
    "--set",
    "num_envs=16",
    "--set",
    "max_iterations=2",
    "--max-run-minutes",
    "1500",
    "--cache",
    "il3-cache",
    "--region",
    "us-east-1",
)  # one region: a refused
# launch there is retried there (with failover a run may land elsewhere and, rightly, run cold)


def fetch_lines(simproc: SimProcess, run_id: int) -> list[str]:
    """The simulated uv's own account of each install: how many packages were downloaded, how many came from the cache."""
    run_dir = next((simproc.home / "runs").glob(f"sweep-*/run-{run_id}-*"))
    return [
        ln
        for log in sorted((run_dir / "logs").rglob("*"))
        if log.is_file()
        for ln in log.read_text(errors="replace").splitlines()
        if ln.startswith("Downloaded ")
    ]


def cache_warm(ledger: Ledger, run_id: int) -> float | None:
    return next((m.value for m in ledger.metrics(run_id=run_id) if m.key == "cache_warm"), None)


def argv_calls(host: Path) -> list[list[str]]:
    """What reached the simulated host's command lines (the stand-ins' argv.log)."""
    return [json.loads(ln)["argv"] for ln in (host / "argv.log").read_text().splitlines()]


def restores(argv: list[str]) -> str:
    """The volume archive a `docker run … tar -xzf /archive/<volume>.tgz` restores ('' for any other call)."""
    if argv[:2] != ["docker", "run"] or "-xzf" not in argv:
        return ""
    return argv[-1].rsplit("/", 1)[-1]


def fs_folder(simproc: SimProcess) -> Path:
    return next(simproc.state.glob("lambdabench-sim-*/hosts/filesystems/*"))


def test_a_second_sweep_with_the_same_cache_starts_warm_and_gc_keeps_it(simproc: SimProcess) -> None:
    first = simproc.cli(*IL3, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "--cache il3-cache: will be made in" in first.stderr and "cache cold" in first.stderr
    launches = [r for r in simproc.api("/_sim/requests") if r["path"].endswith("/launch") and r["status"] == 200]
    assert [r["body"].get("file_system_names") for r in launches] == [["il3-cache"]]  # mounted at launch
    [fs] = simproc.api("/file-systems")
    assert fs["name"] == "il3-cache" and fs["bytes_used"] > 0
    second = simproc.cli(*IL3, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "--cache il3-cache: exists in" in second.stderr and "cache warm" in second.stderr
    with Ledger(simproc.home) as ledger:
        one, two = sorted(ledger.runs(), key=lambda r: r.id)
        assert (cache_warm(ledger, one.id), cache_warm(ledger, two.id)) == (0.0, 1.0)
        cold, warm = fetch_lines(simproc, one.id), fetch_lines(simproc, two.id)
    assert cold and cold[0].startswith("Downloaded 1") and " 0 from the cache" in cold[0], cold
    assert warm and warm[0].startswith("Downloaded 0 packages"), warm  # the closure came from the filesystem
    gc = simproc.cli("gc")
    assert gc.returncode == 0, gc.stderr
    assert [f["name"] for f in simproc.api("/file-systems")] == ["il3-cache"]  # gc never deletes a cache
    listed = simproc.cli("cache", "ls", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["name"] == "il3-cache", listed.stderr
    removed = simproc.cli("cache", "rm", "il3-cache")
    assert removed.returncode == 0, removed.stderr
    assert simproc.api("/file-systems") == []
    missing = simproc.cli("cache", "rm", "il3-cache")
    assert missing.returncode != 0 and missing.stderr.count("\n") <= 2 and "cache ls" in missing.stderr
    assert simproc.live() == []


def test_a_stale_or_missing_cache_runs_cold_and_never_fails_the_run(simproc: SimProcess) -> None:
    args = ("sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--cache", "probe-cache", "--region", "us-east-1")
    first = simproc.cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    folder = fs_folder(simproc) / "lambdabench-cache"
    (folder / "LAYOUT").write_text("0\n")  # written by another (older) layout
    stale = simproc.cli(*args)
    assert stale.returncode == 0, stale.stderr[-3000:]
    assert "another layout, moved aside" in stale.stderr
    assert any(p.name.startswith("lambdabench-cache.stale-") for p in fs_folder(simproc).iterdir())
    for p in sorted(fs_folder(simproc).rglob("*"), reverse=True):  # the filesystem's files gone from under it
        p.rmdir() if p.is_dir() else p.unlink()
    fs_folder(simproc).rmdir()
    gone = simproc.cli(*args)
    assert gone.returncode == 0, gone.stderr[-3000:]
    assert "cache not usable" in gone.stderr and "running cold" in gone.stderr
    assert simproc.live() == []


def test_a_cache_in_another_region_runs_cold_and_says_so(simproc: SimProcess) -> None:
    regions = [r["name"] for r in simproc.api("/regions")]
    made = simproc.api("/filesystems", "POST", {"name": "far-cache", "region": regions[-1]})
    assert made["name"] == "far-cache"
    out = simproc.cli(
        "sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--region", regions[0], "--cache", "far-cache"
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"exists in {regions[-1]}" in out.stderr
    assert f"cache far-cache is in {regions[-1]}; launched in {regions[0]}: running cold" in out.stderr
    launch = [r for r in simproc.api("/_sim/requests") if r["path"].endswith("/launch")]
    assert launch and "far-cache" not in json.dumps(launch)  # mounted only where it lives


@pytest.mark.slow  # three Isaac Lab sweeps: about two minutes
def test_the_isaac_sim_base_image_is_pulled_once_then_loaded_from_the_cache(simproc: SimProcess) -> None:
    args = (
        "sweep",
        "--gpus",
        "a10",
        "--playbook",
        "isaaclab-train",
        "--set",
        "max_iterations=3",
        "--set",
        "num_envs=16",
        "--set",
        "isaaclab_version=2",
        "--max-run-minutes",
        "6000",
        "--cache",
        "isaac-cache",
        "--region",
        "us-east-1",
    )
    for _ in range(2):
        out = simproc.cli(*args, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    hosts = sorted(
        simproc.state.glob("lambdabench-sim-*/hosts/hosts/*/docker-timings.jsonl"), key=lambda p: p.stat().st_mtime
    )
    assert len(hosts) == 2, hosts
    first, second = ([json.loads(ln) for ln in p.read_text().splitlines()] for p in hosts)
    isaac_sim = "nvcr.io/nvidia/isaac-sim"
    assert any(e["event"] == "pull" and e["image"].startswith(isaac_sim) for e in first), first
    assert any(e["event"] == "save" and any(i.startswith(isaac_sim) for i in e["images"]) for e in first), first
    assert not any(e["event"] == "pull" and e["image"].startswith(isaac_sim) for e in second), second
    assert any(e["event"] == "load" for e in second), second
    # Isaac Sim's cache volumes and the Isaac Lab clone: saved by the first run, restored by the second
    first_argv, second_argv = (argv_calls(p.parent) for p in hosts)
    assert any(a[:2] == ["git", "clone"] for a in first_argv), first_argv
    assert not any(a[:2] == ["git", "clone"] for a in second_argv), second_argv
    assert any(a[:2] == ["git", "-C"] and "fetch" in a and "/git/" in a[2] for a in second_argv), second_argv
    volumes = sorted(p.name for p in fs_folder(simproc).rglob("isaac-sim/*.tgz"))
    assert any(v.endswith("isaac-cache-kit.tgz") for v in volumes), volumes
    assert not any(restores(a) for a in first_argv)
    assert {restores(a) for a in second_argv} >= set(volumes), second_argv
    # Kit's log: the RtPso wait on the first (cold) start, none once the isaac-cache-kit volume is restored
    with Ledger(simproc.home) as ledger:
        shader = [
            next(m.value for m in ledger.metrics(run_id=r.id) if m.key == "shader_compile_s")
            for r in sorted(ledger.runs(), key=lambda r: r.id)
        ]
    assert shader == [120.0, 0.0], shader
    # a broken archive: removed, the image pulled again, the run fine
    archive = next(fs_folder(simproc).rglob("*.tar"))
    archive.write_text("not an image")
    kit = next(fs_folder(simproc).rglob("isaac-sim/*isaac-cache-kit.tgz"))
    kit.write_text("not an archive")
    clone = next(p.parent for p in fs_folder(simproc).rglob("git/*/.git"))
    (clone / ".git" / "HEAD").write_text("garbage")
    third = simproc.cli(*args, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    latest = max(
        simproc.state.glob("lambdabench-sim-*/hosts/hosts/*/docker-timings.jsonl"), key=lambda p: p.stat().st_mtime
    )
    events = [json.loads(ln) for ln in latest.read_text().splitlines()]
    assert any(e["event"] == "pull" and e["image"].startswith(isaac_sim) for e in events), events
    assert json.loads(archive.read_text())["images"]  # saved again, whole
    with tarfile.open(kit) as tar:  # the broken volume archive: cold, then saved again, whole
        tar.getnames()
    third_argv = argv_calls(latest.parent)
    assert any(a[:2] == ["git", "clone"] for a in third_argv), third_argv  # the broken clone: cloned cold
    assert (clone / ".git" / "HEAD").read_text() != "garbage"  # and kept again
    with Ledger(simproc.home) as ledger:  # the broken kit cache archive: shaders compiled again
        last = max(ledger.runs(), key=lambda r: r.id)
        assert [m.value for m in ledger.metrics(run_id=last.id) if m.key == "shader_compile_s"] == [120.0]
    assert simproc.live() == []
