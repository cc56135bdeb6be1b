"""The simulator nodes: the env that creates the task, the step, the action and the reward."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from ..runtime import END, In, QueueNode, RunComplete
from .sim import SimHandle

#: CartPole-v1's pole angle limit (radians), which the reward node checks.
THETA_LIMIT = 12 * 2 * math.pi / 360


class SimEnvNode(QueueNode):
    """Creates the simulated task and emits its first observations.

    Widgets: ``ENV_NAME`` (a task, an Isaac task name, a gymnasium id or a model file),
    ``NUM_ENVS``, ``SEED`` (added to the run's seed), ``ENGINE`` (the engine the export was
    made for) and ``VECTORIZATION``; ``runner.py train --num-envs/--vectorization`` win.
    """

    OUTPUTS = ("sim_handle", "observations")
    ENV_NAME: ClassVar[str]
    NUM_ENVS: ClassVar[int]
    SEED: ClassVar[int]
    ENGINE: ClassVar[str]
    VECTORIZATION: ClassVar[str] = "sync"

    def setup(self) -> None:
        options = self.ctx.options
        self.sim = SimHandle(
            self.ctx,
            task=self.ENV_NAME,
            engine=self.ENGINE,
            num_envs=options.get("num_envs") or self.NUM_ENVS,
            seed=self.ctx.seed + self.SEED,
            vectorization=options.get("vectorization") or self.VECTORIZATION,
        )

    def compute(self) -> dict[str, Any]:
        # The first observation (or, after --resume, the one the agent was about to act on).
        return {"sim_handle": self.sim, "observations": self.sim.obs}

    def state_dict(self) -> dict[str, Any]:
        return self.sim.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state)

    def close(self, reason: str) -> None:
        sim = getattr(self, "sim", None)
        if sim is None:  # setup never ran
            return
        self.ctx.summary["episodes"] = sim.num_episodes
        if sim.recent_return() is not None:
            self.ctx.summary["recent_return"] = sim.recent_return()
        if sim.unstable:
            self.ctx.summary["unstable_resets"] = sim.unstable
        sim.close()


class SimStepNode(QueueNode):
    """Steps every environment with the actions; ``observations`` are pre-reset, while
    ``next_observations`` are what the agent sees next. Ends the run when the step budget
    (``runner.py train --steps``) is spent."""

    INPUTS = (
        In("sim_handle", mode="sticky"),
        In("actions"),
        In("trigger", mode="latest", optional=True),
    )
    OUTPUTS = ("observations", "rewards", "done", "info", "next_observations")

    def compute(self, sim_handle: SimHandle, actions: torch.Tensor, trigger: Any = None) -> Any:
        if not self.ctx.budget_left():
            return END  # the graph drains and stops
        result = sim_handle.step(actions)
        return {
            "observations": result.observations,
            "rewards": result.rewards,
            "done": result.done,
            "info": result.info,
            "next_observations": result.next_observations,
        }


class ActionNode(QueueNode):
    """Hands the policy's action to the simulator.

    The policy already clips a continuous action into the env's bounds or picks the index of
    a discrete one, so this node only forwards it. ``MAX_PUSH_EFFORT`` is DNNE's force scale;
    the task's own action space decides the force here, and a changed value says so once.
    """

    INPUTS = (In("policy"),)
    OUTPUTS = ("action",)
    MAX_PUSH_EFFORT: ClassVar[float]
    #: The push force of the CartPole task: the value MAX_PUSH_EFFORT would need to have.
    TASK_PUSH_FORCE: ClassVar[float] = 10.0

    def setup(self) -> None:
        action = self.ctx.env_info.get("action", {})
        if action.get("kind") == "discrete" and self.MAX_PUSH_EFFORT != self.TASK_PUSH_FORCE:
            self.ctx.notice(
                f"node #{self.node_id}: max_push_effort={self.MAX_PUSH_EFFORT} ignored: the "
                "task's action space is discrete (fixed push force)"
            )

    def compute(self, policy: Any) -> dict[str, Any]:
        return {"action": policy.env_action}


class CartPoleRewardNode(QueueNode):
    """CartPole's reward from the observations ``[x, x_dot, theta, theta_dot]`` the step
    reached: +1 per step, and done once the cart passes ``RESET_DIST`` or the pole tips past
    12 degrees (CartPole-v1's rules). ``INVERT_FOR_LOSS`` negates the reward."""

    INPUTS = (In("observations"),)
    OUTPUTS = ("reward_or_loss", "done", "info_dict")
    RESET_DIST: ClassVar[float]
    INVERT_FOR_LOSS: ClassVar[bool]

    def compute(self, observations: torch.Tensor) -> dict[str, Any]:
        x, theta = observations[:, 0], observations[:, 2]
        done = (x.abs() > self.RESET_DIST) | (theta.abs() > THETA_LIMIT)
        reward = torch.ones_like(x)
        if self.INVERT_FOR_LOSS:
            reward = -reward
        outputs: dict[str, Any] = {"reward_or_loss": reward, "done": done}
        if self.consumers["info_dict"]:  # counted only when read: int() waits for the tensor
            outputs["info_dict"] = {"out_of_bounds": int(done.sum())}
        return outputs


class IsaacGymSimNode(QueueNode):
    """DNNE's Isaac Gym Simulator, on the ``--sim`` engine: one environment, one step per
    action.

    It starts with a step of ``NULL_ACTION`` and sends that observation before any action
    comes, which starts the graph's control loop. Each ``action`` steps the env; when the
    episode ends, the terminal observation goes out with ``done``, then (``RESET_WHEN_DONE``)
    the new episode's first observation, after a ``NULL_ACTION`` step as DNNE's. (DNNE sends
    that one before the terminal observation; here the order is the episode's.) A ``reset``
    message starts a new episode the same way. The run ends when ``runner.py train --steps``
    environment steps are spent.

    ``TASK`` and ``ENGINE`` come from the Isaac Gym Environment Config node it is wired to.
    """

    INPUTS = (In("action", mode="any"), In("reset", mode="any", optional=True))
    OUTPUTS = ("observation", "done")
    TASK: ClassVar[str]
    #: The task's options from the config node's schema levels (FrankaDNNE's control_type).
    TASK_OPTIONS: ClassVar[dict[str, str]] = {}
    ENGINE: ClassVar[str]
    SEED: ClassVar[int]
    NULL_ACTION: ClassVar[tuple[float, ...]]
    RESET_WHEN_DONE: ClassVar[bool]

    def setup(self) -> None:
        self.sim = SimHandle(self.ctx, task=self.TASK, engine=self.ENGINE, num_envs=1,
                             seed=self.ctx.seed + self.SEED, vectorization="sync",
                             options=self.TASK_OPTIONS)
        action = self.ctx.env_info["action"]
        self.discrete = action["kind"] == "discrete"
        self.width = 1 if self.discrete else len(action["low"])
        self.low = torch.tensor(action["low"] or [0.0]) if not self.discrete else None
        self.high = torch.tensor(action["high"] or [0.0]) if not self.discrete else None
        null = torch.tensor(self.NULL_ACTION or (0.0,) * self.width, dtype=torch.float32)
        if null.numel() != self.width:
            raise ValueError(f"null_action has {null.numel()} values; the task's action has "
                             f"{self.width}")
        self.null = null

    def env_action(self, action: torch.Tensor) -> torch.Tensor:
        """The action as the env takes it: a discrete index (a float is a push direction:
        >= 0 is index 1), or values clipped into the bounds."""
        values = torch.as_tensor(action, dtype=torch.float32).detach().reshape(-1)
        if values.numel() != self.width:
            raise ValueError(f"action of {values.numel()} values; the task takes {self.width}")
        if self.discrete:
            value = float(values[0])
            index = int(value) if value.is_integer() else int(value >= 0)
            return torch.tensor([index])
        assert self.low is not None and self.high is not None
        return torch.clamp(values, self.low, self.high).reshape(1, -1)

    def startup_outputs(self) -> dict[str, Any]:
        return self._null_step()

    def _null_step(self) -> dict[str, Any]:
        """A new episode's first observation: as DNNE, a step of ``NULL_ACTION`` after the
        reset (a null step that ends an episode hands on the next episode's start)."""
        result = self.sim.step(self.env_action(self.null))
        return {"observation": result.next_observations}

    def _step(self, action: torch.Tensor) -> dict[str, Any]:
        result = self.sim.step(self.env_action(action))
        if bool(result.done.any[0]):
            return {"observation": result.observations, "done": True}
        return {"observation": result.next_observations}

    async def compute(self, **inputs: Any) -> dict[str, Any]:
        if "reset" in inputs:
            self.sim.reset()
            return self._null_step()
        out = self._step(inputs["action"])
        if "done" in out:
            await self.emit(out)  # the terminal observation and done, in that order
            # The env has reset itself (the step's own autoreset).
            out = self._null_step() if self.RESET_WHEN_DONE and self.ctx.budget_left() else {}
        if not self.ctx.budget_left():
            if out:
                await self.emit(out)
            raise RunComplete(f"{self.ctx.env_steps} environment steps (--steps)")
        return out

    def state_dict(self) -> dict[str, Any]:
        return self.sim.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state)

    def close(self, reason: str) -> None:
        sim = getattr(self, "sim", None)
        if sim is not None:
            self.ctx.summary["episodes"] = sim.num_episodes
            sim.close()
