"""The simulated instance's docker and git stand-ins and the Isaac Lab repositories they serve."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lambdabench.metrics.tensorboard import read_scalars
from lambdabench.metrics.training import read_training
from lambdabench.sim.hosts.manager import IMAGE_DIR
from lambdabench.sim.isaaclab.repo import FORK_URL, UPSTREAM_URL, ensure_repos

NGC_KEY = "nvapi-sim-" + "k3y" * 8
FORK = FORK_URL.removesuffix(".git")  # the seed clones with .git; without must work too
A10 = {"instance_type": "gpu_1x_a10", "gpus": 1, "model": "NVIDIA A10", "rtx": True}
H100X2 = {"instance_type": "gpu_2x_h100", "gpus": 2, "model": "NVIDIA H100 80GB HBM3", "rtx": False}
TRAIN_1X = "source/standalone/workflows/{lib}/train.py"
SMALL = "--task Isaac-Cartpole-v0 --headless --num_envs 64 --max_iterations 5"
EXEC = "docker exec isaac-lab-base /workspace/isaaclab/isaaclab.sh"


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("isaaclab-repos")
    ensure_repos(root)
    return root


class Box:
    """One simulated instance without sshd: its state dir, its disk as HOME, the image on PATH."""

    def __init__(self, root: Path, repos: Path, gpu: dict[str, Any]) -> None:
        self.state = root / "hosts" / "i-test"
        self.home = self.state / "disk"
        for sub in ("disk", "busy", "groups", "sysroot/etc/docker"):
            (self.state / sub).mkdir(parents=True)
        (self.state / "gpu.json").write_text(json.dumps({"driver": "580.95.05", **gpu}))
        salt = "5a17"
        digest = hashlib.sha256((salt + NGC_KEY).encode()).hexdigest()
        (self.state / "ngc.json").write_text(json.dumps({"salt": salt, "sha256": digest}))
        self.settings({})
        self.env = {
            "HOME": str(self.home),
            "PATH": f"{IMAGE_DIR / 'bin'}:{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "LAMBDABENCH_SIM_PYTHON": sys.executable,
            "LAMBDABENCH_SIM_STATE": str(self.state),
            "LAMBDABENCH_SIM_ROOT": str(self.state.parent),
            "LAMBDABENCH_SIM_IMAGE": str(IMAGE_DIR),
            "LAMBDABENCH_SIM_REPOS": str(repos),
            "LAMBDABENCH_SIM_USER": "ubuntu",
            "LAMBDABENCH_SIM_GROUPS": "ubuntu docker",
            "LANG": "C.UTF-8",
        }

    def settings(self, extra: dict[str, Any]) -> None:
        values = {"pull_seconds": 0.2, "small_pull_seconds": 0.0, "build_seconds": 0.0, **extra}
        (self.state / "docker.json").write_text(json.dumps(values))

    def sh(
        self, command: str, *, input: str | None = None, cwd: str = "", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.home / cwd,
            env=self.env,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, command: str, **kwargs: Any) -> str:
        done = self.sh(command, **kwargs)
        assert done.returncode == 0, f"{command!r} -> {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout + done.stderr

    def argv_log(self) -> str:
        return (self.state / "argv.log").read_text()

    def login(self) -> None:
        self.ok("docker login nvcr.io -u '$oauthtoken' --password-stdin", input=NGC_KEY + "\n")

    def volume(self, name: str = "docker_isaac-lab-logs") -> Path:
        return self.home / ".sim-docker" / "volumes" / name / "_data"

    def clone_1x(self, url: str = FORK_URL) -> str:
        """Clone the fork and log in to NGC; returns the repo folder."""
        self.ok(f"git clone {url}")
        self.login()
        return "IsaacLab-Fork"

    def patch_rsl_rl(self, repo: str) -> None:
        """What setup.yaml does: pin the fork's unpinned rsl_rl git extra to v2.0.1."""
        setup = self.home / repo / "source/extensions/omni.isaac.lab_tasks/setup.py"
        setup.write_text(setup.read_text().replace('rsl_rl.git"', 'rsl_rl.git@v2.0.1"'))

    def patch_skrl(self, repo: str) -> None:
        """What setup.yaml does: keep the fork's skrl extra in the 1.x era (skrl 2.x lacks its imports)."""
        setup = self.home / repo / "source/extensions/omni.isaac.lab_tasks/setup.py"
        setup.write_text(setup.read_text().replace('"skrl>=1.2.0"', '"skrl>=1.2.0,<1.5"'))

    def check(self, *lines: str) -> subprocess.CompletedProcess[str]:
        """isaaclab.sh -p on a check file in the container (the form that survives the fork's unquoted $@)."""
        body = "".join(f"{line}\n" for line in lines)
        self.ok("docker exec -i isaac-lab-base bash -c 'cat > /tmp/check.py'", input=body)
        return self.sh(f"{EXEC} -p /tmp/check.py")

    def started_1x(self, *, skrl: bool = True) -> str:
        """The fork as setup.yaml prepares it: patched, X11 pre-answered, yq, TERM; container up."""
        repo = self.clone_1x()
        self.patch_rsl_rl(repo)
        if skrl:
            self.patch_skrl(repo)
        (self.home / repo / "docker" / ".container.yaml").write_text('__ISAACLAB_X11_FORWARDING_ENABLED: "0"\n')
        self.ok("sudo -n apt-get install -y yq")
        self.ok("TERM=xterm ./docker/container.sh start", cwd=repo)
        return repo

    def started_2x(self, *, patch: bool = True, skrl: bool = True) -> str:
        """Upstream v2.1.0 as setup.yaml prepares it (flatdict, skrl pinned unless False); container up."""
        self.ok(f"git clone --depth 1 --branch v2.1.0 {UPSTREAM_URL} isaaclab")
        self.login()
        if patch:
            self.patch_flatdict("isaaclab")
        if skrl:
            setup = self.home / "isaaclab/source/isaaclab_rl/setup.py"
            setup.write_text(setup.read_text().replace('"skrl>=1.4.2"', '"skrl>=1.4.2,<2"'))
        (self.home / "isaaclab" / "docker" / ".container.cfg").write_text("[X11]\nX11_FORWARDING_ENABLED = 0\n")
        self.ok("python3 docker/container.py start", cwd="isaaclab")
        return "isaaclab"

    def patch_flatdict(self, repo: str) -> None:
        setup = self.home / repo / "source/isaaclab/setup.py"
        setup.write_text(setup.read_text().replace('"flatdict==4.0.1"', '"flatdict==4.0.0"'))

    def compose_calls(self) -> list[list[str]]:
        calls = [json.loads(line)["argv"] for line in self.argv_log().splitlines()]
        return [c[1:] for c in calls if c[:2] == ["docker", "compose"]]


