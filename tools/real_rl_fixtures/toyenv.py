"""A toy vectorised task in Isaac Lab's DirectRLEnv shape that counts what really happened.

It imitates no Isaac Lab behaviour beyond the interface the libraries' wrappers consume (obs dict
with "policy", terminated/truncated tensors, single_observation_space, episode_length_buf); the
dynamics are a made-up 1-D point mass. Every step() call is counted (num_envs env-steps) and
timed, so the truth file says what the training did, independently of any logger.
"""

from __future__ import annotations

import time

import gymnasium
import numpy as np
import torch


class PointMass:
    """num_envs point masses on a line; reward -x²; episodes end by time-out (and |x| > 4)."""

    def __init__(
        self,
        num_envs: int,
        *,
        episode_length: int = 16,
        lockstep: bool = False,
        substeps: int = 1,
        seed: int = 0,
    ) -> None:
        self.num_envs = num_envs
        self.device = "cpu"
        self.max_episode_length = episode_length
        self.lockstep = lockstep  # every env times out at the same step, nothing terminates early
        self.substeps = substeps  # extra arithmetic per step, so an iteration outweighs logging
        self.generator = torch.Generator().manual_seed(seed)
        self.single_observation_space = gymnasium.spaces.Dict(
            {"policy": gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)}
        )
        self.single_action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = self.single_observation_space
        self.action_space = self.single_action_space
        self.num_actions = 1
        self.cfg: dict[str, object] = {}
        self.state = torch.zeros(num_envs, 2)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        # truth
        self.env_steps = 0
        self.step_calls = 0
        self.stamps: list[float] = []  # time.time() after every step() call

    @property
    def unwrapped(self) -> PointMass:
        return self

    def _reset_idx(self, idx: torch.Tensor) -> None:
        n = int(idx.numel())
        if n:
            self.state[idx, 0] = (torch.rand(n, generator=self.generator) - 0.5) * 4.0
            self.state[idx, 1] = 0.0
            self.episode_length_buf[idx] = 0

    def obs(self) -> dict[str, torch.Tensor]:
        return {"policy": self.state.clone()}

    def reset(self, seed: int | None = None, options: object = None) -> tuple[dict[str, torch.Tensor], dict]:
        self._reset_idx(torch.arange(self.num_envs))
        return self.obs(), {}

    def step(
        self, actions: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        a = torch.as_tensor(actions, dtype=torch.float32).reshape(self.num_envs, -1)[:, 0].clamp(-1, 1)
        dt = 0.05 / self.substeps
        for _ in range(self.substeps):
            self.state[:, 1] += a * dt
            self.state[:, 0] += self.state[:, 1] * dt
        reward = -(self.state[:, 0] ** 2)
        self.episode_length_buf += 1
        truncated = self.episode_length_buf >= self.max_episode_length
        terminated = torch.zeros_like(truncated) if self.lockstep else self.state[:, 0].abs() > 4.0
        done = (terminated | truncated).nonzero(as_tuple=True)[0]
        self._reset_idx(done)
        self.env_steps += self.num_envs
        self.step_calls += 1
        self.stamps.append(time.time())
        return self.obs(), reward, terminated, truncated, {"time_outs": truncated}

    def close(self) -> None:
        pass


class PointMassGym(gymnasium.Env):  # type: ignore[misc]
    """One point mass as a gymnasium env (sb3 builds its own vector of these); counts into a shared tally."""

    metadata: dict[str, object] = {}

    def __init__(self, tally: dict[str, object], *, episode_length: int = 16, seed: int = 0) -> None:
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.episode_length = episode_length
        self.rng = np.random.default_rng(seed)
        self.tally = tally
        self.x = np.zeros(2, np.float32)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: object = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.x = np.array([(self.rng.random() - 0.5) * 4.0, 0.0], np.float32)
        self.t = 0
        return self.x.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = float(np.clip(np.asarray(action).reshape(-1)[0], -1, 1))
        self.x[1] += a * 0.05
        self.x[0] += self.x[1] * 0.05
        self.t += 1
        self.tally["env_steps"] = int(self.tally["env_steps"]) + 1  # type: ignore[call-overload]
        stamps = self.tally["stamps"]
        assert isinstance(stamps, list)
        stamps.append(time.time())
        terminated = bool(abs(self.x[0]) > 4.0)
        truncated = self.t >= self.episode_length
        return self.x.copy(), float(-(self.x[0] ** 2)), terminated, truncated, {}
