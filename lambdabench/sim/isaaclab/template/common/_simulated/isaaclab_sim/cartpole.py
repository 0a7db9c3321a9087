"""The simulated workload: a vectorised numpy cart-pole, a linear policy trained by evolution strategies.

Every Isaac Lab task of the stand-in runs this same small, real computation on the CPU, so the
throughput, rewards and videos it reports are measured, not invented (but are not Isaac Sim's).
"""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DT = 1.0 / 60.0
MAX_EPISODE_LENGTH = 300  # 5 s at 60 Hz, like Isaac-Cartpole-v0
FORCE = 10.0
GRAVITY, CART_MASS, POLE_MASS, POLE_HALF_LENGTH = 9.81, 1.0, 0.1, 0.5
X_LIMIT, THETA_LIMIT = 3.0, 0.6


class CartPole:
    """num_envs cart-poles stepped together; obs = (x, x_dot, theta, theta_dot)."""

    def __init__(self, num_envs: int, seed: int) -> None:
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros((num_envs, 4))
        self.episode_length = np.zeros(num_envs, dtype=np.int64)
        self.episode_return = np.zeros(num_envs)
        self.reset(np.ones(num_envs, dtype=bool))

    def reset(self, mask: np.ndarray) -> None:
        """Start new episodes where mask is set."""
        count = int(mask.sum())
        if count:
            self.state[mask] = self.rng.uniform(-0.1, 0.1, size=(count, 4))
            self.episode_length[mask] = 0
            self.episode_return[mask] = 0.0

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance one control step; returns (reward, done, finished-episode stats)."""
        x, x_dot, theta, theta_dot = self.state.T
        force = FORCE * np.clip(action, -1.0, 1.0)
        total = CART_MASS + POLE_MASS
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + POLE_MASS * POLE_HALF_LENGTH * theta_dot**2 * sin) / total
        theta_acc = (GRAVITY * sin - cos * temp) / (POLE_HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos**2 / total))
        x_acc = temp - POLE_MASS * POLE_HALF_LENGTH * theta_acc * cos / total
        self.state = np.stack(
            [x + DT * x_dot, x_dot + DT * x_acc, theta + DT * theta_dot, theta_dot + DT * theta_acc],
            axis=1,
        )
        self.episode_length += 1
        failed = (np.abs(self.state[:, 0]) > X_LIMIT) | (np.abs(self.state[:, 2]) > THETA_LIMIT)
        timeout = self.episode_length >= MAX_EPISODE_LENGTH
        # Isaac-Cartpole's reward terms: alive, terminated, pole angle, cart and pole velocity
        reward = (
            (
                1.0
                - 2.0 * failed
                - self.state[:, 2] ** 2
                - 0.01 * np.abs(self.state[:, 1])
                - 0.005 * np.abs(self.state[:, 3])
            )
            * DT
            * 2
        )
        self.episode_return += reward
        done = failed | timeout
        finished = {
            "return": self.episode_return[done].copy(),
            "length": self.episode_length[done].copy(),
        }
        self.reset(done)
        return reward, done, finished


class LinearPolicy:
    """action = tanh(obs · w): four weights, improved by antithetic-free evolution strategies."""

    def __init__(self, seed: int, weights: np.ndarray | None = None) -> None:
        self.rng = np.random.default_rng(seed + 1)
        self.w = np.zeros(4) if weights is None else np.asarray(weights, dtype=float)
        self.sigma, self.lr = 0.5, 0.3

    def perturbations(self, num_envs: int) -> np.ndarray:
        """One weight perturbation per environment for this iteration."""
        return self.rng.standard_normal((num_envs, 4))

    def act(self, obs: np.ndarray, eps: np.ndarray | None = None) -> np.ndarray:
        """Actions for every env, with each env's perturbed weights when eps is given."""
        w = self.w if eps is None else self.w + self.sigma * eps
        return np.tanh(np.sum(obs * w, axis=-1) if w.ndim == 2 else obs @ w)

    def update(self, eps: np.ndarray, returns: np.ndarray) -> float:
        """One ES step from the per-env returns; returns the step's norm (a 'loss' to log)."""
        std = float(returns.std())
        if std < 1e-8:
            return 0.0
        advantage = (returns - returns.mean()) / std
        step = self.lr / self.sigma * (advantage @ eps) / len(returns)
        self.w = self.w + step
        return float(np.linalg.norm(step))