@pytest.fixture
def box(tmp_path: Path, repos: Path) -> Iterator[Box]:
    made = Box(tmp_path, repos, A10)
    yield made
    # nothing of the instance may outlive the test (detached execs, play loops)
    marker = f"LAMBDABENCH_SIM_STATE={made.state}".encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    os.kill(int(pid), 9)
            except OSError:
                continue


def _run_dir(box: Box, lib: str) -> Path:
    runs = sorted(p for p in box.volume().glob(f"{lib}/*/*") if p.is_dir())
    assert runs, f"no {lib} run under {box.volume()}"
    return runs[-1]


# ---- docker basics -----------------------------------------------------------------------------


def test_login_reads_the_key_from_stdin_only_and_stores_it_0600(box: Box) -> None:
    bad = box.sh("docker login nvcr.io -u '$oauthtoken' --password-stdin", input="nvapi-wrong\n")
    assert bad.returncode == 1
    assert bad.stderr.strip() == 'Error response from daemon: Get "https://nvcr.io/v2/": unauthorized'
    assert not (box.home / ".docker" / "config.json").exists()

    out = box.ok("docker login nvcr.io -u '$oauthtoken' --password-stdin", input=NGC_KEY + "\n")
    assert "Login Succeeded" in out
    config = box.home / ".docker" / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    auth = json.loads(config.read_text())["auths"]["nvcr.io"]["auth"]
    assert base64.b64decode(auth).decode() == f"$oauthtoken:{NGC_KEY}"

    prompt = box.sh("docker login nvcr.io")  # no TTY: the interactive prompt cannot work
    assert prompt.returncode == 1 and "non TTY device" in prompt.stderr
    log = box.argv_log()
    assert NGC_KEY not in log and "nvapi-wrong" not in log
    assert sum(json.loads(line)["argv"][:2] == ["docker", "login"] for line in log.splitlines()) == 3


