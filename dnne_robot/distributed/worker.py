"""The rollout worker: a vector env of the graph's task and a copy of the policy, in a Ray
actor (this module imports without Ray)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..nodes.sim import SimHandle
from ..rl import ActorCritic
from ..runtime import QueueNode, RunContext
from .roles import Source


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a rollout worker needs; plain data and importable classes only."""

    task: str
    engine: str
    vectorization: str
    env_seed: int
    """Seed of the worker's first sub-env (sub-env ``j`` gets ``env_seed + j``)."""
    num_envs: int
    policy_config: dict[str, Any]
    deterministic: bool
    actions: Source
    reward: Source
    done: Source
    generator_state: Any = None
    """Initial ``torch.Generator`` state (a uint8 tensor), or None to use ``generator_seed``."""
    generator_seed: int = 0
    incarnation: int = 0


class RolloutWorker:
    """A vector env of the graph's task plus a copy of the policy; returns whole fragments.

    Wrapped with ``ray.remote`` by the learner, so this module imports without Ray.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        torch.set_num_threads(1)
        self.spec = spec
        self.ctx = RunContext(command="train", seed=spec.env_seed)
        self.sim = SimHandle(
            self.ctx,
            spec.task,
            spec.engine,
            num_envs=spec.num_envs,
            seed=spec.env_seed,
            vectorization=spec.vectorization,
        )
        self.policy = ActorCritic.from_config(spec.policy_config)
        self.policy.eval()
        self.generator = torch.Generator()
        if spec.generator_state is not None:
            self.generator.set_state(spec.generator_state)
        else:
            self.generator.manual_seed(spec.generator_seed)
        self.nodes: dict[str, QueueNode] = {}
        for source in (spec.actions, spec.reward, spec.done):
            if source.node is not None and source.node.node_id not in self.nodes:
                self.nodes[source.node.node_id] = source.node.build(self.ctx)

    def ready(self) -> dict[str, Any]:
        """The process id and what the env says about itself (checked by the learner)."""
        return {
            "pid": os.getpid(),
            "obs_dim": self.ctx.env_info["obs_dim"],
            "action": self.ctx.env_info["action"],
            "num_envs": self.sim.num_envs,
        }

    def pid(self) -> int:
        return os.getpid()

    def _run_node(self, source: Source, values: dict[str, Any], cache: dict[str, Any]) -> Any:
        if source.node is None:
            return values[source.output]
        node_id = source.node.node_id
        if node_id not in cache:
            kwargs = {name: values[key] for name, key in source.node.inputs.items()}
            cache[node_id] = self.nodes[node_id].compute(**kwargs)
        return cache[node_id][source.output]

    def collect(self, weights: dict[str, np.ndarray], num_steps: int) -> dict[str, Any]:
        """Act ``num_steps`` times on every env with ``weights``; one fragment of numpy arrays.

        Arrays are shaped ``(num_steps, num_envs, ...)`` like the rollout buffer; ``obs`` are
        the raw observations each action was taken from.
        """
        t0 = time.perf_counter()
        self.policy.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        T, M = num_steps, self.sim.num_envs  # noqa: N806 - the buffer's (T, N) names
        spec = self.policy.action_spec
        out = {
            "obs": np.empty((T, M, self.policy.obs_dim), np.float32),
            "actions": np.empty((T, M, *spec.shape), np.int64 if spec.is_discrete else np.float32),
            "terminated": np.empty((T, M), bool),
            "truncated": np.empty((T, M), bool),
            **{k: np.zeros((T, M), np.float32) for k in ("rewards", "final_values")},
        }
        unstable0 = self.sim.unstable
        obs = self.sim.obs
        for t in range(T):
            # The learner scores the rollout (log-probabilities, values) in one pass.
            step = self.policy.act(
                obs, deterministic=self.spec.deterministic, generator=self.generator, score=False
            )
            if self.spec.actions.node is None:
                action = step.env_action
            else:
                action = self._run_node(self.spec.actions, {"policy_output": step}, {})
            result = self.sim.step(action)
            values = result._asdict()  # the sim step node's outputs, by name
            cache: dict[str, Any] = {}
            reward = torch.as_tensor(self._run_node(self.spec.reward, values, cache))
            done = self._run_node(self.spec.done, values, cache)
            if isinstance(done, tuple):  # the sim step's Done: termination and truncation
                terminated, truncated, final_obs = done
            else:  # a plain done tensor (e.g. from a reward node) means termination
                terminated = torch.as_tensor(done).bool()
                truncated, final_obs = torch.zeros_like(terminated), None
            if bool(truncated.any()):
                out["final_values"][t] = self.policy.predict_value(final_obs).numpy()
            out["obs"][t] = obs.numpy()
            out["actions"][t] = step.action.numpy()
            out["rewards"][t] = reward.reshape(M).numpy()
            out["terminated"][t] = terminated.numpy()
            out["truncated"][t] = truncated.numpy()
            obs = result.next_observations
        out["last_obs"] = obs.numpy()
        out["last_value"] = self.policy.predict_value(obs).numpy()
        out["unstable"] = self.sim.unstable - unstable0
        out["seconds"] = time.perf_counter() - t0
        out["pid"] = os.getpid()
        return out

    def get_state(self) -> dict[str, Any]:
        """Env state, current observations and sampling RNG, for a checkpoint."""
        return {
            "sim": self.sim.state_dict(),
            "generator": self.generator.get_state(),
            "incarnation": self.spec.incarnation,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state["sim"])
        if state.get("generator") is not None:
            self.generator.set_state(state["generator"])


