"""Issue 13, item by item: every way a billing instance was left running (or the truth was not told),
each checked against the simulator's billing truth. Each of these failed on the code before the fix."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lambdabench.errors import LambdabenchError
from lambdabench.ledger import Ledger
from lambdabench.run.plan import SweepRequest
from lambdabench.simulate import Sim, needs_sshd
from tests.reliability.conftest import LB, assert_cli_one_error, cli, record, simulator

pytestmark = needs_sshd

ENDED = ("terminated", "terminating")


def live(sim: Sim) -> list[dict[str, Any]]:
    return [b for b in sim.core.billing() if b["status"] not in ENDED]


def settle(sim: Sim, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and live(sim):
        time.sleep(0.05)
    return live(sim)


def popen_sweep(
    sim: Sim, home: Path, *args: str, stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.PIPE, **env: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*LB, "sweep", *args],
        env=sim.client_env(home, **env),
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def wait_for(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    """Read a child's stderr until a line has needle; returns what was read."""
    from tests.e2e.conftest import wait_for_line

    return "".join(wait_for_line(proc, needle, timeout))


def every_created_instance_is_ended(sim: Sim, home: Path) -> None:
    """Billing truth: nothing running; every instance the cloud made under our names is in the ledger and gone."""
    assert settle(sim) == [], live(sim)
    with Ledger(home) as ledger:
        rows = {r.name: r for r in ledger.instances()}
        for b in sim.core.billing():
            if (b["name"] or "").startswith("lambdabench-"):
                assert b["name"] in rows, f"{b['name']} exists in the cloud but not in the ledger"
                assert rows[b["name"]].gone is not None, rows[b["name"]]
        assert ledger.integrity_check() == []


# ---- 1. absence from one listing is not "gone" ---------------------------------------------------


@pytest.mark.parametrize("hidden", ["accept", "not_found"])
def test_ctrl_c_while_new_ids_are_invisible_still_terminates_them(tmp_path: Path, hidden: str) -> None:
    """New ids missing from GET /instances (and 404 on GET /instances/{id}) for a while: a Ctrl-C 1 s into a
    sweep used to print 'every instance was terminated' having sent no terminate."""
    # 0.8 s at x300, within the 2 s terminate window; terminated instances stay listed well past the
    # invisibility (`terminated` is the only proof of gone, so it must be observable at all, issue 23)
    scenario = {"visibility_delay": 240, "hidden_terminate": hidden, "linger_seconds": 1800}
    with simulator(scenario, scale=300.0) as sim:
        home = tmp_path / "home"
        proc = popen_sweep(sim, home, "--gpus", "a10,a100", "--playbook", "gpu-probe")
        wait_for(proc, "booting")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 130, err
        assert "proven gone" in err and "Traceback" not in err, err
        terminates = [r for r in sim.core.requests() if r["path"].endswith("/terminate")]
        assert terminates, "no terminate was ever sent"
        every_created_instance_is_ended(sim, home)
    record("leak:invisible-ids-ctrl-c")


def test_down_by_name_while_the_id_is_still_invisible(tmp_path: Path) -> None:
    # terminated instances stay listed past the invisibility (linger > visibility delay): `terminated`
    # is the only proof of gone, so it must be observable at all (absence never proves it, issue #23)
    with simulator({"visibility_delay": 900, "linger_seconds": 1800}, scale=300.0) as sim:
        home = tmp_path / "home"
        env = sim.client_env(home)
        out = cli(["launch", "--gpu", "a10", "--name", "fresh", "--json"], env)
        assert out.returncode == 0, out.stderr
        name = json.loads(out.stdout)["name"]
        assert not [i for i in sim.lab(home).cloud.list_instances() if i.name == name], "should still be invisible"
        out = cli(["down", name], env)
        assert out.returncode == 0 and f"gone: {name}" in out.stdout, out.stdout + out.stderr
        every_created_instance_is_ended(sim, home)
    record("leak:down-invisible")


# ---- 2. gc and down trust the cloud, not the ledger ----------------------------------------------