def test_isaac_sim_pull_needs_a_login_and_its_time_is_recorded(box: Box) -> None:
    denied = box.sh("docker pull nvcr.io/nvidia/isaac-sim:4.0.0")
    assert denied.returncode == 1 and "unauthorized: authentication required" in denied.stderr
    box.login()
    out = box.ok("docker pull nvcr.io/nvidia/isaac-sim:4.0.0")
    assert "Status: Downloaded newer image for nvcr.io/nvidia/isaac-sim:4.0.0" in out
    timings = [json.loads(x) for x in (box.state / "docker-timings.jsonl").read_text().splitlines()]
    pulls = [t for t in timings if t["event"] == "pull"]
    assert pulls and pulls[0]["image"] == "nvcr.io/nvidia/isaac-sim:4.0.0"
    assert pulls[0]["seconds"] >= 0.2
    assert "nvcr.io/nvidia/isaac-sim" in box.ok("docker images")
    missing = box.sh("docker pull nvcr.io/nvidia/isaac-sim:0.0.1")
    assert missing.returncode == 1 and "manifest unknown" in missing.stderr


def test_gpu_container_and_the_nvidia_runtime_fix_path(box: Box) -> None:
    assert "GPU 0: NVIDIA A10" in box.ok("docker run --rm --gpus all ubuntu nvidia-smi -L")
    plain = box.sh("docker run --rm ubuntu nvidia-smi")  # no --gpus: the toolkit injects nothing
    assert plain.returncode == 127 and "executable file not found" in plain.stderr

    box.settings({"nvidia_runtime": False})  # a daemon started before the toolkit was configured
    broken = box.sh("docker run --rm --gpus all ubuntu nvidia-smi")
    assert broken.returncode == 125
    assert 'could not select device driver "" with capabilities: [[gpu]]' in broken.stderr
    box.ok("sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker")
    assert "NVIDIA A10" in box.ok("docker run --rm --gpus all ubuntu nvidia-smi")
    assert "nvidia" in box.ok("docker info --format '{{json .Runtimes}}'")


# ---- the seed's workflow on the 1.x fork -------------------------------------------------------


def test_fork_start_needs_a_terminal_type_yq_and_its_own_x11_key(box: Box) -> None:
    repo = box.clone_1x()
    assert box.ok("git describe --tags", cwd=repo).strip() == "v1.0.0"
    # container.sh runs `tabs 4` under set -e: over non-interactive SSH there is no TERM
    no_term = box.sh("./docker/container.sh start", cwd=repo)
    assert no_term.returncode != 0 and "tabs" in no_term.stderr
    # yq reads the state file on every start; a fresh box has none
    no_yq = box.sh("TERM=xterm ./docker/container.sh start", cwd=repo)
    assert no_yq.returncode != 0 and "yq" in no_yq.stderr
    box.ok("sudo -n apt-get install -y yq")
    # the key the old setup wrote is not the one container.sh reads: the X11 prompt hits end of input
    (box.home / repo / "docker" / ".container.yaml").write_text("X11_FORWARDING_ENABLED: 0\n")
    asked = box.sh("TERM=xterm ./docker/container.sh start", cwd=repo)
    assert asked.returncode == 1 and "It will fail if there is no display" in asked.stdout
    assert box.compose_calls() == []  # all of the above stop before any docker compose
    (box.home / repo / "docker" / ".container.yaml").write_text('__ISAACLAB_X11_FORWARDING_ENABLED: "0"\n')
    # now the image build runs, and stops at the rsl_rl extra (rsl_rl is rsl-rl-lib since v2.1.1)
    build = box.sh("TERM=xterm ./docker/container.sh start", cwd=repo)
    assert build.returncode != 0 and "inconsistent name" in build.stderr
    assert "isaac-lab-base" not in box.ok("docker ps --format '{{.Names}}'")
    box.patch_rsl_rl(repo)
    out = box.ok("TERM=xterm ./docker/container.sh start", cwd=repo)
    assert "X11 Forwarding is configured as 0" in out
    assert [
        "compose",
        "--file",
        "docker-compose.yaml",
        "--env-file",
        ".env.base",
        "build",
        "isaac-lab-base",
    ] in box.compose_calls()
    assert "isaac-lab-base" in box.ok("docker ps --format '{{.Names}}'")
    assert box.check("import omni.isaac.lab, rsl_rl, skrl, rl_games, stable_baselines3").returncode == 0


