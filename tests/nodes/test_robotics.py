"""DNNE's Isaac Gym Simulator on the gymnasium CartPole engine, as its template steps it
(``isaac_gym_sim_queue.tpl``): a null-action step to start and after every reset, one step
per action, and done when an episode ends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from dnne_robot.envs import make_env
from dnne_robot.nodes.robotics import THETA_LIMIT, IsaacGymSimNode
from dnne_robot.runtime import NodeError, RunContext

from .helpers import Tap, configured, graph, run, script

SEED = 3  # the env config node's seed, added to the run's (0)


def sim_node(**constants: Any) -> type:
    defaults = {"TASK": "CartPole", "ENGINE": "gymnasium", "SEED": SEED, "NULL_ACTION": (0.0,),
                "RESET_WHEN_DONE": True}
    return configured(IsaacGymSimNode, **{**defaults, **constants})


def simulate(steps: list[dict[str, Any]], max_steps: int | None = None,
             **constants: Any) -> tuple[list[tuple[str, Any]], RunContext]:
    """What the simulator sends, in order, for ``steps`` on its action and reset inputs:
    ("obs", observation row) and ("done", True)."""
    ctx, g = graph(max_steps=max_steps)
    source = g.add(script(steps, ("action", "reset"))("1", "actions", ctx))
    sim = g.add(sim_node(**constants)("2", "sim", ctx))
    tap = g.add(Tap("3", "out", ctx))
    g.connect(source, "action", sim, "action")
    g.connect(source, "reset", sim, "reset")
    g.connect(sim, "observation", tap, "x")
    g.connect(sim, "done", tap, "x")  # one queue: observations and done in the order sent
    assert run(g) == "done"
    out = []
    for x in tap.seen:
        if isinstance(x, torch.Tensor):
            assert x.shape == (1, ctx.env_info["obs_dim"]) and x.dtype == torch.float32
            out.append(("obs", x[0].numpy()))
        else:
            out.append(("done", x))
    return out, ctx


def dnne_reference(steps: list[Any], reset_when_done: bool = True) -> list[tuple[str, Any]]:
    """DNNE's simulator loop on the same env: reset, a null step; each action one step; on
    done the terminal observation and done, then (reset_when_done) a null step's."""
    env = make_env("CartPole", "gymnasium", num_envs=1, seed=SEED, vectorization="sync")
    env.reset(seed=SEED)

    def step(action: int) -> tuple[np.ndarray, bool, np.ndarray]:
        obs, _, terminated, truncated, info = env.step(np.array([action]))
        done = bool(terminated[0] or truncated[0])
        final = info["final_obs"][0] if done else obs[0]
        return np.asarray(final, dtype=np.float32), done, np.asarray(obs[0], dtype=np.float32)

    def null_step() -> np.ndarray:
        return step(0)[2]  # (the env restarts itself if even that ends the episode)

    out: list[tuple[str, Any]] = [("obs", null_step())]
    for item in steps:
        if item == "reset":
            env.reset()
            out.append(("obs", null_step()))
            continue
        obs, done, _ = step(item)
        out.append(("obs", obs))
        if done:
            out.append(("done", True))
            if reset_when_done:
                out.append(("obs", null_step()))
    env.close()
    return out


def same(got: list[tuple[str, Any]], expected: list[tuple[str, Any]]) -> bool:
    return [k for k, _ in got] == [k for k, _ in expected] and all(
        np.array_equal(a, b) if k == "obs" else a == b
        for (k, a), (_, b) in zip(got, expected, strict=True))


def actions(*values: Any) -> list[dict[str, Any]]:
    return [{"action": torch.tensor([float(v)])} for v in values]


def test_the_null_action_step_comes_before_any_action() -> None:
    out, ctx = simulate([])
    assert same(out, dnne_reference([]))
    assert len(out) == 1 and ctx.env_steps == 1
    assert ctx.env_info["action"]["kind"] == "discrete" and ctx.env_info["obs_dim"] == 4


def test_one_step_per_action_and_done_after_the_terminal_observation() -> None:
    pushes = [1] * 25  # always right: the pole falls within about ten steps, twice
    out, ctx = simulate(actions(*pushes))
    expected = dnne_reference(pushes)
    assert same(out, expected)
    dones = [i for i, (kind, _) in enumerate(out) if kind == "done"]
    assert len(dones) == 2
    for i in dones:
        terminal = out[i - 1][1]  # the observation just before done ends the episode
        assert abs(terminal[2]) > THETA_LIMIT or abs(terminal[0]) > 2.4
        assert out[i + 1][0] == "obs" and abs(out[i + 1][1][2]) < 0.1  # a new, upright pole
    # One step per action, plus the null steps: at the start and after each done.
    assert ctx.env_steps == 1 + len(pushes) + len(dones)
    assert len([k for k, _ in out if k == "obs"]) == ctx.env_steps


def test_without_reset_when_done_the_next_action_steps_the_new_episode() -> None:
    pushes = [1] * 15
    out, ctx = simulate(actions(*pushes), RESET_WHEN_DONE=False)
    assert same(out, dnne_reference(pushes, reset_when_done=False))
    assert [k for k, _ in out].count("done") == 1
    assert ctx.env_steps == 1 + len(pushes)


def test_a_reset_message_starts_a_new_episode_with_a_null_step() -> None:
    steps = [*actions(1, 1, 1), {"reset": True}, *actions(0, 1)]
    out, _ = simulate(steps)
    assert same(out, dnne_reference([1, 1, 1, "reset", 0, 1]))
    assert len(out) == 7


@pytest.mark.parametrize(("action", "index"), [
    (torch.tensor([1]), 1), (torch.tensor([[1.0]]), 1), (torch.tensor([0.7]), 1),
    (torch.tensor([0.0]), 0), (torch.tensor([-0.3]), 0),  # a float is a push direction
])
def test_an_action_is_the_discrete_index_or_a_push_direction(action: torch.Tensor,
                                                              index: int) -> None:
    out, _ = simulate([{"action": action}])
    assert same(out, dnne_reference([index]))


def test_an_action_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(NodeError, match=r"#2 'sim'.*action of 2 values; the task takes 1"):
        simulate(actions(1) + [{"action": torch.tensor([1.0, 0.0])}])
    with pytest.raises(NodeError, match=r"null_action has 2 values; the task's action has 1"):
        simulate([], NULL_ACTION=(0.0, 0.0))


def test_the_run_ends_when_the_step_budget_is_spent() -> None:
    out, ctx = simulate(actions(*[0] * 10), max_steps=4)
    assert ctx.env_steps == 4 and ctx.completed.endswith("4 environment steps (--steps)")
    # The null step and three actions (what was still in flight when the run completed
    # may not have reached the tap).
    assert same(out, dnne_reference([0, 0, 0])[:len(out)])


def test_a_continuous_action_is_clipped_into_the_task_s_bounds() -> None:
    # Pendulum-v1: one torque in [-2, 2].
    far, _ = simulate([{"action": torch.tensor([[5.0]])}], TASK="Pendulum-v1")
    edge, ctx = simulate([{"action": torch.tensor([2.0])}], TASK="Pendulum-v1")
    inside, _ = simulate([{"action": torch.tensor([1.0])}], TASK="Pendulum-v1")
    assert ctx.env_info["action"] == {"kind": "continuous", "n": None, "low": [-2.0],
                                      "high": [2.0]}
    assert len(far) == 2 and same(far, edge) and not same(far, inside)