def test_gc_and_down_act_on_what_the_cloud_lists_even_if_the_ledger_says_gone(tmp_path: Path) -> None:
    with simulator(None, scale=300.0, hosts=False) as sim:
        home = tmp_path / "home"
        env = sim.client_env(home)
        names = []
        for label in ("one", "two"):
            out = cli(["launch", "--gpu", "a10", "--name", label, "--json"], env)
            assert out.returncode == 0, out.stderr
            names.append(json.loads(out.stdout)["name"])
        time.sleep(0.2)
        with Ledger(home) as ledger:
            for n in names:
                ledger.set_kept(n, False)
                ledger.mark(n, "gone")  # the ledger's word, wrong
        out = cli(["gc"], env)
        assert out.returncode == 0, out.stderr
        assert all(f"terminated (terminate sent, proven gone): {n}" in out.stdout for n in names), out.stdout
        every_created_instance_is_ended(sim, home)
        sent = [
            json.loads(r["body"]) if isinstance(r.get("body"), str) else r.get("body")
            for r in sim.core.requests()
            if r["path"].endswith("/terminate")
        ]
        assert sent, "gc printed 'terminated' without a terminate request"
    record("leak:gc-cloud-scan")


# ---- 3. an ambiguous launch answer: reconciled by name, never resent --------------------------------


def test_global_unknown_after_the_launch_happened_is_reconciled_and_never_resent(tmp_path: Path) -> None:
    # the first launch creates its instance and is answered 500 global/unknown; the name stays invisible
    # past the client's quick look, so the run retries under a NEW name and the first is found later
    scenario = {
        "visibility_delay": 90,
        "faults": [{"endpoint": "launch", "kind": "lost_response", "mode": "unknown", "count": 1}],
    }
    with simulator(scenario, scale=300.0) as sim:
        lab = sim.lab(tmp_path / "home")
        result = lab.sweep(SweepRequest("a10", "gpu-probe", {}), install_signal_handlers=False)
        assert result.succeeded == ["a10#1"], result
        launches = [r for r in sim.core.requests() if r["path"].endswith("/launch")]
        bodies = [r.get("body") or {} for r in launches]
        names = [b.get("name") if isinstance(b, dict) else json.loads(b).get("name") for b in bodies]
        assert len(names) == len(set(names)), f"a launch was resent under the same name: {names}"
        created = [b for b in sim.core.billing() if (b["name"] or "").startswith("lambdabench-")]
        assert len(created) == 2, created  # the ambiguous one existed, and was found and terminated
        lab.close()
        every_created_instance_is_ended(sim, tmp_path / "home")
    record("leak:unknown-launch")


# ---- 4/5. SIGHUP and output that cannot be written --------------------------------------------------


def test_sighup_tears_the_sweep_down(tmp_path: Path) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        proc = popen_sweep(sim, home, "--gpus", "a10,a100", "--playbook", "gpu-probe")
        wait_for(proc, "active at")
        proc.send_signal(signal.SIGHUP)  # the terminal closed
        proc.communicate(timeout=90)
        assert proc.returncode != 0
        every_created_instance_is_ended(sim, home)
    record("leak:sighup")


def test_a_dead_pipe_and_ctrl_c_still_tear_down(tmp_path: Path) -> None:
    """`sweep … 2>&1 | tee log` and Ctrl-C to the group: tee dies first, every later write fails."""
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        read_end, write_end = os.pipe()
        proc = subprocess.Popen(
            [*LB, "sweep", "--gpus", "a10,a100", "--playbook", "gpu-probe"],
            env=sim.client_env(home),
            stdout=write_end,
            stderr=write_end,
            start_new_session=True,
        )
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            seen = b""
            while b"booting" not in seen:
                chunk = reader.read1(4096)  # type: ignore[attr-defined]
                assert chunk, seen
                seen += chunk
        # the reader (tee) is gone: every write from now on is EPIPE
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
        assert proc.returncode != 0
        every_created_instance_is_ended(sim, home)
        log = (home / "logs").glob("sweep-*.log")
        assert any("terminate accepted" in p.read_text() for p in log), "the truth was not kept anywhere"
    record("leak:dead-pipe")


# ---- 6. a ledger that cannot be written does not block the terminate -----------------------------