def test_fork_python_gets_its_arguments_split(box: Box) -> None:
    box.started_1x()
    # the fork's `-p` runs `${python_exe} $@` unquoted (isaaclab.sh:347): `-c 'import x'` is `-c import x`
    split = box.sh(f"{EXEC} -p -c 'import omni.isaac.lab'")
    assert split.returncode == 1 and "SyntaxError" in split.stderr, split.stderr
    assert (
        box.check("import omni.isaac.lab", "from skrl.agents.torch.ppo import PPO, PPO_DEFAULT_CONFIG").returncode == 0
    )


def test_fork_skrl_unpinned_resolves_to_2x_without_the_forks_imports(box: Box) -> None:
    box.started_1x(skrl=False)  # the image's `isaaclab.sh --install` takes skrl>=1.2.0: 2.1.1 today
    assert box.check("import skrl").returncode == 0
    for line in (
        "from skrl.agents.torch.ppo import PPO, PPO_DEFAULT_CONFIG",
        "from skrl.utils.model_instantiators.torch import Shape",
    ):
        gone = box.check(line)
        assert gone.returncode == 1 and "cannot import name" in gone.stderr, gone.stderr


def test_seed_workflow_on_the_fork(box: Box) -> None:
    repo = box.started_1x()
    no_alias = box.sh("docker exec isaac-lab-base bash -c 'python --version'")
    assert no_alias.returncode == 127  # the alias lives only in interactive shells
    outside = box.sh("./isaaclab.sh -p -c 'print(1)'", cwd=repo)
    assert outside.returncode == 1 and "Unable to find any Python executable" in outside.stderr
    # the image's `isaaclab.sh --install` installed every library; -i again is harmless
    box.ok(f"{EXEC} -i skrl")
    for lib in ("rl_games", "rsl_rl", "skrl", "sb3"):
        out = box.ok(f"{EXEC} -p {TRAIN_1X.format(lib=lib)} {SMALL}")
        assert "simulated" in out
        run = _run_dir(box, lib)
        series = read_training(run).series()
        assert series.library == lib
        rates = [p.env_steps_per_s for p in series.points if p.env_steps_per_s is not None]
        assert rates and all(r > 0 for r in rates), (lib, series.notes)
        assert "num_envs: 64" in (run / "params" / "env.yaml").read_text()
    tags = read_scalars(_run_dir(box, "rsl_rl"))
    assert "Perf/collection time" in tags and "Perf/collection_time" not in tags
    assert "Reward / Total reward (mean)" in read_scalars(_run_dir(box, "skrl"))
    assert list(_run_dir(box, "rl_games").glob("nn/last_cartpole_ep_5_rew_*.pth"))
    sb3 = _run_dir(box, "sb3")
    assert (sb3 / "model.zip").exists() and list(sb3.glob("events.out.tfevents.*"))  # no PPO_1/ before 2.2
    assert not (sb3 / "PPO_1").exists()

    # the fork's playback records into <run>/videos/playback and plays on until interrupted
    skrl_run = _run_dir(box, "skrl")
    play = box.sh(
        f"timeout -s INT 4 {EXEC} -p source/standalone/workflows/skrl/play.py "
        f"--task Isaac-Cartpole-v0 --num_envs 8 --headless --video_length 20 "
        f"--checkpoint /workspace/isaaclab/logs/skrl/cartpole/{skrl_run.name}/checkpoints/best_agent.pt",
        timeout=30,
    )
    assert play.returncode in (0, 124), play.stderr
    clips = list((skrl_run / "videos" / "playback").glob("*.mp4"))
    assert len(clips) == 1 and clips[0].read_bytes()[4:8] == b"ftyp"

    # copy deletes the old artifacts first; stop keeps the volumes (compose down without --volumes)
    box.ok("TERM=xterm ./docker/container.sh copy", cwd=repo)
    box.ok("TERM=xterm ./docker/container.sh copy", cwd=repo)
    copied = box.home / repo / "docker" / "artifacts" / "logs"
    assert list(copied.glob("skrl/cartpole/*/events.out.tfevents.*")) and not (copied / "logs").exists()
    box.ok("TERM=xterm ./docker/container.sh stop", cwd=repo)
    assert [
        "compose",
        "--file",
        "docker-compose.yaml",
        "--profile",
        "base",
        "--env-file",
        ".env.base",
        "down",
    ] in box.compose_calls()
    assert box.volume().is_dir() and list(box.volume().glob("skrl/*/*"))
    gone = box.sh(f"{EXEC} -i none")
    assert gone.returncode == 1 and "No such container" in gone.stderr


