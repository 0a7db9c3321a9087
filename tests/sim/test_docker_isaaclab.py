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

from lambdabench.metrics.tensorboard import load_series, read_scalars
from lambdabench.sim.hosts import IMAGE_DIR
from lambdabench.sim.isaaclab_repo import FORK_URL, UPSTREAM_URL, ensure_repos

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

    def sh(self, command: str, *, input: str | None = None, cwd: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
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

    def started_1x(self) -> str:
        """Clone the fork, pre-answer X11, log in, start the container; returns the repo folder."""
        self.ok(f"git clone {FORK_URL}")
        self.login()
        (self.home / "IsaacLab-Fork" / "docker" / ".container.yaml").write_text(
            "X11_FORWARDING_ENABLED: 0\n"
        )
        self.ok("./docker/container.sh start", cwd="IsaacLab-Fork")
        return "IsaacLab-Fork"


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


def test_seed_workflow_on_the_fork(box: Box) -> None:
    box.ok(f"git clone {FORK}")  # without .git, like a copy-paste from the browser
    repo = "IsaacLab-Fork"
    assert box.ok("git remote get-url origin", cwd=repo).strip() == FORK
    assert box.ok("git describe --tags", cwd=repo).strip() == "v1.0.0"
    box.login()

    asked = box.sh("./docker/container.sh start", cwd=repo)  # stdin is not a terminal
    assert asked.returncode == 1 and "stdin is not a terminal" in asked.stderr
    assert "docker compose" not in box.argv_log().replace('"docker", "compose"', "docker compose")
    (box.home / repo / "docker" / ".container.yaml").write_text("X11_FORWARDING_ENABLED: 0\n")
    box.ok("./docker/container.sh start", cwd=repo)
    assert "isaac-lab-base" in box.ok("docker ps --format '{{.Names}}'")

    no_alias = box.sh("docker exec isaac-lab-base bash -c 'python --version'")
    assert no_alias.returncode == 127  # the alias lives only in interactive shells
    outside = box.sh("./isaaclab.sh -p -c 'print(1)'", cwd=repo)
    assert outside.returncode == 1 and "Unable to find any Python executable" in outside.stderr

    early = box.sh(f"{EXEC} -p {TRAIN_1X.format(lib='rl_games')} {SMALL}")
    assert early.returncode == 1 and "No module named 'rl_games'" in early.stderr
    box.ok(f"{EXEC} -i skrl")
    box.ok(f"{EXEC} -i all")
    for lib in ("rl_games", "rsl_rl", "skrl", "sb3"):
        out = box.ok(f"{EXEC} -p {TRAIN_1X.format(lib=lib)} {SMALL}")
        assert "simulated" in out
        run = _run_dir(box, lib)
        series = load_series(run)
        assert series.library == lib
        rates = [p.env_steps_per_s for p in series.points if p.env_steps_per_s is not None]
        assert rates and all(r > 0 for r in rates), (lib, series.notes)
        assert "num_envs: 64" in (run / "params" / "env.yaml").read_text()
        assert "simulated" in (run / "params" / "agent.yaml").read_text()
    assert "fps step:" in box.ok(f"{EXEC} -p {TRAIN_1X.format(lib='rl_games')} {SMALL} --seed 7")
    tags = read_scalars(_run_dir(box, "rsl_rl"))
    assert "Perf/collection time" in tags and "Perf/collection_time" not in tags
    assert "Reward / Total reward (mean)" in read_scalars(_run_dir(box, "skrl"))
    assert list(_run_dir(box, "rl_games").glob("nn/last_cartpole_ep_5_rew_*.pth"))
    assert (_run_dir(box, "sb3") / "model.zip").exists()

    # the fork's playback records a clip and plays on until interrupted (the seed's ctrl-c)
    checkpoint = "/workspace/isaaclab/logs/skrl/cartpole/" + _run_dir(box, "skrl").name
    play = box.sh(
        f"timeout -s INT 4 {EXEC} -p source/standalone/workflows/skrl/play.py "
        f"--task Isaac-Cartpole-v0 --num_envs 8 --headless --video_length 20 "
        f"--checkpoint {checkpoint}/checkpoints/best_agent.pt",
        timeout=30,
    )
    assert play.returncode in (0, 124), play.stderr
    clips = list(_run_dir(box, "skrl").glob("checkpoints/videos/playback/*.mp4"))
    assert len(clips) == 1 and clips[0].read_bytes()[4:8] == b"ftyp"

    # copy out before stop: stop deletes the logs volume
    box.ok("./docker/container.sh copy", cwd=repo)
    copied = box.home / repo / "docker" / "artifacts" / "logs"
    assert list(copied.glob("skrl/cartpole/*/events.out.tfevents.*"))
    box.ok("docker cp isaac-lab-base:/workspace/isaaclab/logs ./logs-out")
    assert (box.home / "logs-out" / "rl_games" / "cartpole").is_dir()
    box.ok("./docker/container.sh stop", cwd=repo)
    assert not box.volume().exists()
    assert "isaac-lab-logs" not in box.ok("docker volume ls")
    assert load_series(sorted(copied.glob("sb3/*/*"))[-1]).library == "sb3"
    gone = box.sh(f"{EXEC} -i none")
    assert gone.returncode == 1 and "No such container" in gone.stderr


def test_upstream_2x_layout_trains_and_plays_with_video(box: Box) -> None:
    box.ok(f"git clone --depth 1 --branch v2.1.0 {UPSTREAM_URL} isaaclab")
    box.login()
    (box.home / "isaaclab" / "docker" / ".container.cfg").write_text(
        "[X11]\nX11_FORWARDING_ENABLED = 0\n"
    )
    box.ok("./docker/container.py start", cwd="isaaclab")
    box.ok(f"{EXEC} -i rsl_rl")
    script = "scripts/reinforcement_learning/rsl_rl"
    box.ok(f"{EXEC} -p {script}/train.py {SMALL}")
    run = _run_dir(box, "rsl_rl")
    assert "Perf/collection_time" in read_scalars(run)
    assert load_series(run).points[-1].env_steps == 5 * 64 * 16
    box.ok(f"{EXEC} -p {script}/play.py --task Isaac-Cartpole-v0 --num_envs 4 --headless --video --video_length 10")
    assert (run / "videos" / "play" / "rl-video-step-0.mp4").exists()
    box.ok("./docker/container.py copy", cwd="isaaclab")
    box.ok("./docker/container.py copy", cwd="isaaclab")  # 2.x deletes the old artifacts first
    assert not (box.home / "isaaclab" / "docker" / "artifacts" / "logs" / "logs").exists()
    assert "Isaac-Swerve-v0" not in box.ok(f"{EXEC} -p scripts/environments/list_envs.py")


def test_list_envs_of_the_fork_includes_its_tasks(box: Box) -> None:
    box.started_1x()
    table = box.ok(f"{EXEC} -p source/standalone/environments/list_envs.py")
    for task in ("Isaac-Cartpole-v0", "Isaac-Cart-v0", "Isaac-Swerve-v0", "Isaac-Reach-Franka-v0"):
        assert f"| {task} " in table


def test_multi_gpu_emulation_runs_one_copy_per_rank(tmp_path: Path, repos: Path) -> None:
    box = Box(tmp_path, repos, H100X2)
    box.started_1x()
    box.ok(f"{EXEC} -i rl_games")
    train = TRAIN_1X.format(lib="rl_games")
    out = box.ok(
        f"{EXEC} -p -m torch.distributed.run --nnodes=1 --nproc_per_node=2 {train} {SMALL} --distributed"
    )
    assert "Using device: cuda:0" in out and "Using device: cuda:1" in out
    runs = list(box.volume().glob("rl_games/cartpole/*"))
    assert len(runs) == 1  # only rank 0 writes logs
    single = box.sh(f"{EXEC} -p {train} {SMALL} --distributed")  # no torchrun: no rendezvous
    assert single.returncode == 1 and "RANK expected" in single.stderr
    too_many = box.sh(
        f"{EXEC} -p -m torch.distributed.run --nnodes=1 --nproc_per_node=3 {train} {SMALL} --distributed"
    )
    assert too_many.returncode == 1
    assert "invalid device ordinal" in too_many.stderr and "ChildFailedError" in too_many.stderr


def test_video_and_cameras_are_refused_on_a_gpu_without_rt_cores(tmp_path: Path, repos: Path) -> None:
    box = Box(tmp_path, repos, H100X2)
    box.started_1x()
    box.ok(f"{EXEC} -i skrl")
    train = TRAIN_1X.format(lib="skrl")
    refused = box.sh(f"{EXEC} -p {train} {SMALL} --video")
    assert refused.returncode == 1
    assert "vkCreateInstance failed: ERROR_INCOMPATIBLE_DRIVER" in refused.stderr
    assert not list(box.volume().glob("skrl/*/*"))
    box.ok(f"{EXEC} -p {train} {SMALL}")  # headless, camera-free training works


def test_training_video_on_an_rtx_gpu(box: Box) -> None:
    box.started_1x()
    box.ok(f"{EXEC} -i rsl_rl")
    box.ok(f"{EXEC} -p {TRAIN_1X.format(lib='rsl_rl')} {SMALL} --video --video_length 12 --video_interval 40")
    clips = sorted(p.name for p in (_run_dir(box, "rsl_rl") / "videos" / "train").iterdir())
    assert "rl-video-step-0.mp4" in clips and "rl-video-step-0.meta.json" in clips
    assert "rl-video-step-40.mp4" in clips


# ---- over real SSH -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not Path("/usr/sbin/sshd").is_file(), reason="OpenSSH sshd not installed")
def test_login_and_clone_over_ssh_through_the_host_manager(tmp_path: Path) -> None:
    from lambdabench.sim.hosts import HostManager

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
        done = subprocess.run(
            [*ssh, command], input=NGC_KEY + "\n", capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "Login Succeeded" in done.stdout and "NVIDIA A10" in done.stdout
        assert "container.sh" in done.stdout
        assert NGC_KEY not in (hosts.host_dir("i-ssh") / "argv.log").read_text()