class _DiskFull:
    """Real SQLite: cap the ledger's file at its current size, so the next growth fails SQLITE_FULL."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def __call__(self) -> None:
        conn = self.ledger._db()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")


def test_disk_full_mid_sweep_still_terminates_and_says_so(tmp_path: Path) -> None:
    from lambdabench.run.context import RunContext

    with simulator(None, scale=300.0) as sim:
        lab = sim.lab(tmp_path / "home")
        full = _DiskFull(lab.ledger)

        def phase(rc: RunContext) -> None:
            full()
            for i in range(400):  # fill it: the run's writes now fail
                try:
                    rc.ledger.record_error("bench", "filler", "x" * 4000 + str(i), run_id=rc.run_id)
                except LambdabenchError:
                    break
            raise LambdabenchError("benchmark died with the disk")

        result = lab.sweep(SweepRequest("a10,a100", "gpu-probe", {}), phase=phase, install_signal_handlers=False)
        assert not result.not_terminated, result
        assert settle(sim) == [], "an instance kept billing because the ledger could not be written"
        assert result.ledger_errors, "a failed ledger write was not said"
        assert not any("cannot rollback" in e for e in result.ledger_errors), result.ledger_errors
        lab.close()
    record("leak:disk-full")


# ---- 8. three Ctrl-Cs while a launch call is in flight ----------------------------------------------


def test_three_ctrl_c_during_a_slow_launch_leak_nothing(tmp_path: Path) -> None:
    scenario = {"faults": [{"endpoint": "launch", "kind": "slow_response", "seconds": 600, "count": 1}]}  # 2 s
    with simulator(scenario, scale=300.0) as sim:
        home = tmp_path / "home"
        proc = popen_sweep(sim, home, "--gpus", "a10", "--playbook", "gpu-probe")
        wait_for(proc, "launching gpu_1x_a10")
        time.sleep(0.3)  # the launch call is in flight; the instance already exists
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.15)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode != 0
        assert "Traceback" not in err, err
        every_created_instance_is_ended(sim, home)
        with Ledger(home) as ledger:
            assert not [r for r in ledger.instances() if r.id is None and r.status == "requested"]
    record("leak:three-ctrl-c")


# ---- money guards -------------------------------------------------------------------------------


def test_the_run_cap_bounds_an_unhealthy_boot(tmp_path: Path) -> None:
    """--max-run-minutes did not cover boot: an unhealthy instance billed its 10-minute timeout."""
    scenario = {"instance_faults": [{"match": {"type": "gpu_1x_a10", "nth": 1}, "kind": "unhealthy"}]}
    with simulator(scenario, scale=60.0, hosts=False) as sim:
        lab = sim.lab(tmp_path / "home")
        plan = lab.plan(SweepRequest("a10", "gpu-probe", {}, max_run_minutes=1))  # 1 cloud minute = 1 s
        result = lab.sweep(plan, install_signal_handlers=False)
        assert "maximum duration" in result.failed["a10#1"], result.failed
        row = lab.ledger.instances(sweep_id=result.sweep_id)[0]
        assert row.terminate_called is not None and row.launch_accepted is not None
        lived = row.terminate_called - row.launch_accepted
        assert lived <= plan.max_run_seconds + 3, lived  # not the 10 cloud minutes (10 s) of the unhealthy timeout
        lab.close()
    record("money:cap-covers-boot")


def test_terminate_called_is_the_accepted_call_not_the_first_refused_one(tmp_path: Path) -> None:
    scenario = {"faults": [{"endpoint": "terminate", "kind": "global_unknown", "count": 3}]}
    with simulator(scenario, scale=300.0, hosts=False) as sim:
        lab = sim.lab(tmp_path / "home")
        result = lab.sweep(
            SweepRequest("a10", "gpu-probe", {}), phase=lambda rc: time.sleep(0.2), install_signal_handlers=False
        )
        assert not result.not_terminated
        row = lab.ledger.instances(sweep_id=result.sweep_id)[0]
        truth = next(b for b in sim.core.billing() if b["id"] == row.id)
        refused = [r for r in sim.core.requests() if r["path"].endswith("/terminate")]
        assert len(refused) >= 4
        # our stamp is taken just before the accepted call: never before the refused ones
        assert row.terminate_called is not None
        assert row.terminate_called >= refused[2]["t"] - 0.05, (row.terminate_called, [r["t"] for r in refused])
        assert truth["status"] in ENDED
        lab.close()
    record("money:terminate-stamp")


def test_a_redirect_from_an_old_base_url_fails_at_once() -> None:
    import httpx

    from lambdabench.cloud.client import LambdaCloud, RetryPolicy
    from lambdabench.cloud.errors import RedirectedError
    from lambdabench.cloud.pacing import Pacer

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(301, headers={"location": "https://cloud.lambda.ai/api/v1/instances"})

    client = LambdaCloud(
        "k" * 20,
        "https://cloud.lambdalabs.com/api/v1",
        transport=httpx.MockTransport(handler),
        pacer=Pacer(0, 0),
        retry=RetryPolicy(budget_s=30, base_s=0.001),
        sleep=lambda s: None,
    )
    with pytest.raises(RedirectedError, match="cloud.lambda.ai"):
        client.list_instances()
    assert len(calls) == 1, calls  # not retried for minutes
    record("money:redirect")


def test_pacing_keeps_a_margin_under_the_documented_limits() -> None:
    from lambdabench.config import Settings

    s = Settings.load(env={"HOME": "/nonexistent"})
    assert s.request_interval >= 1.1 and s.launch_interval >= 13.2


# ---- integrity, secrets, errors ---------------------------------------------------------------------

FORGE = "a\nok 1 " + "0" * 64 + " forged.bin"


def test_file_names_cannot_forge_verified_artifacts(tmp_path: Path) -> None:
    """A newline in a pulled file's name used to forge extra 'verified' rows; a non-UTF-8 name failed the run."""
    maker = tmp_path / "make_files.py"
    maker.write_text(
        "import os\nos.makedirs('out', exist_ok=True)\n"
        "open('out/real.txt', 'w').write('x')\n"
        f"open('out/' + {FORGE!r}, 'w').write('y')\n"
        "open(b'out/\\xff.bin', 'w').write('z')\n"
    )
    book = tmp_path / "forge.yaml"
    book.write_text(
        "name: forge\nsteps:\n"
        f"  - name: put maker\n    put: {{src: {maker}, dest: make_files.py}}\n"
        "  - name: make files\n    run: python3 make_files.py\n"
        "  - name: pull\n    get: {src: out, dest: artifacts}\n"
    )
    with simulator(None, scale=300.0) as sim:
        lab = sim.lab(tmp_path / "home")
        result = lab.sweep(SweepRequest("a10", str(book), {}), install_signal_handlers=False)
        assert result.succeeded == ["a10#1"], result.failed
        run = lab.ledger.runs(result.sweep_id)[0]
        arts = [a for a in lab.ledger.artifacts(run.id) if a.path.startswith("artifacts/")]
        assert len(arts) == 3, [a.path for a in arts]
        assert not any(a.path.endswith("forged.bin") and "\\n" not in a.path for a in arts), [a.path for a in arts]
        assert all("\n" not in a.path for a in arts)
        lab.close()
    record("integrity:file-names")