def test_fork_play_flags_per_library(box: Box) -> None:
    box.started_1x()
    box.ok(f"{EXEC} -p {TRAIN_1X.format(lib='sb3')} {SMALL}")
    box.ok(f"{EXEC} -p {TRAIN_1X.format(lib='rsl_rl')} {SMALL}")
    play = "source/standalone/workflows/{lib}/play.py --task Isaac-Cartpole-v0 --num_envs 4 --headless"
    # the fork's sb3 play has no video flags at all
    sb3 = box.sh(f"{EXEC} -p {play.format(lib='sb3')} --video_length 10")
    assert sb3.returncode == 2 and "unrecognized arguments: --video_length" in sb3.stderr
    # rsl_rl: --checkpoint is a file-name regex inside --load_run; a full path matches nothing
    run = _run_dir(box, "rsl_rl")
    full = f"/workspace/isaaclab/logs/rsl_rl/cartpole/{run.name}/model_5.pt"
    wrong = box.sh(
        f"timeout -s INT 5 {EXEC} -p {play.format(lib='rsl_rl')} --disable_video --checkpoint {full}", timeout=30
    )
    assert wrong.returncode == 1 and "No checkpoints in the directory" in wrong.stderr
    right = box.sh(
        f"timeout -s INT 4 {EXEC} -p {play.format(lib='rsl_rl')} --video_length 10 "
        f"--load_run '{run.name}$' --checkpoint 'model_5\\.pt$'",
        timeout=30,
    )
    assert right.returncode in (0, 124), right.stderr
    assert "model_5.pt" in right.stdout
    assert list((run / "videos" / "playback").glob("*.mp4"))  # the fork: beside the checkpoint


def test_upstream_2x_without_the_flatdict_pin_builds_without_isaaclab(box: Box) -> None:
    repo = box.started_2x(patch=False)  # start exits 0: the image builds, isaaclab failed to install
    assert "isaac-lab-base" in box.ok("docker ps --format '{{.Names}}'")
    missing = box.check("import isaaclab")
    assert missing.returncode == 1 and "No module named 'isaaclab'" in missing.stderr
    train = box.sh(f"{EXEC} -p scripts/reinforcement_learning/skrl/train.py {SMALL}")
    assert train.returncode == 1 and "No module named 'isaaclab'" in train.stderr
    box.patch_flatdict(repo)
    box.ok("python3 docker/container.py start", cwd=repo)  # rebuilt: a new image, a new container
    assert box.check("import isaaclab, isaaclab_rl, rsl_rl").returncode == 0
    assert box.sh(f"{EXEC} -p -c 'import isaaclab, rsl_rl'").returncode == 0  # 2.x quotes "$@"


def test_upstream_2x_skrl_2_cannot_play_until_pinned_below_2(box: Box) -> None:
    repo = box.started_2x(skrl=False)  # the image's `isaaclab.sh --install` takes skrl>=1.4.2: 2.1.1 today
    script = "scripts/reinforcement_learning/skrl"
    box.ok(f"{EXEC} -p {script}/train.py {SMALL}")  # the Runner takes 2.x's config (its own renames)
    play = f"{EXEC} -p {script}/play.py --task Isaac-Cartpole-v0 --num_envs 4 --headless --video --video_length 10"
    died = box.sh(play)
    assert died.returncode == 1 and "no attribute 'set_running_mode'" in died.stderr, died.stderr
    # setup.yaml's pin; 2.x's compose binds source/ into the container (v2.1.0 docker-compose.yaml:37-39)
    setup = box.home / repo / "source/isaaclab_rl/setup.py"
    setup.write_text(setup.read_text().replace('"skrl>=1.4.2"', '"skrl>=1.4.2,<2"'))
    box.ok(f"{EXEC} -i skrl")
    box.ok(play)
    assert (_run_dir(box, "skrl") / "videos" / "play" / "rl-video-step-0.mp4").exists()


def test_upstream_2x_start_exits_0_when_compose_fails(box: Box) -> None:
    box.ok(f"git clone --depth 1 --branch v2.1.0 {UPSTREAM_URL} isaaclab")  # no NGC login: no base image
    (box.home / "isaaclab" / "docker" / ".container.cfg").write_text("[X11]\nX11_FORWARDING_ENABLED = 0\n")
    done = box.sh("python3 docker/container.py start", cwd="isaaclab")
    assert done.returncode == 0 and "401 Unauthorized" in done.stderr
    assert box.sh("docker container inspect -f '{{.State.Status}}' isaac-lab-base").returncode != 0
    # and without the pre-answer, the X11 question dies on end of input
    (box.home / "isaaclab" / "docker" / ".container.cfg").unlink()
    asked = box.sh("python3 docker/container.py start", cwd="isaaclab")
    assert asked.returncode == 1 and "EOFError" in asked.stderr