def rollout(
    env: CartPole,
    policy: LinearPolicy,
    horizon: int,
    explore: bool = True,
    on_step: Callable[[np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Collect horizon steps of every env and improve the policy; returns the iteration's stats."""
    eps = policy.perturbations(env.num_envs) if explore else None
    returns = np.zeros(env.num_envs)
    done_returns: list[np.ndarray] = []
    done_lengths: list[np.ndarray] = []
    env_time = 0.0
    start = time.perf_counter()
    for _ in range(horizon):
        action = policy.act(env.state, eps)
        tick = time.perf_counter()
        reward, _, finished = env.step(action)
        env_time += time.perf_counter() - tick
        returns += reward
        done_returns.append(finished["return"])
        done_lengths.append(finished["length"])
        if on_step is not None:
            on_step(env.state[0])
    collection = time.perf_counter() - start  # rendering counts: recording slows training
    start = time.perf_counter()
    step_norm = policy.update(eps, returns) if eps is not None else 0.0
    learning = time.perf_counter() - start
    ended_r = np.concatenate(done_returns) if done_returns else np.zeros(0)
    ended_l = np.concatenate(done_lengths) if done_lengths else np.zeros(0)
    return {
        "collection_s": collection,
        "env_s": env_time,
        "learning_s": learning,
        "steps": env.num_envs * horizon,
        "mean_reward": float(ended_r.mean()) if ended_r.size else float(env.episode_return.mean()),
        "max_reward": float(ended_r.max()) if ended_r.size else float(env.episode_return.max()),
        "min_reward": float(ended_r.min()) if ended_r.size else float(env.episode_return.min()),
        "mean_length": float(ended_l.mean()) if ended_l.size else float(env.episode_length.mean()),
        "loss": step_norm,
    }


# ---- checkpoints ------------------------------------------------------------------------------


def save_weights(path: Path, policy: LinearPolicy, meta: dict[str, Any]) -> None:
    """Write the policy to path (an .npz payload under the library's checkpoint name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, w=policy.w, meta=np.array(json.dumps({**meta, "simulated": True})))
    path.write_bytes(buf.getvalue())


def load_weights(path: Path) -> np.ndarray:
    """Read policy weights from a checkpoint written by save_weights (sb3 .zip: its policy.pth)."""
    data = path.read_bytes()
    if path.suffix == ".zip":
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = archive.read("policy.pth")
    with np.load(io.BytesIO(data)) as npz:
        return np.array(npz["w"])


# ---- rendering and video ----------------------------------------------------------------------

WIDTH, HEIGHT = 160, 96


def render(state: np.ndarray) -> np.ndarray:
    """An RGB frame of one cart-pole: track, cart and pole."""
    frame = np.full((HEIGHT, WIDTH, 3), (235, 240, 245), dtype=np.uint8)
    ground = HEIGHT - 24
    frame[ground : ground + 2, :] = (90, 90, 90)
    scale = WIDTH / (2 * X_LIMIT + 1)
    cx = int(WIDTH / 2 + state[0] * scale)
    x0, x1 = max(cx - 12, 0), min(cx + 12, WIDTH)
    frame[ground - 10 : ground, x0:x1] = (40, 90, 200)
    length = 44
    t = np.linspace(0.0, 1.0, 60)
    px = (cx + np.sin(state[2]) * length * t).astype(int)
    py = (ground - 10 - np.cos(state[2]) * length * t).astype(int)
    for dx in (0, 1):
        ok = (px + dx >= 0) & (px + dx < WIDTH) & (py >= 0) & (py < HEIGHT)
        frame[py[ok], px[ok] + dx] = (210, 120, 40)
    return frame


def _png(frame: np.ndarray) -> bytes:
    """A PNG of an RGB frame (stdlib zlib; filter 0 on every row)."""
    height, width, _ = frame.shape
    raw = b"".join(b"\x00" + frame[row].tobytes() for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _mp4_png(frames: list[np.ndarray], fps: int) -> bytes:
    """An ISO-BMFF (.mp4) file whose video track stores PNG-coded frames ('png ' sample entry)."""
    samples = [_png(f) for f in frames]
    height, width, _ = frames[0].shape
    count = len(samples)
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41")
    mdat_header = struct.pack(">I", 8 + sum(map(len, samples))) + b"mdat"
    data_offset = len(ftyp) + len(mdat_header)
    duration_ms = int(count * 1000 / fps)
    mvhd = _full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, 1000, duration_ms),
        struct.pack(">IH", 0x10000, 0x100), b"\x00" * 10, _MATRIX, b"\x00" * 24,
        struct.pack(">I", 2),
    )  # fmt: skip
    tkhd = _full_box(
        b"tkhd", 0, 3,
        struct.pack(">IIII", 0, 0, 1, 0), struct.pack(">I", duration_ms), b"\x00" * 8,
        struct.pack(">HHHH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, fps, count, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, b"\x00" * 4, b"vide", b"\x00" * 12, b"VideoHandler\x00")
    vmhd = _full_box(b"vmhd", 0, 1, b"\x00" * 8)
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    entry = _box(
        b"png ",
        b"\x00" * 6, struct.pack(">H", 1), b"\x00" * 16,
        struct.pack(">HHIIIH", width, height, 0x480000, 0x480000, 0, 1),
        bytes([10]) + b"PNG frames".ljust(31, b"\x00"), struct.pack(">Hh", 24, -1),
    )  # fmt: skip
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, count, 1)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, count, 1)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, count), *(struct.pack(">I", len(s)) for s in samples)),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, data_offset)),
    )  # fmt: skip
    minf = _box(b"minf", vmhd, dinf, stbl)
    moov = _box(b"moov", mvhd, _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf)))
    return ftyp + mdat_header + b"".join(samples) + moov


def write_video(path: Path, frames: list[np.ndarray], fps: int = 30) -> str:
    """Write frames as an .mp4: H.264 via imageio-ffmpeg when installed, else PNG-in-MP4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import imageio_ffmpeg
    except ImportError:
        path.write_bytes(_mp4_png(frames, fps))
        return "png-in-mp4"
    height, width, _ = frames[0].shape
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, codec="libx264", macro_block_size=1,
        output_params=["-loglevel", "error"],
    )  # fmt: skip
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return "h264"
