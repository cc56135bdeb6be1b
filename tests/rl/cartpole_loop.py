"""A plain CleanRL-style training loop on gymnasium CartPole, shared by the learning tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from dnne_robot.rl import PPO, ActionSpec, ActorCritic, EpisodeTracker, PPOConfig

# rl-baselines3-zoo's tuned CartPole-v1 settings.
CARTPOLE_CONFIG = PPOConfig(
    num_steps=32,
    num_epochs=20,
    minibatch_size=256,
    gamma=0.98,
    gae_lambda=0.8,
    clip_coef=0.2,
    ent_coef=0.0,
    clip_vloss=False,  # SB3 default: no value clipping
    learning_rate=1e-3,
    anneal_lr=True,
)


@dataclass
class RunResult:
    policy: ActorCritic
    global_step: int
    seconds: float
    final_mean_return: float
    best_mean_return: float
    first_step_above: dict[float, int] = field(default_factory=dict)
    history: list[tuple[int, float]] = field(default_factory=list)
    update_stats: list[dict[str, float]] = field(default_factory=list)


def make_envs(num_envs: int) -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv(
        [lambda: gym.make("CartPole-v1") for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def train_cartpole(
    seed: int,
    total_timesteps: int,
    num_envs: int = 8,
    config: PPOConfig = CARTPOLE_CONFIG,
    thresholds: tuple[float, ...] = (150.0,),
    stop_at: float | None = None,
    normalize_obs: bool = True,
) -> RunResult:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    envs = make_envs(num_envs)
    obs_dim = envs.single_observation_space.shape[0]
    policy = ActorCritic(
        obs_dim, ActionSpec.from_gymnasium(envs.single_action_space), normalize_obs=normalize_obs
    )
    ppo = PPO(policy, config, seed=seed)
    buffer = ppo.make_buffer(num_envs)
    tracker = EpisodeTracker(num_envs, window=20)
    result = RunResult(policy, 0, 0.0, float("nan"), float("-inf"))

    start = time.perf_counter()
    next_obs_np, _ = envs.reset(seed=seed)
    next_obs = torch.as_tensor(next_obs_np, dtype=torch.float32)
    global_step = 0
    while global_step < total_timesteps:
        ppo.set_progress(global_step / total_timesteps)
        buffer.reset()
        for _ in range(config.num_steps):
            step = policy.act(next_obs, update_normalizer=True)
            next_obs_np, reward, terminated, truncated, info = envs.step(step.env_action.numpy())
            final_values = None
            if truncated.any():
                final_obs = np.stack(
                    [
                        info["final_obs"][i] if info["_final_obs"][i] else next_obs_np[i]
                        for i in range(num_envs)
                    ]
                ).astype(np.float32)
                with torch.no_grad():
                    final_values = policy.value(policy.normalize(torch.from_numpy(final_obs)))
            buffer.add(
                step.obs,
                step.action,
                step.log_prob,
                step.value,
                torch.as_tensor(reward),
                torch.as_tensor(terminated),
                torch.as_tensor(truncated),
                final_values,
            )
            tracker.step(reward, terminated, truncated)
            next_obs = torch.as_tensor(next_obs_np, dtype=torch.float32)
            global_step += num_envs

        with torch.no_grad():
            last_value = policy.value(policy.normalize(next_obs))
        buffer.compute_returns_and_advantage(last_value, torch.as_tensor(terminated | truncated))
        result.update_stats.append(ppo.update(buffer))

        mean_return = tracker.recent_mean_return
        result.history.append((global_step, mean_return))
        if not np.isnan(mean_return):
            result.best_mean_return = max(result.best_mean_return, mean_return)
            for th in thresholds:
                if mean_return > th and th not in result.first_step_above:
                    result.first_step_above[th] = global_step
        if stop_at is not None and mean_return > stop_at:
            break

    envs.close()
    result.global_step = global_step
    result.seconds = time.perf_counter() - start
    result.final_mean_return = tracker.recent_mean_return
    return result