def test_upstream_2x_layout_trains_and_plays(box: Box) -> None:
    repo = box.started_2x()
    script = "scripts/reinforcement_learning/rsl_rl"
    box.ok(f"{EXEC} -p {script}/train.py {SMALL}")
    run = _run_dir(box, "rsl_rl")
    assert "Perf/collection time" in read_scalars(run)  # rsl-rl-lib 2.3.1 still writes the space
    assert read_training(run).series().points[-1].env_steps == 5 * 64 * 16
    box.ok(f"{EXEC} -p scripts/reinforcement_learning/sb3/train.py {SMALL}")
    assert list(_run_dir(box, "sb3").glob("events.out.tfevents.*"))  # 2.1: no PPO_1/ yet
    # without --video, 2.x play runs until interrupted; with it, it stops after video_length steps
    endless = box.sh(
        f"timeout -s INT 3 {EXEC} -p {script}/play.py --task Isaac-Cartpole-v0 --num_envs 4 --headless", timeout=30
    )
    assert endless.returncode == 124
    box.ok(f"{EXEC} -p {script}/play.py --task Isaac-Cartpole-v0 --num_envs 4 --headless --video --video_length 10")
    assert (run / "videos" / "play" / "rl-video-step-0.mp4").exists()
    box.ok("python3 docker/container.py copy", cwd=repo)
    box.ok("python3 docker/container.py copy", cwd=repo)  # deletes the old artifacts first
    assert not (box.home / repo / "docker" / "artifacts" / "logs" / "logs").exists()
    assert "Isaac-Swerve-v0" not in box.ok(f"{EXEC} -p scripts/environments/list_envs.py --headless")
    box.ok("python3 docker/container.py stop", cwd=repo)
    assert not box.volume().exists()  # 2.x stop: compose down --volumes


def test_upstream_2x_benchmark_writes_the_real_kpi_shape(box: Box) -> None:
    from lambdabench.metrics.kpi import read_benchmark_artifacts

    box.started_2x()
    setting = "--/exts/isaacsim.benchmark.services/metrics/metrics_output_folder=/workspace/isaaclab/logs/benchmarks"
    script = "scripts/benchmarks/benchmark_non_rl.py --task Isaac-Cartpole-v0 --num_envs 32 --num_frames 20 --headless"
    # argparse takes a lone "--/exts/..." for an unknown option: only --kit_args=VALUE passes it
    spaced = box.sh(f"{EXEC} -p {script} --kit_args '{setting}'")
    assert spaced.returncode == 2 and "--kit_args: expected one argument" in spaced.stderr
    folder = f"'--kit_args={setting}'"
    box.ok(
        f"{EXEC} -p scripts/benchmarks/benchmark_non_rl.py --task Isaac-Cartpole-v0 --num_envs 32 --num_frames 20 --headless {folder}"
    )
    kpi = json.loads((box.volume() / "benchmarks" / "kpis_benchmark_non_rl.json").read_text())
    assert {"App Info", "timestamp", "Kit", "startup", "runtime"} <= set(kpi)
    runtime = kpi["runtime"]
    assert runtime["Mean Environment step effective FPS"] == pytest.approx(
        runtime["Mean Environment step FPS"] * 32, rel=0.05
    )
    box.ok(
        f"{EXEC} -p scripts/benchmarks/benchmark_rsl_rl.py --task Isaac-Cartpole-v0 --num_envs 32 --max_iterations 3 --headless"
    )
    assert (box.home / ".sim-docker/containers/isaac-lab-base/rootfs/tmp/kpis_benchmark_rsl_rl.json").exists()
    summary = read_benchmark_artifacts(box.volume())
    assert summary is not None and summary.env_steps_per_s == pytest.approx(
        runtime["Mean Environment step effective FPS"]
    )


def test_list_envs_of_the_fork_includes_its_tasks(box: Box) -> None:
    box.started_1x()
    table = box.ok(f"{EXEC} -p source/standalone/environments/list_envs.py --headless")
    for task in ("Isaac-Cartpole-v0", "Isaac-Cart-v0", "Isaac-Swerve-v0", "Isaac-Reach-Franka-v0"):
        assert f"| {task} " in table