def test_a_secret_split_across_two_reads_never_reaches_a_log(tmp_path: Path) -> None:
    from lambdabench.secrets import Secret

    key = "nvapi-split-secret-0123456789abcdef"
    Secret(key)
    half = len(key) // 2
    book = tmp_path / "leaky.yaml"
    book.write_text(
        "name: leaky\nsteps:\n"
        f"  - name: print it in halves\n    run: printf %s {key[:half]}; sleep 0.3; printf '%s\\n' {key[half:]}\n"
        "  - name: detached halves\n    detach: true\n"
        f"    run: printf %s {key[:half]}; sleep 3; printf '%s\\n' {key[half:]}\n"
    )
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        lab = sim.lab(home)
        result = lab.sweep(SweepRequest("a10", str(book), {}), install_signal_handlers=False)
        assert result.succeeded, result.failed
        logs = [p for p in home.rglob("*.log") if p.is_file()]
        assert any("print-it-in-halves" in p.name for p in logs)
        for p in logs:
            assert key not in p.read_text(errors="replace"), p
        lab.close()
    record("secrets:split-reads")


def test_an_api_key_with_a_trailing_crlf_works_and_never_prints(tmp_path: Path) -> None:
    with simulator(None, scale=300.0, hosts=False) as sim:
        home = tmp_path / "home"
        key = sim.env["LAMBDA_API_KEY"]
        ok = cli(["types", "--json"], {**sim.client_env(home), "LAMBDA_API_KEY": key + "\r\n"})
        assert ok.returncode == 0, ok.stderr
        bad = cli(["types"], {**sim.client_env(home), "LAMBDA_API_KEY": "wrong-key-0123456789\r\n"})
        line = assert_cli_one_error(bad)
        assert "wrong-key-0123456789" not in bad.stderr, line
        weird = cli(["types"], {**sim.client_env(home), "LAMBDA_API_KEY": "abc\x07def-0123456789"})
        assert "control characters" in assert_cli_one_error(weird)
    record("secrets:crlf-key")


