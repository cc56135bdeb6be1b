"""The per-step shortcuts compute the bits of the plain torch code they replaced.

``RolloutBuffer.add`` writes rows through numpy views, ``PPOTrainer.record`` and
``EpisodeTracker.step`` convert the flags once, ``SimHandle.step`` converts less, the
observation normaliser keeps numpy views of its statistics and ``FastForward`` its layers'
parameters. The references below are the code as it was before those shortcuts (torch index
assignment, one conversion per use, the normaliser's batch formulas, the module-free forward
pass through ``hidden_activations``); a seeded training loop with terminations and
time-limit truncations must give the same rollouts, actions, updates and statistics with
either, bit for bit.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from dnne_robot.nodes.sim import Done, SimHandle, StepResult
from dnne_robot.rl import (
    ActionSpec,
    ActorCritic,
    EpisodeTracker,
    PPOConfig,
    PPOTrainer,
    RolloutBuffer,
    RunningMeanStd,
)
from dnne_robot.rl.fast import FastForward, hidden_activations
from dnne_robot.rl.normalizer import normalize_obs
from dnne_robot.runtime import RunContext

# -- the references: the code before the per-step shortcuts ---------------------------------


def torch_add(
    self: RolloutBuffer,
    obs: Tensor,
    action: Tensor,
    log_prob: Tensor | None,
    value: Tensor | None,
    reward: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    final_values: Tensor | None = None,
) -> None:
    """``RolloutBuffer.add`` through torch index assignment."""
    if self.full:
        raise RuntimeError("RolloutBuffer is full")
    t = self.pos
    deferred = log_prob is None or value is None
    if t == 0:
        self.deferred = deferred
    assert deferred == self.deferred
    terminated = torch.as_tensor(terminated, device=self.device)
    truncated = torch.as_tensor(truncated, device=self.device)
    if terminated.dtype != torch.bool:
        terminated = terminated.bool()
    if truncated.dtype != torch.bool:
        truncated = truncated.bool()
    reward = torch.as_tensor(reward, device=self.device, dtype=torch.float32)
    if bool(truncated.any()):
        bootstrap = truncated & ~terminated
        if bool(bootstrap.any()):
            assert final_values is not None
            final_values = final_values.detach().to(self.device, torch.float32)
            reward = torch.where(bootstrap, reward + self.gamma * final_values, reward)
    self.obs[t] = obs.detach()
    self.actions[t] = action.detach().reshape(self.actions.shape[1:])
    if not deferred:
        assert log_prob is not None and value is not None
        self.logprobs[t] = log_prob.detach()
        self.values[t] = value.detach()
    self.rewards[t] = reward
    self.dones[t] = terminated | truncated
    self.pos += 1
    self.computed = False


def _as_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def plain_episode_step(
    self: EpisodeTracker, reward: Any, terminated: Any, truncated: Any
) -> list[tuple[float, int]]:
    """``EpisodeTracker.step`` converting each input where it is used."""
    self.returns += _as_numpy(reward).reshape(self.num_envs)
    self.lengths += 1
    done = np.logical_or(_as_numpy(terminated), _as_numpy(truncated)).reshape(self.num_envs)
    if not done.any():
        return []
    finished = [(float(self.returns[i]), int(self.lengths[i])) for i in np.flatnonzero(done)]
    for ret, length in finished:
        self.recent_returns.append(ret)
        self.recent_lengths.append(length)
    self.num_episodes += len(finished)
    self.returns[done] = 0.0
    self.lengths[done] = 0
    return finished


def plain_record(
    self: PPOTrainer,
    step: Any,
    reward: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    next_obs: Tensor,
    final_obs: Tensor | None = None,
) -> dict[str, float] | None:
    """``PPOTrainer.record`` with a torch conversion and ``any()`` per use."""
    truncated = torch.as_tensor(truncated).bool()
    reward = torch.as_tensor(reward)
    final_values = None
    if bool(truncated.any()):
        assert final_obs is not None
        final_values = self.ppo.denormalize_values(
            self.policy.predict_value(torch.as_tensor(final_obs))
        )
    self.buffer.add(step.obs, step.action, step.log_prob, step.value,
                    self.scale_rewards(reward, terminated), torch.as_tensor(terminated),
                    truncated, final_values)  # fmt: skip
    self.finished_episodes.extend(self.episodes.step(reward, terminated, truncated))
    self.global_step += self.num_envs
    if not self.buffer.full:
        return None
    return self.finish_rollout(self.policy.predict_value(next_obs))


def plain_sim_step(self: SimHandle, actions: Tensor) -> StepResult:
    """``SimHandle.step`` with ``detach().cpu()`` and ``any()``."""
    act = actions.detach().cpu().numpy()
    if self.discrete:
        act = act.astype(np.int64).reshape(self.num_envs)
    obs, rewards, terminated, truncated, info = self.env.step(act)
    obs = np.asarray(obs, dtype=np.float32)
    final = obs
    if "_final_obs" in info and info["_final_obs"].any():
        final = obs.copy()
        for i in np.flatnonzero(info["_final_obs"]):
            final[i] = info["final_obs"][i]
    final_info = info.get("final_info")
    if final_info and "_unstable" in final_info:
        self.unstable += int(np.sum(final_info["_unstable"] & final_info["unstable"]))
    done = terminated | truncated
    self.episode_return += rewards
    self.episode_length += 1
    if done.any():
        for i in np.flatnonzero(done):
            self.episodes.append((self.ctx.env_steps + self.num_envs,
                                  float(self.episode_return[i]), int(self.episode_length[i])))
        self.episode_return[done] = 0.0
        self.episode_length[done] = 0
    self.ctx.env_steps += self.num_envs
    self.obs = torch.from_numpy(obs)
    flags = Done(torch.from_numpy(np.asarray(terminated, dtype=bool)),
                 torch.from_numpy(np.asarray(truncated, dtype=bool)), torch.from_numpy(final))
    return StepResult(flags.final_observations,
                      torch.from_numpy(np.asarray(rewards, dtype=np.float32)), flags, info,
                      self.obs)  # fmt: skip


@torch.no_grad()
def batch_update(self: RunningMeanStd, x: Tensor) -> None:
    """``RunningMeanStd.update``'s torch batch formula, for every batch size."""
    x = x.detach().to(torch.float64).reshape(-1, *self.mean.shape)
    x = x[torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)]
    n = x.shape[0]
    if n == 0:
        return
    delta = x.mean(dim=0) - self.mean
    total = self.count + n
    m2 = self.var * self.count + x.var(dim=0, unbiased=False) * n
    m2 = m2 + delta.square() * self.count * n / total
    self.mean.copy_(self.mean + delta * n / total)
    self.var.copy_(m2 / total)
    self.count.copy_(total)


