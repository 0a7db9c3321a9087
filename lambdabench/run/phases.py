"""The remote phase of a run, for N ≥ 1 nodes: every stage on every node at once.

preflight (gpu-preflight) and set-up (the benchmark's `before` playbooks) on every node; then, for
N > 1, the rendezvous (a free port pair on rank 0, each node's interface towards it, the run's
firewall ruleset opened for the nodes); GPU telemetry on every node; the benchmark on every node
(the first failure stops the others and names its node); the `after` playbooks (collect) on rank 0;
telemetry pulled from every node. Every output is local and verified when it returns (`rc.pulled`); the
metrics are read after teardown (lambdabench.run.ingest), so reading them adds no billed time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdabench.errors import LambdabenchError, RemoteError, StepFailed
from lambdabench.remote import shell
from lambdabench.remote.transport import ConnectionLost

if TYPE_CHECKING:
    from lambdabench.remote.playbook import Playbook
    from lambdabench.remote.runner import PlaybookResult, StepResult
    from lambdabench.remote.transport import Transport
    from lambdabench.run.context import Node, RunContext

SAMPLER = Path(__file__).parent.parent / "remote" / "telemetry_sampler.sh"
REMOTE_SAMPLER = ".lambdabench/telemetry_sampler.sh"
TELEMETRY_DIR = ".lambdabench/telemetry"

# stop a node's unfinished detached lambdabench jobs: every process of the job's group but its
# leader (which then records the exit status, so the follower returns), TERM then KILL
_STOP_JOBS = r"""
cd "$HOME"/.lambdabench/jobs 2>/dev/null || exit 0
for sig in TERM KILL; do
  for d in */; do
    [ -f "$d/pid" ] && [ ! -f "$d/status" ] || continue
    pg=$(cat "$d/pid")
    for p in $(pgrep -g "$pg"); do [ "$p" = "$pg" ] || kill -s "$sig" "$p" 2>/dev/null; done
  done
  [ "$sig" = TERM ] && sleep GRACE