def test_a_spec_breaking_terminate_answer_is_one_line() -> None:
    import httpx

    from lambdabench.cloud.client import LambdaCloud, RetryPolicy
    from lambdabench.cloud.errors import CloudError
    from lambdabench.cloud.pacing import Pacer

    client = LambdaCloud(
        "k" * 20,
        "http://api.invalid/api/v1",
        pacer=Pacer(0, 0),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"data": {"terminated_instances": True}})),
        retry=RetryPolicy(attempts=1, budget_s=0.01),
        sleep=lambda s: None,
    )
    with pytest.raises(CloudError, match="terminated_instances"):
        client.terminate(["0" * 32])


def test_an_absolute_playbook_path_runs_and_a_playbook_with_no_output_succeeds(tmp_path: Path) -> None:
    book = tmp_path / "quiet.yaml"
    book.write_text(
        "name: quiet\nsteps:\n  - name: nothing\n    run: 'true'\n"
        "  - name: pull\n    get: {src: no-such-output, dest: artifacts}\n"
    )
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        out = cli(["sweep", "--gpus", "a10", "--playbook", str(book)], sim.client_env(home))
        assert out.returncode == 0, out.stderr
        with Ledger(home) as ledger:
            sweep = ledger.latest_sweep()
            assert sweep is not None and sweep.plan["playbook"] == str(book.resolve())
        every_created_instance_is_ended(sim, home)
    record("errors:abs-playbook")


def test_names_from_the_api_are_printed_escaped(tmp_path: Path) -> None:
    with simulator(None, scale=300.0, hosts=False) as sim:
        home = tmp_path / "home"
        lab = sim.lab(home)
        key = lab.ssh_key_name()
        evil = "lambdabench-\x1b[2J\x1b[31mred\nfake-row"
        lab.cloud.launch(
            instance_type="gpu_1x_a10",
            region="us-east-1",
            ssh_key_name=key,
            name=evil,
            tags=[("lambdabench-tool", "lambdabench")],
        )
        time.sleep(0.1)
        out = cli(["ls"], sim.client_env(home))
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "fake-row" in out.stdout
        assert not any(line.startswith("fake-row") for line in out.stdout.splitlines())
        gc = cli(["gc"], sim.client_env(home))
        assert "\x1b" not in gc.stdout
        lab.close()


def test_interrupted_then_resumed_finishes_the_runs(tmp_path: Path) -> None:
    """After Ctrl-C the CLI suggested `resume`, which then did nothing (cancelled runs counted as done)."""
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        proc = popen_sweep(sim, home, "--gpus", "a10,a100", "--playbook", "gpu-probe")
        wait_for(proc, "booting")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
        assert "lambdabench resume" in err, err
        sweep_id = int(err.split("lambdabench resume ")[1].split("`")[0])
        out = cli(["resume", str(sweep_id)], sim.client_env(home))
        assert out.returncode == 0, out.stderr
        with Ledger(home) as ledger:
            assert [r.status for r in ledger.runs(sweep_id)] == ["succeeded", "succeeded"]
        every_created_instance_is_ended(sim, home)
    record("errors:resume-after-ctrl-c")


def test_ctrl_c_during_a_finished_runs_teardown_keeps_it_succeeded(tmp_path: Path) -> None:
    with simulator({"terminate_seconds": 300}, scale=300.0, hosts=False) as sim:  # terminating lasts 1 s
        lab = sim.lab(tmp_path / "home")
        plan = lab.plan(SweepRequest("a10", "gpu-probe", {}))
        runner = lab.runner(plan, phase=lambda rc: None, install_signal_handlers=False)

        def interrupt_when_terminating() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if any(b["status"] == "terminating" for b in sim.core.billing()):
                    runner.stop.set()
                    return
                time.sleep(0.01)

        threading.Thread(target=interrupt_when_terminating, daemon=True).start()
        result = runner.run()
        assert result.succeeded == ["a10#1"] and not result.cancelled, result
        assert lab.ledger.runs(result.sweep_id)[0].status == "succeeded"
        lab.close()


