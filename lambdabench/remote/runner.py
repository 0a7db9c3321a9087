"""Running a playbook over a transport: steps in order, detached steps followed across drops, results.

A failed step stops the rest but the pulls (`get` steps): what the run made is never lost. The
playbook's error is a StepFailed whose cause is the step's own error, its class kept.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabench.errors import RemoteError, RemoteTimeout, StepFailed, UsageError
from lambdabench.remote import shell
from lambdabench.remote.expr import render
from lambdabench.remote.playbook import (
    PACKAGE_PREFIX,
    Playbook,
    Step,
    missing_secrets,
    package_file,
)
from lambdabench.remote.transfer import PulledFile
from lambdabench.remote.transport import ConnectionLost, Transport
from lambdabench.secrets import Secret, StreamRedactor, redact

REMOTE_ROOT = ".lambdabench"  # under $HOME on the instance: jobs/, scripts/, secrets/
# A container step's time limit is enforced inside the container (killing the `docker exec` client
# leaves the process running on the GPU): `timeout -s INT` at the step's timeout, KILL this much later,
# and the runner's own deadline this much after that again.
CONTAINER_KILL_AFTER_S = 30
CONTAINER_GRACE_S = CONTAINER_KILL_AFTER_S + 15
STEP_MARKER = "LAMBDABENCH_STEP"  # exported inside the container: finds a step's processes there
RUN_TAG_ENV = "LAMBDABENCH_RUN_TAG"  # lambdabench.run.hostjobs finds a run's processes by it
POLL_CHUNK = 1048576  # at most this much of a detached step's log per poll (bytes)


@dataclass
class StepResult:
    name: str
    kind: str
    exit_status: int | None
    log_path: Path | None
    started: float
    ended: float
    skipped: bool = False
    attempts: int = 0
    detached: bool = False
    reattached: int = 0
    facts: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    pulled: list[PulledFile] = field(default_factory=list)  # a `get` step's files, as verified
    pulled_into: str = ""  # ...under this folder of the local run folder (the step's dest)

    @property
    def ok(self) -> bool:
        return self.skipped or self.exit_status == 0


@dataclass
class PlaybookResult:
    name: str
    steps: list[StepResult]
    facts: dict[str, Any]
    error: RemoteError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "step"


@dataclass
class _Runner:
    session: Transport
    playbook: Playbook
    names: dict[str, Any]
    facts: dict[str, Any]
    secrets: Mapping[str, Secret]
    log_dir: Path
    local_dir: Path
    run_id: str
    poll_s: float
    reattach_timeout: float
    sleep: Callable[[float], None]
    tag: str | None = None  # exported as RUN_TAG_ENV into every step: how the run's processes are found to stop them
    should_stop: Callable[[], bool] = lambda: False  # the run is over (interrupted, past its cap): stop following

    def remote_dir(self, *parts: str) -> str:
        return "/".join([REMOTE_ROOT, *parts])

    def command_for(self, step: Step, index: int) -> tuple[str, list[str]]:
        """The shell line for a run/sudo/script step, and remote files to clean up after it."""
        env = {**self.playbook.env, **step.env}
        env = {k: render(v, self.names, quote=False) for k, v in env.items()}
        if self.tag:
            env[RUN_TAG_ENV] = self.tag
        prelude = []
        cleanup: list[str] = []
        for sname in step.secret_files:
            path = self.remote_dir("secrets", self.run_id, sname)
            self.session.write_private(path, self.secrets[sname])
            cleanup.append(path)
            # the path is not secret; the file is 0600 in a 0700 folder
            prelude.append(f'export {sname}_FILE="$HOME"/{shell.quote(path)};')
        if step.kind == "script":
            script = render(step.body, self.names)
            path = self.remote_dir("scripts", self.run_id, f"{index:02d}-{_slug(step.name)}.sh")
            self.session.write_private(path, script)
            body = f'bash "$HOME"/{shell.quote(path)}'
            if step.container:
                argv = ["docker", "exec", "-i", step.container, "env", f"{STEP_MARKER}={self.marker(index)}"]
                argv += self.limit_words(step) + ["bash", "-s"]
                body = f'{shell.join(argv)} < "$HOME"/{shell.quote(path)}'
                return " ".join([*prelude, body]), cleanup
        else:
            body = render(step.body, self.names)
        inner = " ".join([shell.env_prefix(env), body]).strip() if env else body
        if step.container and step.kind == "run":
            limited = shell.join(["export", f"{STEP_MARKER}={self.marker(index)}"]) + "; "
            limited += shell.join([*self.limit_words(step), "bash", "-c", inner]) if step.timeout else inner
            return " ".join(
                [
                    *prelude,
                    shell.in_container(step.container, limited, interactive_stdin=bool(step.stdin)),
                ]
            ), cleanup
        if step.kind == "sudo":
            return " ".join([*prelude, shell.sudo(inner)]), cleanup
        return " ".join([*prelude, inner]), cleanup

    def marker(self, index: int) -> str:
        """The value of STEP_MARKER for one step of this run (unique per run and step)."""
        return f"{self.run_id}-{index:02d}"

    def limit_words(self, step: Step) -> list[str]:
        """`timeout -k 30 -s INT <timeout>` for a container step with a timeout (SIGINT: a clean stop)."""
        if not step.timeout:
            return []
        return ["timeout", "-k", str(CONTAINER_KILL_AFTER_S), "-s", "INT", f"{step.timeout:g}"]

    def outer_timeout(self, step: Step) -> float | None:
        """The runner's deadline: past the in-container limit, so that one fires first."""
        if step.timeout is None or not step.container or step.kind not in ("run", "script"):
            return step.timeout
        return step.timeout + CONTAINER_GRACE_S

    def stop_in_container(self, step: Step, index: int) -> None:
        """SIGINT, then SIGKILL, every process of this step inside its container (best effort)."""
        if not step.container or step.kind not in ("run", "script"):
            return
        needle = f"{STEP_MARKER}={self.marker(index)}"
        # every process whose environment holds the step's marker; /proc is the container's own
        script = (
            "pids() { for e in /proc/[0-9]*/environ; do p=${e#/proc/}; p=${p%/environ}; "
            '[ "$p" = "$$" ] && continue; tr "\\0" "\\n" < "$e" 2>/dev/null | grep -qxF "$0" && echo "$p"; done; }; '
            'for p in $(pids); do kill -INT "$p" 2>/dev/null; done; '
            'for i in $(seq 1 "$1"); do [ -z "$(pids)" ] && exit 0; sleep 1; done; '
            'for p in $(pids); do kill -KILL "$p" 2>/dev/null; done; true'
        )
        argv = ["docker", "exec", step.container, "bash", "-c", script, needle, str(CONTAINER_KILL_AFTER_S)]
        with contextlib.suppress(RemoteError):
            self.session.run(shell.join(argv), timeout=CONTAINER_GRACE_S + 30)

    def run_step(self, step: Step, index: int, log_path: Path, result: StepResult) -> None:
        if step.kind == "put":
            text = render(str(step.body["src"]), self.names, quote=False)
            src = package_file(text) if text.startswith(PACKAGE_PREFIX) else Path(text)
            if not src.is_absolute():
                src = self.playbook.path.parent / src
            dest = render(str(step.body["dest"]), self.names, quote=False)
            self.session.run(f'mkdir -p -- "$(dirname -- {shell.quote(dest)})"', timeout=step.timeout or 60)
            mode = step.body.get("mode", step.mode)
            self.session.put(src, dest, int(str(mode), 8) if isinstance(mode, str) else mode)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(f"put {src} -> {dest}\n")
            result.exit_status = 0
            return
        if step.kind == "get":
            from lambdabench.remote.transfer import pull

            remote_src = render(str(step.body["src"]), self.names, quote=False)
            dest = render(str(step.body["dest"]), self.names, quote=False)
            present = self.session.run(f"test -d {shell.quote(remote_src)}", timeout=60, check=False)
            if present.exit_status != 0:
                # a benchmark that wrote no output is the playbook's business, not a failed pull
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log_path.write_text(f"nothing to pull: {remote_src} does not exist on the instance\n")
                result.exit_status, result.pulled_into = 0, dest
                return
            pulled = pull(self.session, remote_src, self.local_dir / dest, include=step.include or None)
            result.pulled, result.pulled_into = list(pulled.files), dest
            with open(log_path, "a") as log:  # for people: the run reads result.pulled, not this
                for f in pulled.files:
                    log.write(f"{'ok' if f.verified else 'FAILED'} {f.size} {f.sha256} {f.display_path}\n")
            result.exit_status = 0 if pulled.ok else 1
            if not pulled.ok:
                raise RemoteError(
                    f"{len(pulled.failed)} file(s) from {remote_src} failed verification: {pulled.problems[0]}"
                )
            return
        command, cleanup = self.command_for(step, index)
        try:
            if step.detach:
                status = self.run_detached(step, index, command, log_path, result, cleanup)
                result.exit_status = status
                if step.container and step.timeout and status in (124, 137):
                    raise RemoteTimeout(
                        f"detached step {step.name!r} hit its {step.timeout:g}s time limit inside "
                        f"container {step.container}; stopped it",
                        "raise the step's timeout",
                        command=redact(command),
                        exit_status=status,
                        stderr_tail=_tail(log_path),
                    )
                if status != 0:
                    raise RemoteError(
                        f"step {step.name!r} exited {status} (detached)",
                        f"see {log_path}",
                        command=redact(command),
                        exit_status=status,
                        stderr_tail=_tail(log_path),
                    )
                return
            if step.stdin and step.stdin not in self.secrets:
                # a secret declared optional but read by a step that runs: one line, not a KeyError
                raise UsageError(
                    f"{self.playbook.name}: step {step.name!r} reads {step.stdin}, which is not set",
                    f"Set {step.stdin} in the environment or .env, or skip the step.",
                )
            stdin = self.secrets[step.stdin] if step.stdin else None
            try:
                out = self.session.run(command, timeout=self.outer_timeout(step), stdin=stdin, log_path=log_path)
            except ConnectionLost:
                raise
            except RemoteError as exc:
                if isinstance(exc, RemoteTimeout) and step.container and self.session.connected:
                    self.stop_in_container(
                        step, index
                    )  # our deadline passed: the client is gone, its process must go too
                if step.container and step.timeout and exc.exit_status in (124, 137):
                    raise RemoteTimeout(
                        f"step {step.name!r} hit its {step.timeout:g}s time limit inside container "
                        f"{step.container}; stopped it",
                        "raise the step's timeout",
                        command=exc.command,
                        exit_status=exc.exit_status,
                        stderr_tail=exc.stderr_tail,
                    ) from None
                raise
            result.exit_status = out.exit_status
            if step.capture_facts:
                result.facts = _parse_facts(out.stdout)
        finally:
            if cleanup and not step.detach:
                quoted = " ".join(f'"$HOME"/{shell.quote(p)}' for p in cleanup)
                # on a dropped session the files stay 0600 in a 0700 folder
                with contextlib.suppress(RemoteError):
                    self.session.run(f"rm -f -- {quoted}", timeout=60)

    def run_detached(
        self,
        step: Step,
        index: int,
        command: str,
        log_path: Path,
        result: StepResult,
        cleanup: list[str],
    ) -> int:
        """Start under setsid+nohup writing log/status files on the instance; follow, reattach on drops."""
        job = self.remote_dir("jobs", f"{self.run_id}-{index:02d}-{_slug(step.name)}")
        qjob = f'"$HOME"/{shell.quote(job)}'
        rm = "".join(f' "$HOME"/{shell.quote(p)}' for p in cleanup)
        # steps run in $HOME, detached ones too (the job folder only holds the log and status)
        body = f'cd "$HOME" || exit 1\n{command}\n'
        script = body if not rm else f"trap 'rm -f --{rm}' EXIT\n{body}"
        self.session.write_private(job + "/cmd.sh", script)
        tag = f"printf %s {shell.quote(self.tag)} > tag && " if self.tag else ""
        # only `setsid` goes to the background: the pid file must name the job's process group (what a
        # timeout kills), and no subshell may hold this command's output open until the job ends, which
        # backgrounding the whole `cd … && setsid …` list would do
        self.session.run(
            f"cd {qjob} && {tag}{{ setsid nohup bash -c 'bash cmd.sh > log 2>&1 < /dev/null; "
            f"echo $? > status.tmp; mv status.tmp status' > /dev/null 2>&1 < /dev/null & "
            f"echo $! > {qjob}/pid; }}",
            timeout=60,
        )
        result.detached = True
        started = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        scrub = StreamRedactor()  # a secret split across two polls is still scrubbed
        try:
            return self._follow(step, index, qjob, log_path, result, scrub, started)
        finally:
            tail = scrub.close()
            if tail:
                with open(log_path, "a") as log:
                    log.write(tail)

    def _follow(
        self,
        step: Step,
        index: int,
        qjob: str,
        log_path: Path,
        result: StepResult,
        scrub: StreamRedactor,
        started: float,
    ) -> int:
        offset = 0
        while True:
            if not self.session.connected:  # dropped while we slept: count it and reconnect
                self.reattach(step)
                result.reattached += 1
            try:
                # a poll only ever reports, it never fails the step: `head` closing the pipe early kills
                # `tail` with SIGPIPE (141 under pipefail) whenever more than a chunk waits, so the
                # pipeline's own status is dropped
                poll = self.session.run(
                    f"cd {qjob} && s=$(cat status 2>/dev/null); z=$(stat -c %s log 2>/dev/null || echo 0); "
                    f'echo "$s"; echo "$z"; n=$((z-{offset})); if [ $n -gt {POLL_CHUNK} ]; then n={POLL_CHUNK}; fi; '
                    f"if [ $n -gt 0 ]; then tail -c +{offset + 1} log 2>/dev/null | head -c $n; fi; true",
                    timeout=60,
                    check=False,
                    echo=False,  # the poll's status and size are its own; the log's new text is echoed below
                )
            except ConnectionLost:
                self.reattach(step)
                result.reattached += 1
                continue
            except RemoteError:  # a poll that timed out: the job is not the poll's to fail; poll again
                poll = None
            status_text, size_text, data = (poll.stdout.split("\n", 2) + ["", ""])[:3] if poll else ("", "", "")
            size = int(size_text) if size_text.strip().isdigit() else offset
            if data:
                text = scrub.feed(data)
                with open(log_path, "a") as log:
                    log.write(text)
                if self.session.verbose:
                    import sys

                    with contextlib.suppress(OSError):
                        sys.stderr.write(text)
                offset = min(size, offset + POLL_CHUNK)
            if status_text.strip().lstrip("-").isdigit() and offset >= size:
                return int(status_text.strip())
            if self.should_stop():
                raise RemoteError(
                    f"detached step {step.name!r} left: the run is over", "its processes are stopped with the run"
                )
            limit = self.outer_timeout(step)
            if limit is not None and time.monotonic() - started > limit:
                self.session.run(f"kill -TERM -- -$(cat {qjob}/pid) 2>/dev/null; true", timeout=60)
                self.stop_in_container(step, index)  # killing the docker exec client is not enough
                raise RemoteTimeout(
                    f"detached step {step.name!r} timed out after {step.timeout:g}s; stopped it",
                    "raise the step's timeout",
                )
            if offset >= size:
                self.sleep(self.poll_s)

    def reattach(self, step: Step) -> None:
        deadline = time.monotonic() + self.reattach_timeout
        delay = 1.0
        while True:
            try:
                self.session.reopen()
                return
            except ConnectionLost as exc:
                if time.monotonic() + delay > deadline:
                    raise ConnectionLost(
                        f"lost SSH during detached step {step.name!r} and could not reattach within "
                        f"{self.reattach_timeout:g}s: {exc.message}",
                        "the job keeps running on the instance; rerun to reattach",
                    ) from exc
                self.sleep(delay)
                delay = min(15.0, delay * 2)