def torch_normalize(self: RunningMeanStd, x: Tensor, clip: float = 10.0) -> Tensor:
    """``RunningMeanStd.normalize``'s torch formula, for every batch size."""
    mean, var = self.mean.to(torch.float32), self.var.to(torch.float32)
    return normalize_obs(x.to(torch.float32), mean, var, self.epsilon, clip)


def layers_actor(self: FastForward, obs_norm: Tensor) -> tuple[Tensor, Tensor]:
    actor_w, actor_b, _, _ = self.head_params
    h_actor = hidden_activations(self.actor_layers, self.activation, obs_norm)[-1]
    return h_actor, torch.nn.functional.linear(h_actor, actor_w, actor_b)


def layers_value(self: FastForward, obs_norm: Tensor, h_actor: Tensor) -> Tensor:
    _, _, critic_w, critic_b = self.head_params
    h = h_actor if self.shared else hidden_activations(self.critic_layers, self.activation,
                                                       obs_norm)[-1]  # fmt: skip
    return torch.nn.functional.linear(h, critic_w, critic_b).squeeze(-1)


REFERENCES = [
    (RolloutBuffer, "add", torch_add),
    (EpisodeTracker, "step", plain_episode_step),
    (PPOTrainer, "record", plain_record),
    (SimHandle, "step", plain_sim_step),
    (RunningMeanStd, "update", batch_update),
    (RunningMeanStd, "_update", batch_update),
    (RunningMeanStd, "normalize", torch_normalize),
    (FastForward, "actor", layers_actor),
    (FastForward, "value", layers_value),
]


# -- the loop --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    task: str
    num_envs: int
    num_steps: int  # per rollout
    calls: int  # loop iterations: two rollouts and part of a third
    max_episode_steps: int
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    terminates: bool = True  # the task ends episodes of itself