def test_multi_gpu_emulation_runs_one_copy_per_rank(tmp_path: Path, repos: Path) -> None:
    box = Box(tmp_path, repos, H100X2)
    box.started_1x()
    train = TRAIN_1X.format(lib="rl_games")
    out = box.ok(f"{EXEC} -p -m torch.distributed.run --nnodes=1 --nproc_per_node=2 {train} {SMALL} --distributed")
    assert "Using device: cuda:0" in out and "Using device: cuda:1" in out
    runs = list(box.volume().glob("rl_games/cartpole/*"))
    assert len(runs) == 1  # only rank 0 writes logs
    single = box.sh(f"{EXEC} -p {train} {SMALL} --distributed")  # no torchrun: no rendezvous
    assert single.returncode == 1 and "RANK expected" in single.stderr
    too_many = box.sh(f"{EXEC} -p -m torch.distributed.run --nnodes=1 --nproc_per_node=3 {train} {SMALL} --distributed")
    assert too_many.returncode == 1
    assert "invalid device ordinal" in too_many.stderr and "ChildFailedError" in too_many.stderr
    # the fork's rsl_rl train.py has no --distributed
    rsl = box.sh(f"{EXEC} -p {TRAIN_1X.format(lib='rsl_rl')} {SMALL} --distributed")
    assert rsl.returncode == 2 and "unrecognized arguments: --distributed" in rsl.stderr


def test_video_and_cameras_are_refused_on_a_gpu_without_rt_cores(tmp_path: Path, repos: Path) -> None:
    box = Box(tmp_path, repos, H100X2)
    box.started_1x()
    train = TRAIN_1X.format(lib="skrl")
    refused = box.sh(f"{EXEC} -p {train} {SMALL} --video")
    assert refused.returncode == 1
    assert "vkCreateInstance failed: ERROR_INCOMPATIBLE_DRIVER" in refused.stderr
    assert not list(box.volume().glob("skrl/*/*"))
    box.ok(f"{EXEC} -p {train} {SMALL}")  # headless, camera-free training works


def test_no_graphics_userspace_no_isaac_sim(tmp_path: Path, repos: Path) -> None:
    box = Box(tmp_path, repos, H100X2)
    box.started_1x()
    names = [line.split()[1] for line in box.ok("dpkg -l").splitlines() if line.startswith("ii")]
    (box.state / "packages.json").write_text(json.dumps([n for n in names if not n.startswith("libnvidia-gl")]))
    assert box.sh("dpkg -S /usr/share/vulkan/icd.d/nvidia_icd.json").returncode == 1
    refused = box.sh(f"{EXEC} -p {TRAIN_1X.format(lib='skrl')} {SMALL}")
    assert refused.returncode == 1 and "no NVIDIA Vulkan ICD" in refused.stderr


def test_training_video_on_an_rtx_gpu(box: Box) -> None:
    box.started_1x()
    box.ok(f"{EXEC} -p {TRAIN_1X.format(lib='rsl_rl')} {SMALL} --video --video_length 12 --video_interval 40")
    clips = sorted(p.name for p in (_run_dir(box, "rsl_rl") / "videos" / "training").iterdir())
    assert "rl-video-step-0.mp4" in clips and "rl-video-step-0.meta.json" in clips
    assert "rl-video-step-40.mp4" in clips
    box.ok(f"{EXEC} -p {TRAIN_1X.format(lib='skrl')} {SMALL} --video --video_length 12 --video_interval 40")
    assert (_run_dir(box, "skrl") / "videos" / "rl-video-step-0.mp4").exists()  # the fork: videos/


