"""Playbooks against a real sshd: step kinds, quoting, secrets, detached steps across a drop."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from lambdabench.errors import PlaybookError, UsageError
from lambdabench.remote.expr import Expr
from lambdabench.remote.playbook import (
    check_requirements,
    find_playbook,
    list_playbooks,
    load_playbook,
    package_file,
    shipped_dir,
)
from lambdabench.remote.runner import run_playbook
from lambdabench.secrets import Secret

PROJECT = Path(__file__).resolve().parents[2] / "playbooks"


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


KINDS = """
name: kinds
vars:
  label: {type: str, default: "plain"}
  count: {type: int, default: 2}
  loud: {type: bool, default: false}
steps:
  - name: echo label
    run: >-
      printf '%s|' {{ label }} > label.txt; echo n={{ count }} {{ loud | flag: --loud }}
    capture: facts
  - name: as root
    sudo: id -u > uid.txt
  - name: script
    script: |
      set -e
      printf 'script saw %s\\n' {{ label }} > script.txt
      [ -n "$GREETING" ] && echo "$GREETING" >> script.txt || true
    env: {GREETING: hello}
  - name: only when loud
    when: loud and facts.n == '2 --loud'
    run: touch loud.txt
  - name: upload
    put: {src: payload.txt, dest: in/payload.txt, mode: "0600"}
  - name: download
    get: {src: in, dest: back}
"""


def test_every_step_kind(host, session, tmp_path):
    path = write(tmp_path, KINDS)
    (tmp_path / "payload.txt").write_text("payload")
    seen = []
    res = run_playbook(
        session,
        load_playbook(path),
        {"loud": "yes"},
        {},
        {},
        tmp_path / "logs",
        on_step=seen.append,
    )
    assert res.ok, res.error
    assert [s.name for s in seen] == [s.name for s in res.steps]
    assert (host.home / "label.txt").read_text() == "plain|"
    assert (host.home / "uid.txt").read_text().strip() == "0"
    assert (host.home / "script.txt").read_text() == "script saw plain\nhello\n"
    assert (host.home / "loud.txt").exists()
    assert res.facts["n"] == "2 --loud"
    assert (tmp_path / "back" / "payload.txt").read_text() == "payload"
    assert oct((host.home / "in" / "payload.txt").stat().st_mode & 0o777) == "0o600"
    assert all(s.log_path and s.log_path.exists() for s in res.steps)


@pytest.mark.parametrize(
    "hostile",
    [
        'it\'s "quoted"',
        "$(touch pwned)",
        "`touch pwned`",
        "a; touch pwned",
        "line\ntouch pwned",
        "--x --y",
    ],
)
def test_hostile_values_stay_inert(host, session, tmp_path, hostile):
    path = write(tmp_path, KINDS)
    (tmp_path / "payload.txt").write_text("p")
    res = run_playbook(session, load_playbook(path), {"label": hostile}, {}, {}, tmp_path / "logs")
    assert res.ok, res.error
    assert (host.home / "label.txt").read_text() == hostile + "|"
    assert (host.home / "script.txt").read_text().startswith(f"script saw {hostile}\n")
    assert not (host.home / "pwned").exists()


SECRET = """
name: secret
secrets:
  NGC_API_KEY: {required: true}
steps:
  - name: login
    run: sleep 1.5; cat > got-stdin.txt
    stdin: NGC_API_KEY
  - name: file
    run: sleep 1.5; cat "$NGC_API_KEY_FILE" > got-file.txt; stat -c %a "$NGC_API_KEY_FILE" > mode.txt
    secret_files: [NGC_API_KEY]
"""


def test_secret_never_in_argv_or_logs(host, session, tmp_path):
    sentinel = "sentinel-ngc-" + os.urandom(6).hex()
    hits: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            if sentinel.encode() in f.read():
                                hits.append(pid)
                    except OSError:
                        pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        res = run_playbook(
            session,
            load_playbook(write(tmp_path, SECRET)),
            {},
            {},
            {"NGC_API_KEY": Secret(sentinel)},
            tmp_path / "logs",
        )
    finally:
        stop.set()
        sampler.join()
    assert res.ok, res.error
    assert hits == []
    assert (host.home / "got-stdin.txt").read_text() == sentinel
    assert (host.home / "got-file.txt").read_text() == sentinel
    assert (host.home / "mode.txt").read_text().strip() == "600"
    leftovers = [p for p in (host.home / ".lambdabench").rglob("*") if p.is_file() and sentinel in p.read_text()]
    assert leftovers == []  # secret files removed after their step
    for log in (tmp_path / "logs").iterdir():
        assert sentinel not in log.read_text()
    with pytest.raises(UsageError, match="needs secret"):
        run_playbook(session, load_playbook(write(tmp_path, SECRET)), {}, {}, {}, tmp_path / "l2")


DETACHED = """
name: detached
steps:
  - name: long job
    run: for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.5; done; exit 7
    detach: true
    timeout: 60