def _parse_facts(stdout: str) -> dict[str, str]:
    facts = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.match(r"^[a-z_][a-z0-9_]*$", key.strip()):
            facts[key.strip()] = value.strip()
    return facts


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_playbook(
    session: Transport,
    playbook: Playbook,
    vars: Mapping[str, Any],
    facts: Mapping[str, Any],
    secrets: Mapping[str, Secret],
    log_dir: Path,
    on_step: Callable[[StepResult], None] | None = None,
    *,
    local_dir: Path | None = None,
    poll_s: float = 2.0,
    reattach_timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    tag: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PlaybookResult:
    """Run the steps in order; each step logs to log_dir/NN-<step>.log. After the first failure only `get` steps run.

    on_step is called after every step (skipped ones too). Step `capture: facts` lines KEY=VALUE
    join the facts seen by later `when`s and returned in result.facts. `tag` goes into every step's
    environment as LAMBDABENCH_RUN_TAG; once `should_stop()` is true no further step starts.
    """
    values = playbook.resolve_vars(vars)
    missing = missing_secrets(playbook, playbook.namespace(values, facts), secrets)
    if missing:
        hint = playbook.secrets[missing[0]].get("hint")
        raise UsageError(
            f"playbook {playbook.name} needs secret(s) {', '.join(missing)}",
            str(hint) if hint else "set them in the environment or the settings file",
        )
    all_facts: dict[str, Any] = dict(facts)
    runner = _Runner(
        session=session,
        playbook=playbook,
        names=playbook.namespace(values, all_facts),
        facts=all_facts,
        secrets=secrets,
        log_dir=log_dir,
        local_dir=local_dir or log_dir.parent,
        run_id=time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6],
        poll_s=poll_s,
        reattach_timeout=reattach_timeout,
        sleep=sleep,
        tag=tag,
        should_stop=should_stop or (lambda: False),
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[StepResult] = []
    error: RemoteError | None = None
    for index, step in enumerate(playbook.steps, 1):
        if runner.should_stop():
            error = error or RemoteError(f"{playbook.name}: stopped before step {step.name!r}: the run is over")
            break
        if error is not None and step.kind != "get":
            continue  # after a failure only the pulls run: what the run made is never lost
        runner.names = playbook.namespace(values, all_facts)
        now = time.time()
        if step.when is not None and not step.when.evaluate(runner.names):
            res = StepResult(step.name, step.kind, None, None, now, now, skipped=True)
            results.append(res)
            if on_step:
                on_step(res)
            continue
        log_path = log_dir / f"{index:02d}-{_slug(step.name)}.log"
        res = StepResult(step.name, step.kind, None, log_path, now, now)
        for attempt in range(step.retries + 1):
            res.attempts = attempt + 1
            res.error = None
            try:
                runner.run_step(step, index, log_path, res)
                break
            except RemoteError as exc:
                res.error = exc.one_line()
                if res.exit_status is None:
                    res.exit_status = exc.exit_status if exc.exit_status is not None else -1
                failure = StepFailed(
                    f"{playbook.name}: step {step.name!r} failed: {exc.message}",
                    exc.hint or f"see {log_path}",
                    cause=exc,
                )
                if attempt < step.retries:
                    sleep(min(30.0, 2.0**attempt))
                    if not session.connected:
                        runner.reattach(step)
                    res.exit_status = None
        res.ended = time.time()
        if res.facts:
            all_facts.update(res.facts)
        results.append(res)
        if on_step:
            on_step(res)
        if res.error is not None and not step.ignore_errors and error is None:
            error = failure
        if error is not None and not session.connected:
            break  # a lost session: the pull cannot run either
        if step.reopen_session and session.connected:
            session.reopen()
    return PlaybookResult(playbook.name, results, all_facts, error)