done
true
"""
# when each job of this run ended on the node (for naming the node that failed first)
_ENDED = r"""cd "$HOME"/.lambdabench/jobs 2>/dev/null || exit 0
for d in */; do [ -f "$d/status" ] && echo "$(date -r "$d/status" +%s.%N) $(cat "$d/status") ${d%/}"; done; true"""


@dataclass
class _NodeRun:
    node: Node
    session: Transport | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    result: PlaybookResult | None = None
    error: BaseException | None = None
    ended_at: float | None = None
    stopped: bool = False


def parallel(nodes: Sequence[Node], fn: Callable[[Node], Any]) -> dict[int, BaseException | None]:
    """fn on every node at once (inline for one); each node's exception (or None), by rank."""
    errors: dict[int, BaseException | None] = {}

    def one(node: Node) -> None:
        try:
            fn(node)
            errors[node.rank] = None
        except BaseException as exc:  # noqa: BLE001 - reported per node
            errors[node.rank] = exc

    if len(nodes) == 1:
        one(nodes[0])
        return errors
    threads = [threading.Thread(target=one, args=(n,), name=f"node-{n.rank}", daemon=True) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def raise_first(nodes: Sequence[Node], errors: dict[int, BaseException | None], what: str) -> None:
    failed = [(n, errors[n.rank]) for n in nodes if errors.get(n.rank) is not None]
    if not failed:
        return
    node, exc = failed[0]
    if len(nodes) == 1 and isinstance(exc, BaseException):
        raise exc
    msg = exc.one_line() if isinstance(exc, LambdabenchError) else f"{type(exc).__name__}: {exc}"
    raise RemoteError(f"{what} failed on {node.label}: {msg}")


def keep_pass_files(rc: RunContext, seed: str) -> None:
    """A finished `--seeds` pass's pulled results, copied under seeds/seed-<s>/ (the next pass's pull replaces them)."""
    import shutil

    for name in ("results", "artifacts"):
        src = rc.run_dir / name
        if src.is_dir():
            shutil.copytree(src, rc.run_dir / "seeds" / f"seed-{seed}" / name, dirs_exist_ok=True)


class PlaybookPhase:
    """A benchmark playbook as a run's remote phase, on N ≥ 1 nodes (N = 1 is the usual case)."""

    def __call__(self, rc: RunContext) -> None:
        from lambdabench.run.context import PulledPass

        runs = {n.rank: _NodeRun(n) for n in rc.nodes}
        sampling = not rc.benchmark.own_telemetry
        try:
            raise_first(rc.nodes, parallel(rc.nodes, lambda n: self._prepare(rc, runs[n.rank])), "set-up")
            rc.setup_facts = {rank: dict(r.facts) for rank, r in runs.items()}
            if len(rc.nodes) > 1:
                self._rendezvous(rc, runs)
            sampling = sampling and all(int(runs[n.rank].facts.get("gpu_count") or n.gpus or 0) > 0 for n in rc.nodes)
            if sampling:
                raise_first(
                    rc.nodes,
                    parallel(rc.nodes, lambda n: self._sampler(runs[n.rank], "start", rc.tag(n))),
                    "telemetry start",
                )
            seeds: list[str | None] = list(rc.plan.seed_values()) if rc.plan is not None else []
            for seed in seeds or [None]:
                started = time.time()
                window = self._benchmark(rc, runs, seed=seed)
                rank0 = runs[0]
                for after in rc.benchmark.after:
                    self._run(rc, rank0, after, rc.benchmark.vars_for(after, self._cache_vars(rc, rank0)))
                if seed is not None:  # its files kept apart now, read after teardown (run.ingest)
                    rc.pass_started = started
                    keep_pass_files(rc, seed)
                    facts = {rank: dict(r.facts) for rank, r in runs.items()}
                    # its own window: the instance keeps the earlier passes' log folders, which are not this pass's
                    rc.passes.append(PulledPass(seed, started, time.time(), window, facts, list(rc.notes)))
            parallel(rc.nodes, lambda n: self._mark_warm(rc, runs[n.rank]))
            if sampling:
                failed = parallel(rc.nodes, lambda n: self._pull_telemetry(rc, runs[n.rank]))
                for node in rc.nodes:
                    exc = failed.get(node.rank)
                    if exc is not None:  # named in the run's notes, never silently absent
                        why = exc.one_line() if isinstance(exc, LambdabenchError) else f"{type(exc).__name__}: {exc}"
                        who = f"node {node.rank}'s" if len(rc.nodes) > 1 else "the"
                        rc.notes.append(
                            f"telemetry: pulling {who} GPU samples failed ({why}); its GPU figures are unknown"
                        )
            for node in rc.nodes:
                rc.ledger.mark(node.name, "pull_end")
        finally:
            for r in runs.values():
                if r.session is not None:
                    if sampling:
                        with contextlib.suppress(LambdabenchError):
                            self._sampler(r, "stop")
                    r.session.close()
        rc.facts = {rank: r.facts for rank, r in runs.items()}
        rc.pulled = True  # every output is local and verified: the ingest needs no instance (it runs after teardown)

    # -- stages ---------------------------------------------------------------------------------

    def _prepare(self, rc: RunContext, nr: _NodeRun) -> None:
        node = nr.node
        nr.session = rc.connect(node, timeout=rc.env.timeouts.ssh_ready)
        lead = rc.reused_from
        if lead is not None and lead.setup_facts is not None:
            # --reuse: the instance was checked and set up by the run before; only the benchmark runs again
            nr.facts = dict(lead.setup_facts.get(node.rank) or node.facts)
            rc.notify(f"reusing {lead.label}'s instance: preflight and set-up skipped")
            return
        rc.ledger.mark(node.name, "ssh_ready")
        rc.notify("ssh ready" if len(rc.nodes) == 1 else f"node {node.rank}: ssh ready")
        nr.facts = dict(node.facts)
        nr.facts.update(self._run(rc, nr, rc.benchmark.preflight, {}))
        if node.kind != "lambda":
            self._check_brought_machine(rc, nr)
        self._probe_cache(rc, nr)
        if rc.benchmark.before:
            rc.ledger.mark(node.name, "setup_start")
            started = time.time()
            for before in rc.benchmark.before:
                nr.facts.update(self._run(rc, nr, before, rc.benchmark.vars_for(before, self._cache_vars(rc, nr))))
            rc.ledger.mark(node.name, "setup_end")
            if node.rank == 0:
                rc.ledger.record_metric(rc.run_id, "setup_s", time.time() - started, unit="s", source="phases")

    # -- the cache (--cache): probed before set-up, marked warm after a run that finished -----------

    def _probe_cache(self, rc: RunContext, nr: _NodeRun) -> None:
        """Is the cache folder usable, and warm? A cache that is not usable means a cold run, never a failed one."""
        from lambdabench.run.cache import LAYOUT, PROBE

        if rc.cache_dir is None:
            return
        assert nr.session is not None
        try:
            out = nr.session.run(
                shell.join(["sh", "-c", PROBE, "sh", rc.cache_dir, LAYOUT]), timeout=120, check=False
            ).stdout
        except LambdabenchError as exc:
            out = f"cache=unusable the probe failed ({exc.one_line()})"
        line = next((ln for ln in out.splitlines() if ln.startswith("cache=")), "cache=unusable no answer")
        state, _, why = line[len("cache=") :].partition(" ")
        nr.facts["cache_state"] = state
        if nr.node.rank == 0:
            rc.ledger.record_metric(rc.run_id, "cache_warm", 1.0 if state == "warm" else 0.0, source="cache")
        if state == "warm":
            rc.notify(f"cache warm ({rc.cache_dir}: {why})")
        elif state in ("cold", "stale"):
            rc.notify(f"cache cold ({rc.cache_dir}: {why}); this run fills it")
        else:
            rc.notify(f"cache not usable ({why}); running cold")

    @staticmethod
    def _cache_vars(rc: RunContext, nr: _NodeRun) -> dict[str, str]:
        """`cache_dir` for the playbooks that declare it, where the probe found the cache usable."""
        if rc.cache_dir is None or nr.facts.get("cache_state") not in ("warm", "cold", "stale"):
            return {}
        return {"cache_dir": rc.cache_dir}

    def _mark_warm(self, rc: RunContext, nr: _NodeRun) -> None:
        from lambdabench.run.cache import MARK_WARM

        if not self._cache_vars(rc, nr) or nr.session is None or rc.cache_dir is None:
            return
        with contextlib.suppress(LambdabenchError):  # a cache that cannot be marked stays cold: no failure
            nr.session.run(shell.join(["sh", "-c", MARK_WARM, "sh", rc.cache_dir]), timeout=60, check=False)

    def _check_brought_machine(self, rc: RunContext, nr: _NodeRun) -> None:
        """A BYO machine's GPUs are known only now (its real nvidia-smi): the checks a type got at plan time."""
        from lambdabench.cloud.gpus import host_facts
        from lambdabench.remote.playbook import check_requirements

        facts = host_facts(rc.target_name, nr.facts)
        nr.facts.update({k: v for k, v in facts.items() if k != "name"})
        rc.notify(f"{facts['gpus']} × {facts['gpu_model'] or '?'} ({facts['arch'] or '?'})")
        book = rc.benchmark.playbook
        problems = check_requirements(book, rc.benchmark.vars_for(book), facts)
        if problems:
            raise RemoteError(f"{nr.node.name}: {problems[0]}", problems[0].hint)

    def _rendezvous(self, rc: RunContext, runs: dict[int, _NodeRun]) -> None:
        """The cluster: a port pair free on rank 0, each node's interface towards it, the ruleset opened."""
        from lambdabench.run.cluster import FREE_PORT_PAIR, IFNAME_TOWARDS, RDZV_PORT, Cluster

        rank0 = runs[0]
        assert rank0.session is not None
        out = rank0.session.run(FREE_PORT_PAIR, timeout=60, check=False).stdout.strip()
        port = int(out) if out.isdigit() else RDZV_PORT
        master = rc.nodes[0].peer_addr
        ifnames: dict[int, str] = {}

        def ifname(node: Node) -> None:
            session = runs[node.rank].session
            assert session is not None
            res = session.run(IFNAME_TOWARDS.format(addr=shell.quote(master)), timeout=60, check=False)
            ifnames[node.rank] = res.stdout.strip()

        parallel(rc.nodes, ifname)
        gpus = max(1, int(runs[0].facts.get("gpu_count") or rc.nodes[0].gpus or 1))
        rc.cluster = Cluster(
            f"lambdabench-{rc.sweep_id}-{rc.run_id}",
            tuple(n.peer_addr for n in rc.nodes),
            gpus,
            port=port,
            join_timeout=rc.env.timeouts.rendezvous_join,
            ifnames=tuple(ifnames.get(n.rank, "") for n in rc.nodes),
        )
        if rc.on_rendezvous is not None:
            rc.on_rendezvous(rc.cluster)

    def _bench_vars(self, rc: RunContext, nr: _NodeRun, seed: str | None = None) -> dict[str, str]:
        book = rc.benchmark.playbook
        extra: dict[str, str] = {}
        gpus = nr.facts.get("gpu_count") or nr.node.gpus
        if "gpus" in book.vars and gpus:
            extra["gpus"] = str(max(1, int(gpus)))
        values = rc.benchmark.vars_for(book, {**extra, **self._cache_vars(rc, nr)})
        if seed is not None:
            values["seed"] = seed  # this pass's, over a --set seed (which is where the passes start)
        return values

    def _benchmark(self, rc: RunContext, runs: dict[int, _NodeRun], *, seed: str | None = None) -> tuple[float, float]:
        """The benchmark on every node at once, returning its wall-clock window; the first failure stops the rest."""
        from lambdabench.run.cluster import adapt_playbook

        done = threading.Event()
        lock = threading.Lock()

        def bench(node: Node) -> None:
            nr = runs[node.rank]
            playbook = rc.benchmark.playbook
            if rc.cluster is not None:
                playbook = adapt_playbook(playbook, rc.cluster.env(node.rank))
                nr.facts.update(rc.cluster.facts(node.rank))
            try:
                nr.result = self._run_result(rc, nr, playbook, self._bench_vars(rc, nr, seed), seed=seed)
                nr.facts.update(nr.result.facts)
                nr.error = nr.result.error
            except BaseException as exc:  # noqa: BLE001 - decided below
                nr.error = exc
            finally:
                with lock:
                    nr.ended_at = time.time()
                if nr.error is not None:
                    done.set()

        started = time.time()
        for node in rc.nodes:
            rc.ledger.mark(node.name, "bench_start")
        if len(rc.nodes) == 1:
            bench(rc.nodes[0])
        else:
            threads = [
                threading.Thread(target=bench, args=(n,), name=f"bench-node-{n.rank}", daemon=True) for n in rc.nodes
            ]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads) and not done.is_set():
                done.wait(0.2)
            if done.is_set():
                self._stop_the_rest(rc, runs, lock)
                grace = rc.env.timeouts.reattach + 10.0  # a lost node's follower gives up after its window
                for t in threads:
                    t.join(timeout=max(0.1, grace))
        for node in rc.nodes:
            rc.ledger.mark(node.name, "bench_end", overwrite=seed is not None)  # the last seed's end
        # --seeds: the run's own window stays its first (cold) pass's; each pass carries its own (PulledPass)
        window = (started, time.time())
        rc.wall_window = (rc.wall_window or window) if seed is not None else window
        failed = [r for r in runs.values() if r.error is not None and not r.stopped]
        if failed:
            if len(rc.nodes) == 1:
                err = failed[0].error
                assert err is not None
                raise err
            raise self._failure(rc, failed, [r for r in runs.values() if r.stopped])
        return window

    def _stop_the_rest(self, rc: RunContext, runs: dict[int, _NodeRun], lock: threading.Lock) -> None:
        with lock:
            others = [r for r in runs.values() if r.ended_at is None]
            for r in others:
                r.stopped = True
        first = min((r for r in runs.values() if r.error is not None), key=lambda r: r.ended_at or 0)
        rc.notify(f"{first.node.label} failed; stopping the step on {len(others)} other node(s)")
        unreachable = parallel([r.node for r in others], lambda n: self.stop_node(rc, n))
        for r in others:
            exc = unreachable.get(r.node.rank)
            if isinstance(exc, ConnectionLost):
                # the node we wanted to stop cannot be reached: it is lost, and likely the root cause
                with lock:
                    r.error, r.stopped = exc, False

    def _failure(self, rc: RunContext, failed: list[_NodeRun], stopped: list[_NodeRun]) -> RemoteError:
        """Name the node that failed first: a lost node, else the earliest job end on the nodes' clocks."""

        def lost(r: _NodeRun) -> bool:
            err = r.error.cause if isinstance(r.error, StepFailed) else r.error
            return isinstance(err, ConnectionLost)

        ended = {r.node.rank: self._job_end(r) for r in failed if not lost(r)}
        failed.sort(key=lambda r: (not lost(r), ended.get(r.node.rank) or float("inf"), r.ended_at or 0))
        root = failed[0]
        err = root.error
        msg = err.one_line() if isinstance(err, LambdabenchError) else f"{type(err).__name__}: {err}"
        also = [f"node {r.node.rank}" for r in failed[1:]]
        extra = f" (then also failed: {', '.join(also)})" if also else ""
        extra += f"; stopped: {', '.join(f'node {r.node.rank}' for r in stopped)}" if stopped else ""
        return RemoteError(f"multi-node step failed on {root.node.label}: {msg}{extra}", f"see {rc.log_dir(root.node)}")

    def _job_end(self, nr: _NodeRun) -> float | None:
        """When the node's most recent failed job ended (its status file's time on the node)."""
        if nr.session is None:
            return None
        try:
            out = nr.session.run(_ENDED, timeout=30, check=False)
        except LambdabenchError:
            return None
        ends = []
        for line in out.stdout.splitlines():
            parts = line.split(" ", 2)
            try:
                if len(parts) == 3 and parts[1] != "0":
                    ends.append(float(parts[0]))
            except ValueError:
                continue
        return max(ends) if ends else None

    def stop_node(self, rc: RunContext, node: Node) -> None:
        """Stop the node's unfinished lambdabench jobs over a fresh session (the follower's is busy),
        and what they started in a container: `docker exec` leaves its process running when the client dies."""
        t = rc.env.timeouts
        try:
            session = rc.connect(node, timeout=t.stop_connect)
        except LambdabenchError as exc:
            rc.notify(f"could not reach {node.label} to stop its step ({exc.one_line()}); teardown will")
            raise ConnectionLost(f"lost SSH to {node.label}: {exc.message}") from exc
        try:
            session.run(_STOP_JOBS.replace("GRACE", f"{t.stop_grace:g}"), timeout=60 + t.stop_grace, check=False)
            for container in sorted({s.container for s in rc.benchmark.playbook.steps if s.container}):
                session.run(
                    shell.join(
                        [
                            "docker",
                            "exec",
                            container,
                            "pkill",
                            "-INT",
                            "-f",
                            "torch.distributed.run|torchrun|train.py|play.py",
                        ]
                    )
                    + " || true",
                    timeout=60,
                    check=False,
                )
        except LambdabenchError as exc:
            rc.notify(f"stopping the step on {node.label} failed ({exc.one_line()}); teardown will")
        finally:
            session.close()

    def _sampler(self, nr: _NodeRun, action: str, tag: str | None = None) -> None:
        from lambdabench.remote.runner import RUN_TAG_ENV

        session = nr.session
        assert session is not None
        if action == "start":
            # a fresh folder: a reused instance (or a BYO host) still has the run before's samples
            session.run(f"rm -rf -- {TELEMETRY_DIR} && mkdir -p {TELEMETRY_DIR}", timeout=60)
            session.put(SAMPLER, REMOTE_SAMPLER, 0o755)
            tagged = shell.env_prefix({RUN_TAG_ENV: tag}) + " " if tag else ""  # stopped with the run's processes
            session.run(
                f"{tagged}sh {REMOTE_SAMPLER} start {TELEMETRY_DIR}/telemetry.csv {TELEMETRY_DIR}/sampler.pid 1000",
                timeout=60,
            )
        else:
            session.run(f"sh {REMOTE_SAMPLER} stop {TELEMETRY_DIR}/sampler.pid", timeout=60, check=False)

    def _pull_telemetry(self, rc: RunContext, nr: _NodeRun) -> None:
        from lambdabench.remote.transfer import pull

        assert nr.session is not None
        self._sampler(nr, "stop")
        pulled = pull(nr.session, TELEMETRY_DIR, rc.node_dir(nr.node) / "telemetry")
        prefix = (rc.node_dir(nr.node).relative_to(rc.run_dir) / "telemetry").as_posix()
        for f in pulled.files:
            rc.ledger.record_artifact(
                rc.run_id, f"{prefix}/{f.display_path}", size=f.size, sha256=f.sha256, verified=f.verified
            )
        if not pulled.ok:
            raise RemoteError(f"{len(pulled.failed)} file(s) failed verification: {(pulled.problems or ['?'])[0]}")

    # -- one playbook on one node ---------------------------------------------------------------------

    def _run(self, rc: RunContext, nr: _NodeRun, playbook: Playbook, variables: dict[str, str]) -> dict[str, Any]:
        result = self._run_result(rc, nr, playbook, variables)
        result.raise_for_status()
        return dict(result.facts)

    def _run_result(
        self, rc: RunContext, nr: _NodeRun, playbook: Playbook, variables: dict[str, str], *, seed: str | None = None
    ) -> PlaybookResult:
        from lambdabench.remote.runner import run_playbook

        node = nr.node
        assert nr.session is not None
        secrets = {k: v for k, v in rc.secrets.items() if k in playbook.secrets}
        many = len(rc.nodes) > 1
        # each --seeds pass logs to its own files: its ingest reads its own training console (run.ingest)
        log_dir = rc.log_dir(node) / playbook.name / (f"seed-{seed}" if seed is not None else "")
        usual = f" (usually ~{playbook.expected_minutes:g} min)" if playbook.expected_minutes else ""
        rc.notify((f"node {node.rank}: playbook {playbook.name}" if many else f"playbook {playbook.name}") + usual)

        def on_step(step: StepResult) -> None:
            if step.skipped:
                return
            who = f"node {node.rank} " if many else ""
            sid = rc.ledger.start_step(
                rc.run_id,
                f"{who}{playbook.name}: {step.name}",
                log_path=str(step.log_path) if step.log_path else None,
                ts=step.started,
            )
            rc.ledger.end_step(sid, step.exit_status, ts=step.ended)
            if node.rank == 0:
                for f in step.pulled:  # the files as verified, never re-read from a log
                    path = f"{step.pulled_into.rstrip('/')}/{f.display_path}" if step.pulled_into else f.display_path
                    rc.ledger.record_artifact(rc.run_id, path, size=f.size, sha256=f.sha256, verified=f.verified)

        return run_playbook(
            nr.session,
            playbook,
            variables,
            nr.facts,
            secrets,
            log_dir,
            on_step,
            local_dir=rc.node_dir(node),
            poll_s=rc.env.timeouts.playbook_poll,
            reattach_timeout=rc.env.timeouts.reattach,
            tag=rc.tag(node),
            should_stop=rc.should_stop,
        )