_ = socket  # noqa: F841


PHASES = [
    "launching gpu_1x_a10",
    "booting",
    "ssh ready",
    "] playbook gpu-preflight",
    "] playbook gpu-probe",
    "terminating",
]


def _signal_cases() -> list[Any]:
    """Every phase in CI, each with one of the three signals in turn; every pair with --long."""
    sigs = [(signal.SIGINT, "INT"), (signal.SIGTERM, "TERM"), (signal.SIGHUP, "HUP")]
    cases = []
    for i, phase in enumerate(PHASES):
        for j, (sig, name) in enumerate(sigs):
            marks = [] if j == i % 3 else [pytest.mark.slow]
            cases.append(pytest.param(phase, sig, marks=marks, id=f"{phase.strip('] ')}-{name}"))
    return cases


@pytest.mark.parametrize(("phase", "sig"), _signal_cases())
def test_a_signal_at_every_phase_ends_with_nothing_billing(tmp_path: Path, shared: Sim, phase: str, sig: int) -> None:
    home = tmp_path / "home"
    proc = popen_sweep(shared, home, "--gpus", "a10", "--playbook", "gpu-probe")
    wait_for(proc, phase)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    if "proven gone" not in err:
        # the run had finished (and its instance was proven gone) before the signal landed: the
        # sweep's handlers were already given back, and the signal's own default ended the command
        assert proc.returncode in (0, 130, -sig), (proc.returncode, err)
    with Ledger(home) as ledger:
        rows = ledger.instances()
        assert rows and all(r.gone is not None for r in rows), rows
        ids = {r.id for r in rows if r.id}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and [b for b in live(shared) if b["id"] in ids]:
        time.sleep(0.05)
    assert not [b for b in live(shared) if b["id"] in ids], "an instance of this sweep is still billing"
    record(f"leak:signal-{signal.Signals(sig).name}-{phase.strip('] ').replace(' ', '-')}")


@pytest.fixture(scope="module")
def shared() -> Any:
    with simulator(None, scale=300.0) as sim:
        yield sim


# ---- issue 29: --reuse keeps one instance across a type's repeats; a signal still tears it down -----


def test_a_signal_between_reused_repeats_ends_with_nothing_billing(tmp_path: Path, shared: Sim) -> None:
    home = tmp_path / "home"
    proc = popen_sweep(shared, home, "--gpus", "a10", "--playbook", "gpu-probe", "--repeat", "3", "--reuse")
    wait_for(proc, "a10#2] reusing a10#1's instance")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert proc.returncode != 0, err
    with Ledger(home) as ledger:
        rows = ledger.instances()
        assert len(rows) == 1 and rows[0].gone is not None, rows  # one instance for the three repeats
        runs = {r.params["label"]: r.status for r in ledger.runs()}
        assert runs["a10#1"] == "succeeded" and runs["a10#3"] == "cancelled", runs
        ids = {r.id for r in rows if r.id}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and [b for b in live(shared) if b["id"] in ids]:
        time.sleep(0.05)
    assert not [b for b in live(shared) if b["id"] in ids], "the reused instance is still billing"
    record("leak:signal-TERM-reuse")


# ---- issue 23, the cloud side: service behaviours under every signal ----------------------------

CLOUD_BEHAVIOURS = {
    # the spec's actions.terminate may say vm-has-not-launched: a 3 s boot refuses terminate throughout
    "refused-while-booting": {"terminate_while_booting": "refuse", "boot_seconds": {"gpu_1x_a10": 900}},
    # one launch, two instances under the run's name; the answer names only one
    "twin": {"instance_faults": [{"kind": "twin", "answer": "one"}], "boot_seconds": {"gpu_1x_a10": 300}},
    # an HTML 503 maintenance page for 4 cloud minutes (0.8 s) from the first terminate on
    "outage": {
        "faults": [{"endpoint": "terminate", "kind": "http_5xx", "status": 503, "seconds": 240}],
        "boot_seconds": {"gpu_1x_a10": 300},
    },
    # a control-plane failover hides the instance from everything for 2 cloud minutes, then it is back
    "failover": {
        "instance_faults": [{"kind": "failover", "start": 30, "seconds": 120}],
        "boot_seconds": {"gpu_1x_a10": 300},
    },
}