CASES = [
    # Terminates often; the time limit truncates the episodes that balance.
    Case("InvertedPendulum-v5", 1, 256, 2 * 256 + 57, 9),
    Case("InvertedPendulum-v5", 3, 64, 2 * 64 + 21, 8,
         {"normalize_rewards": True, "normalize_value": True}),
    # The benchmark's task, never terminated: truncated every 50 steps here.
    Case("HalfCheetah-v5", 1, 128, 2 * 128 + 40, 50, terminates=False),
    # Discrete actions.
    Case("CartPole-v1", 2, 64, 2 * 64 + 13, 30),
]  # fmt: skip


def bits(x: Any) -> Any:
    """What a value holds, exactly: a tensor's or array's bytes with its dtype and shape."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().contiguous().numpy()
    if isinstance(x, np.ndarray):
        return (str(x.dtype), x.shape, x.tobytes())
    if isinstance(x, dict):
        return {k: bits(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [bits(v) for v in x]
    return repr(x)


def run_loop(case: Case) -> Iterator[tuple[str, Any]]:
    """The direct training loop of the benchmark; yields every value it computes."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ctx = RunContext(max_steps=case.calls * case.num_envs)
    sim = SimHandle(ctx, case.task, "gymnasium", num_envs=case.num_envs, seed=0,
                    options={"max_episode_steps": case.max_episode_steps})  # fmt: skip
    policy = ActorCritic(ctx.env_info["obs_dim"], ActionSpec.from_dict(ctx.env_info["action"]),
                         hidden_sizes=(64, 64), activation="tanh", normalize_obs=True)  # fmt: skip
    config = PPOConfig(num_steps=case.num_steps, num_epochs=3, minibatch_size=32, **case.config)
    trainer = PPOTrainer(policy, config, case.num_envs, case.calls * case.num_envs, seed=0)
    obs = sim.obs
    ends = np.zeros(2, dtype=np.int64)
    for i in range(case.calls):
        step = policy.act(obs, update_normalizer=True, score=False)
        result = sim.step(step.env_action)
        ends += [int(result.done.terminated.sum()), int(result.done.truncated.sum())]
        stats = trainer.record(step, result.rewards, result.done.terminated,
                               result.done.truncated, result.next_observations,
                               result.done.final_observations)  # fmt: skip
        yield f"step {i}", bits((step, result.rewards, result.done, result.next_observations))
        if stats is not None:
            yield f"update after step {i}", bits(stats)
        obs = result.next_observations
    assert ends[1] and (ends[0] or not case.terminates), f"(terminated, truncated): {ends}"
    buffer = trainer.buffer
    yield "buffer", bits([buffer.obs, buffer.actions, buffer.logprobs, buffer.values,
                          buffer.rewards, buffer.dones, buffer.advantages, buffer.returns,
                          buffer.pos])  # fmt: skip
    yield "trainer state", bits(trainer.state_dict())
    yield "finished episodes", bits(trainer.finished_episodes)
    yield "sim state", bits({k: v for k, v in sim.state_dict().items() if k != "env"})
    sim.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.task}-x{c.num_envs}")