# ---- over real SSH -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not Path("/usr/sbin/sshd").is_file(), reason="OpenSSH sshd not installed")
def test_login_and_clone_over_ssh_through_the_host_manager(tmp_path: Path) -> None:
    from lambdabench.sim.hosts.manager import HostManager

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    itype = SimpleNamespace(name="gpu_1x_a10", gpus=1, gpu_model="NVIDIA A10", rtx=True)
    with HostManager(tmp_path / "sim", port=_free_port(), ngc_api_key=NGC_KEY) as hosts:
        info = hosts.start("i-ssh", authorized_key=key.with_suffix(".pub").read_text(), instance_type=itype)
        ssh = [
            "ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-p", str(info.port), f"{hosts.user}@{info.ip}",
        ]  # fmt: skip
        command = (
            "docker login nvcr.io -u '$oauthtoken' --password-stdin && "
            "docker run --rm --gpus all ubuntu nvidia-smi -L && "
            f"git clone --quiet {FORK_URL} && ls IsaacLab-Fork/docker"
        )
        done = subprocess.run([*ssh, command], input=NGC_KEY + "\n", capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Login Succeeded" in done.stdout and "NVIDIA A10" in done.stdout
        assert "container.sh" in done.stdout
        assert NGC_KEY not in (hosts.host_dir("i-ssh") / "argv.log").read_text()


@pytest.mark.parametrize("version", ["1.x", "2.x"])
def test_collect_records_the_containers_environment_lock(box: Box, version: str) -> None:
    """collect's lock step as the playbook renders it: the container's Python and packages, the host's driver
    and CUDA, the container's image reference and id; a box whose container cannot answer costs the lock only."""
    import shutil

    from lambdabench.remote.expr import render
    from lambdabench.remote.playbook import default_dirs, find_playbook
    from lambdabench.workloads import env_lock

    box.started_1x() if version == "1.x" else box.started_2x()
    book = find_playbook("collect", default_dirs(None))
    step = next(s for s in book.steps if s.name == "record the environment lock")
    (box.home / "lambdabench-artifacts" / "logs").mkdir(parents=True)
    shutil.copy(env_lock.__file__, box.home / "lambdabench-artifacts" / "env_lock.py")
    command = render(str(step.body), book.resolve_vars({}))
    box.ok(command)
    lock = json.loads((box.home / "lambdabench-artifacts" / "logs" / "env-lock.json").read_text())
    software = lock["software"]
    calls = [json.loads(line)["argv"] for line in box.argv_log().splitlines()]
    inside = [
        "docker",
        "exec",
        "isaac-lab-base",
        "/workspace/isaaclab/isaaclab.sh",
        "-p",
        "/tmp/lambdabench-env-lock.py",
    ]
    assert [*inside, "--packages"] in calls  # the packages are the container interpreter's, run as training runs
    image = json.loads(box.ok("docker image inspect isaac-lab-base"))[0]
    ref = json.loads(box.ok("docker inspect isaac-lab-base"))[0]["Config"]["Image"]
    # compared: the pulled Isaac Sim base's registry digest and the checkout's commit; a built image has no
    # RepoDigests, so its id (another on every box) is recorded beside the software, never in it
    tag = "4.0.0" if version == "1.x" else "4.5.0"
    (digest,) = json.loads(box.ok(f"docker image inspect nvcr.io/nvidia/isaac-sim:{tag}"))[0]["RepoDigests"]
    assert image["RepoDigests"] == [] and digest.startswith("nvcr.io/nvidia/isaac-sim@sha256:")
    assert software["base_image"] == f"nvcr.io/nvidia/isaac-sim:{tag}@{digest.split('@')[1]}"
    checkout = lock["container"]["checkout"]
    assert software["isaaclab_commit"] == box.ok(f"git -C {checkout} rev-parse HEAD").strip()
    assert lock["container"]["image"] == f"{ref}@{image['Id']}" and "container_image" not in software
    assert lock["container"]["base_image_pinned_by"] == "registry digest"
    # a base image loaded from --cache has lost its registry digest (moby/moby#22011): its image id stands in
    base = f"nvcr.io/nvidia/isaac-sim:{tag}"
    base_id = json.loads(box.ok(f"docker image inspect {base}"))[0]["Id"]
    box.ok(f"docker save -o base.tar {base} && docker rmi {base} && docker load -q -i base.tar")
    assert json.loads(box.ok(f"docker image inspect {base}"))[0]["RepoDigests"] == []
    box.ok(command)
    loaded = json.loads((box.home / "lambdabench-artifacts" / "logs" / "env-lock.json").read_text())
    assert loaded["software"]["base_image"] == f"{base}@{base_id}"
    assert loaded["container"]["base_image_pinned_by"] == "image id"
    assert software["driver"] == "580.95.05" and software["cuda"] and software["packages"]
    assert len(lock["software_sha256"]) == 64 and lock["gpus"][0]["name"] == "NVIDIA A10"
    # the container gone: no lock file, a line on stderr, and the step still succeeds
    box.ok("docker rm -f isaac-lab-base")
    failed = box.sh(command)
    assert failed.returncode == 0 and "no environment lock" in failed.stderr
    assert not (box.home / "lambdabench-artifacts" / "logs" / "env-lock.json").exists()