def _cloud_cases() -> list[Any]:
    """Each behaviour under one signal in CI (the three in turn); every pair with --long."""
    sigs = [(signal.SIGINT, "INT"), (signal.SIGTERM, "TERM"), (signal.SIGHUP, "HUP")]
    cases = []
    for i, name in enumerate(CLOUD_BEHAVIOURS):
        for j, (sig, sname) in enumerate(sigs):
            marks = [] if j == i % 3 else [pytest.mark.slow]
            cases.append(pytest.param(name, sig, marks=marks, id=f"{name}-{sname}"))
    return cases


@pytest.mark.parametrize(("behaviour", "sig"), _cloud_cases())
def test_a_signal_while_the_service_misbehaves_ends_with_nothing_billing(
    tmp_path: Path, behaviour: str, sig: int
) -> None:
    with simulator(CLOUD_BEHAVIOURS[behaviour], scale=300.0, hosts=False) as sim:
        home = tmp_path / "home"
        proc = popen_sweep(sim, home, "--gpus", "a10", "--playbook", "gpu-probe")
        wait_for(proc, "booting")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        assert proc.returncode != 0 and "proven gone" in err, (proc.returncode, err)
        assert "NOT PROVEN" not in err, err
        every_created_instance_is_ended(sim, home)
    record(f"leak:cloud-{behaviour}-{signal.Signals(sig).name}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_launch_wait_hit_by_a_signal_while_booting_terminates_it(tmp_path: Path, sig: int) -> None:
    """Issue 23 item 7: SIGTERM/SIGHUP used to kill `launch --wait` silently, the instance booting and marked kept."""
    with simulator({"boot_seconds": {"gpu_1x_a10": 1500}}, scale=300.0, hosts=False) as sim:
        home = tmp_path / "home"
        proc = subprocess.Popen(
            [*LB, "launch", "--gpu", "a10", "--wait"],
            env=sim.client_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not live(sim):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "terminated and proven gone" in err, (proc.returncode, err)
        every_created_instance_is_ended(sim, home)
        with Ledger(home) as ledger:
            assert not [r for r in ledger.instances() if r.kept]
    record(f"leak:launch-wait-{signal.Signals(sig).name}")


def test_the_failsafe_ends_the_instance_after_the_client_is_killed(tmp_path: Path) -> None:
    """Issue 23 item 10d: kill -9 mid-run; with --failsafe the instance terminates itself once the cap passed."""
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        # a 30-cloud-minute cap is 6 s here; the failsafe fires 120 cloud s (0.4 s) past it
        proc = popen_sweep(
            sim, home, "--gpus", "a10", "--playbook", "gpu-probe", "--failsafe", "--max-run-minutes", "30"
        )
        wait_for(proc, "failsafe armed")
        proc.kill()  # no handler, no teardown: only the instance itself can end it now
        proc.wait()
        deadline = time.monotonic() + 30
        while live(sim) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live(sim) == [], "the instance did not end itself"
        terminates = [r for r in sim.core.requests() if r["path"].endswith("/instance-operations/terminate")]
        assert len(terminates) == 1 and terminates[0]["status"] == 200, terminates  # the instance's own call
        # nothing leaked the key into the simulator's request log
        assert sim.env["LAMBDA_API_KEY"] not in json.dumps(sim.core.requests())
    record("leak:failsafe-kill-9")


@pytest.mark.slow
def test_a_failsafe_run_that_ends_normally_disarms_it(tmp_path: Path) -> None:
    with simulator(None, scale=300.0) as sim:
        home = tmp_path / "home"
        out = cli(
            ["sweep", "--gpus", "a10", "--playbook", "gpu-probe", "--failsafe", "--max-run-minutes", "30"],
            sim.client_env(home),
        )
        assert out.returncode == 0 and "failsafe armed" in out.stderr, out.stderr
        assert sim.env["LAMBDA_API_KEY"] not in out.stderr + out.stdout
        time.sleep(7)  # past the cap and the grace: a timer left running would send a second terminate
        terminates = [r for r in sim.core.requests() if r["path"].endswith("/instance-operations/terminate")]
        assert len(terminates) == 1, terminates
        every_created_instance_is_ended(sim, home)