"""


def test_detached_step_survives_a_drop(host, session, tmp_path):
    dropped = []

    def sleep(seconds: float) -> None:
        if not dropped and (tmp_path / "logs" / "01-long-job.log").exists():
            host.drop_connections()
            dropped.append(True)
        time.sleep(min(seconds, 0.3))

    res = run_playbook(
        session,
        load_playbook(write(tmp_path, DETACHED)),
        {},
        {},
        {},
        tmp_path / "logs",
        poll_s=0.3,
        sleep=sleep,
    )
    step = res.steps[0]
    assert dropped and step.reattached >= 1
    assert step.exit_status == 7 and not res.ok
    assert "exited 7" in res.error.message
    log = step.log_path.read_text()
    assert [line for line in log.splitlines() if line.startswith("tick")] == [f"tick {i}" for i in range(1, 7)]


def test_validation_errors_name_file_and_line(tmp_path):
    bad = write(tmp_path, "name: x\nsteps:\n  - name: a\n    run: echo {{ nope }}\n")
    with pytest.raises(PlaybookError, match=r"t\.yaml:4: unknown name 'nope'"):
        load_playbook(bad)
    bad = write(tmp_path, "name: x\nsteps:\n  - run: ok\n  - name: b\n    when: a ==\n    run: x\n")
    with pytest.raises(PlaybookError, match=r"t\.yaml:5: bad expression"):
        load_playbook(bad)
    bad = write(tmp_path, "name: x\nvars:\n  n: {type: int, default: many}\nsteps: [{run: x}]\n")
    with pytest.raises(PlaybookError, match=r"t\.yaml:3: default does not fit"):
        load_playbook(bad)
    bad = write(tmp_path, "name: x\nsteps:\n  - run: x\n    stdin: KEY\n")
    with pytest.raises(PlaybookError, match=r"t\.yaml:4: secret 'KEY' is not declared"):
        load_playbook(bad)


def test_expressions():
    names = {"a": 2, "lib": "sb3", "facts.gpus": 8, "task": "Isaac-Camera-v0"}
    assert Expr("a == 2 and lib in ['sb3', 'skrl']").evaluate(names)
    assert Expr("not (a > 3) or false").evaluate(names)
    assert Expr("'Camera' in task and facts.gpus >= 8").evaluate(names)
    assert not Expr("facts.missing > 1").evaluate(names)
    assert Expr("lib not in ['rl_games']").evaluate(names)
    with pytest.raises(ValueError):
        Expr("__import__('os')")


def test_project_playbooks_validate_and_list():
    books = {b.name: b for b in list_playbooks([PROJECT])}
    assert {
        "setup",
        "gpu-preflight",
        "isaaclab-train",
        "isaaclab-play",
        "list-envs",
        "tensorboard",
        "collect",
    } <= set(books)
    assert find_playbook("isaaclab-train", [PROJECT]).name == "isaaclab-train"


def test_shipped_playbooks_are_found_through_the_package_and_reach_nothing_outside_it():
    """The installed package holds every playbook; a `put` names a packaged file, never `../lambdabench/…`."""
    assert shipped_dir().name in ("playbooks", "_playbooks")  # an editable install maps the repo's folder
    assert {p.name for p in shipped_dir().glob("*.yaml")} == {p.name for p in PROJECT.glob("*.yaml")}
    for book in list_playbooks([shipped_dir()]):
        for step in book.steps:
            if step.kind == "put":
                src = str(step.body["src"])
                assert ".." not in Path(src).parts, f"{book.name}: {step.name} reaches {src}"
                if src.startswith("package:"):
                    assert package_file(src).is_file()
    mjx = find_playbook("mjx-locomotion")
    assert [s.body["src"] for s in mjx.steps if s.kind == "put"] == [
        "package:workloads/mjx_bench.py",
        "package:workloads/aggregate.py",
        "package:workloads/envsearch.py",
        "package:workloads/env_lock.py",
        "package:remote/telemetry_sampler.sh",
    ]
    collect = find_playbook("collect")
    assert [s.body["src"] for s in collect.steps if s.kind == "put"] == ["package:workloads/env_lock.py"]


def test_a_package_reference_that_names_no_packaged_file_is_refused_at_load(tmp_path):
    bad = write(tmp_path, "name: x\nsteps:\n  - put: {src: 'package:workloads/nope.py', dest: a.py}\n")
    with pytest.raises(PlaybookError, match=r"t\.yaml:3: 'package:workloads/nope.py' is not a file in the installed"):
        load_playbook(bad)


H100 = {
    "name": "gpu_1x_h100_sxm5",
    "gpus": 1,
    "gpu_model": "H100",
    "vram_gb": 80,
    "rtx": False,
    "arch": "x86_64",
}
A10 = {
    "name": "gpu_1x_a10",
    "gpus": 1,
    "gpu_model": "A10",
    "vram_gb": 24,
    "rtx": True,
    "arch": "x86_64",
}
H100X8 = {**H100, "name": "gpu_8x_h100_sxm5", "gpus": 8}


def test_requirements_refuse_video_on_non_rtx_and_bad_multi_gpu():
    train = find_playbook("isaaclab-train", [PROJECT])
    assert check_requirements(train, {}, H100) == []
    problems = check_requirements(train, {"video": "true"}, H100)
    assert len(problems) == 1 and "RT cores" in problems[0]
    assert check_requirements(train, {"video": "true"}, A10) == []
    assert check_requirements(train, {"task": "Isaac-Franka-Camera-v0"}, H100)
    assert check_requirements(train, {"library": "rl_games"}, H100X8) == []
    sb3 = check_requirements(train, {"library": "sb3"}, H100X8)
    assert sb3 and "sb3" in sb3[0] and "multi_gpu=off" in (sb3[0].hint or "")
    assert check_requirements(train, {"library": "sb3", "multi_gpu": "off"}, H100X8) == []
    assert check_requirements(train, {"library": "rsl_rl", "isaaclab_version": "1"}, H100X8)
    assert check_requirements(train, {"library": "rsl_rl", "isaaclab_version": "2"}, H100X8) == []
    play = find_playbook("isaaclab-play", [PROJECT])
    assert check_requirements(play, {"checkpoint": "/x.pt"}, H100)  # video on by default
    assert check_requirements(play, {"checkpoint": "/x.pt", "disable_video": "true"}, H100) == []


def test_before_and_after_name_the_playbooks_around_a_benchmark(tmp_path):
    from lambdabench.remote.playbook import find_playbook, load_playbook

    train = find_playbook("isaaclab-train")
    assert (train.before, train.after) == (["setup"], ["collect"])
    assert find_playbook("mjx-locomotion").before == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nbefore: setup\nsteps: [{run: 'true'}]\n")
    with pytest.raises(PlaybookError, match="bad.yaml:2: `before` must be a list"):
        load_playbook(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text("name: loop\nafter: [loop]\nsteps: [{run: 'true'}]\n")
    with pytest.raises(PlaybookError, match="names the playbook itself"):
        load_playbook(loop)


GH200 = {"name": "gpu_1x_gh200", "gpus": 1, "gpu_model": "GH200", "vram_gb": 96, "rtx": False, "arch": "arm64"}


def test_isaac_lab_refusals_carry_their_reason_and_hint():
    train = find_playbook("isaaclab-train", [PROJECT])
    arm = check_requirements(train, {}, GH200)
    assert "x86_64" in arm[0] and "arm64" in arm[0] and "Isaac Sim container images" in arm[0]
    assert "x86_64 type" in (arm[0].hint or "")
    for task in ("Isaac-Repose-Cube-Shadow-Vision-Direct-v0", "Isaac-Stack-Cube-Franka-IK-Rel-Visuomotor-v0"):
        camera = check_requirements(train, {"task": task}, H100)
        assert camera and "RT cores" in camera[0] and "RTX type" in (camera[0].hint or "")
    # rsl_rl --distributed: 2.1.0 and later only
    old = check_requirements(train, {"library": "rsl_rl", "isaaclab_version": "2", "ref": "v2.0.2"}, H100X8)
    assert old and "2.1.0" in old[0] and "multi_gpu=off" in (old[0].hint or "")
    assert check_requirements(train, {"library": "rsl_rl", "isaaclab_version": "2", "ref": "v2.2.1"}, H100X8) == []
    play = find_playbook("isaaclab-play", [PROJECT])
    # the fork's sb3 play records nothing: no RT cores needed
    assert check_requirements(play, {"checkpoint": "/x.zip", "library": "sb3"}, H100) == []
    assert check_requirements(play, {"checkpoint": "/x.zip", "library": "sb3", "isaaclab_version": "2"}, H100)
    bench = find_playbook("isaaclab-benchmark", [PROJECT])
    fork = check_requirements(bench, {"isaaclab_version": "1"}, H100)
    assert fork and "no scripts/benchmarks" in fork[0]


def test_a_failed_step_keeps_its_own_error_class(host, session, tmp_path):
    """run_playbook's error is a StepFailed whose cause is the step's own error: a drop stays ConnectionLost,
    a time limit stays RemoteTimeout, so callers tell them apart by class, never by the message's words."""
    from lambdabench.errors import RemoteTimeout, StepFailed
    from lambdabench.remote.transport import ConnectionLost

    slow = write(tmp_path, "name: slow\nsteps:\n  - name: wait\n    run: sleep 10\n    timeout: 0.5\n", "slow.yaml")
    res = run_playbook(session, load_playbook(slow), {}, {}, {}, tmp_path / "logs")
    assert isinstance(res.error, StepFailed) and isinstance(res.error.cause, RemoteTimeout)

    long = write(tmp_path, "name: long\nsteps:\n  - name: wait\n    run: sleep 10\n", "long.yaml")
    dropper = threading.Timer(1.0, host.drop_connections)
    dropper.start()
    try:
        res = run_playbook(session.reopen(), load_playbook(long), {}, {}, {}, tmp_path / "logs2")
    finally:
        dropper.cancel()
    assert isinstance(res.error, StepFailed) and isinstance(res.error.cause, ConnectionLost)