def test_the_loop_computes_the_plain_codes_bits(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = dict(run_loop(case))
    for cls, name, reference in REFERENCES:
        monkeypatch.setattr(cls, name, reference)
    want = dict(run_loop(case))
    assert got.keys() == want.keys()
    differ = [key for key in want if got[key] != want[key]]
    assert not differ, f"differs from the plain code at: {differ[:5]}"


# -- RolloutBuffer.add on its own ---------------------------------------------------------


def _step_inputs(gen: torch.Generator, num_envs: int, obs_dim: int, kind: int) -> list[Any]:
    """One step's inputs, of a different kind each time: tensors of other dtypes, numpy
    arrays, lists; terminations, truncations and both at once."""
    obs = torch.randn(num_envs, obs_dim, generator=gen)
    action = torch.randn(num_envs, 2, generator=gen)
    reward = torch.randn(num_envs, generator=gen, dtype=torch.float64) * 3
    terminated = torch.rand(num_envs, generator=gen) < 0.3
    truncated = torch.rand(num_envs, generator=gen) < 0.3
    final_values = torch.randn(num_envs, generator=gen) * 10
    if kind == 1:  # numpy arrays, float64 observations, integer flags
        obs, reward = obs.double(), reward.numpy()
        terminated, truncated = terminated.numpy().astype(np.int64), truncated.numpy()
    elif kind == 2:  # lists and float32 rewards
        reward = reward.float().tolist()
        terminated, truncated = terminated.tolist(), truncated.float()
    elif kind == 3:  # inputs that need a gradient
        obs, final_values = obs.requires_grad_(), final_values.requires_grad_()
    elif kind == 4:  # an input numpy cannot hold: the torch path
        obs = obs.bfloat16()
    return [obs, action, reward, terminated, truncated, final_values]


@pytest.mark.parametrize("num_envs", [1, 4])
@pytest.mark.parametrize("scored", [True, False])
def test_add_stores_the_torch_assignments_bits(num_envs: int, scored: bool) -> None:
    gen = torch.Generator().manual_seed(num_envs)
    fast, plain = (RolloutBuffer(40, num_envs, 5, (2,), gamma=0.97) for _ in range(2))
    for t in range(fast.num_steps):
        obs, action, reward, terminated, truncated, final_values = _step_inputs(
            gen, num_envs, 5, t % 5
        )
        scores: list[Tensor | None] = [None, None]
        if scored:
            scores = [torch.randn(num_envs, generator=gen), torch.randn(num_envs, generator=gen)]
        fast.add(obs, action, *scores, reward, terminated, truncated, final_values)
        torch_add(plain, obs, action, *scores, reward, terminated, truncated, final_values)
    assert torch.as_tensor(fast.dones).any(), "no episode ended"
    for name in ("obs", "actions", "logprobs", "values", "rewards", "dones"):
        assert bits(getattr(fast, name)) == bits(getattr(plain, name)), name
    assert fast.pos == plain.pos and fast.deferred == (not scored)


def test_add_keeps_its_checks() -> None:
    buffer = RolloutBuffer(2, 2, 3)
    obs, action = torch.zeros(2, 3), torch.zeros(2)
    with pytest.raises(ValueError, match="final_values"):
        buffer.add(obs, action, None, None, np.ones(2), np.zeros(2, bool), np.array([True, False]))
    assert buffer.pos == 0
    buffer.add(obs, action, None, None, np.ones(2), np.zeros(2, bool), np.zeros(2, bool))
    with pytest.raises(ValueError, match="every step or on none"):
        buffer.add(obs, action, torch.zeros(2), torch.zeros(2), np.ones(2), [0, 0], [0, 0])
    buffer.add(obs, action, None, None, [1.0, 1.0], [1, 0], [0, 0])
    with pytest.raises(RuntimeError, match="full"):
        buffer.add(obs, action, None, None, np.ones(2), np.zeros(2), np.zeros(2))


# -- the normaliser's cached views ----------------------------------------------------------


def test_normalizer_views_follow_the_buffers() -> None:
    """The numpy views of the statistics are remade where the buffers were replaced or copied,
    so one-row updates always land in the module's own tensors."""
    rms = RunningMeanStd(3)
    rms.update(torch.ones(1, 3))
    twin = copy.deepcopy(rms)
    twin.update(torch.full((1, 3), 5.0))
    assert float(rms.count) == pytest.approx(1.0001) and float(twin.count) == pytest.approx(2.0001)
    assert torch.equal(rms.mean, torch.full((3,), 1 / 1.0001, dtype=torch.float64))

    fresh = {k: v.clone() for k, v in RunningMeanStd(3).state_dict().items()}
    rms.load_state_dict(fresh, assign=True)  # new tensors
    rms.update(torch.ones(1, 3))
    assert rms.mean is fresh["mean"] and float(fresh["count"]) == pytest.approx(1.0001)

    reference = RunningMeanStd(3)
    reference.update(torch.ones(1, 3))
    rms.float()  # float32 buffers, new tensors
    reference.float()
    row = torch.tensor([[0.5, -2.0, 3.0]])
    rms.update(row)
    batch_update(reference, row)
    assert rms.mean.dtype == torch.float32
    assert torch.equal(rms.mean, reference.mean) and torch.equal(rms.var, reference.var)
