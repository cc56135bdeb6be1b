"""capture_state / restore_state: plain data, bit-identical resume, beyond our own adapters."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from dnne_robot.envs import StateNotSupportedError, capture_state, make_env, restore_state

from .helpers import assert_plain


def _resume_matches(
    spec: str, engine: str = "gymnasium", k: int = 25, more: int = 50, **kw
) -> None:
    def make():
        return make_env(spec, engine, num_envs=2, seed=0, **kw)

    a = make()
    a.reset()
    a.action_space.seed(1)
    actions = [a.action_space.sample() for _ in range(k + more)]
    for act in actions[:k]:
        a.step(act)
    state = capture_state(a)
    assert_plain(state)
    ahead = [a.step(act) for act in actions[k:]]
    b = make()
    b.reset(seed=999)
    restore_state(b, json.loads(json.dumps(state)))
    again = [b.step(act) for act in actions[k:]]
    for x, y in zip(ahead, again, strict=True):
        for u, v in zip(x[:4], y[:4], strict=True):
            np.testing.assert_array_equal(u, v)
    a.close()
    b.close()


@pytest.mark.parametrize("spec", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0"])
def test_gymnasium_classic_control(spec: str) -> None:
    _resume_matches(spec)


@pytest.mark.parametrize("spec", ["InvertedPendulum-v5", "Ant-v5"])
def test_gymnasium_mujoco(spec: str) -> None:
    """Ant-v5 reads the torso position left by the previous mj_step: captured too."""
    pytest.importorskip("mujoco")
    _resume_matches(spec)


def test_time_limit_counter_is_restored() -> None:
    """Resumed at step 30 of a 40-step limit, the episode still truncates at step 40."""
    vec = make_env("Pendulum", num_envs=1, seed=0, max_episode_steps=40)
    vec.reset()
    u = np.zeros((1, 1), dtype=np.float32)
    for _ in range(30):
        vec.step(u)
    state = capture_state(vec)
    fresh = make_env("Pendulum", num_envs=1, max_episode_steps=40)
    fresh.reset()
    restore_state(fresh, state)
    truncated_at = next(t for t in range(1, 20) if fresh.step(u)[3][0])
    assert truncated_at == 10


def test_rng_state_is_restored() -> None:
    """The next autoreset draws the same initial state after a resume."""
    vec = make_env("CartPole", num_envs=1, seed=3)
    vec.reset()
    state = capture_state(vec)
    first, _ = vec.reset()
    fresh = make_env("CartPole", num_envs=1)
    fresh.reset(seed=77)
    restore_state(fresh, state)
    second, _ = fresh.reset()
    np.testing.assert_array_equal(first, second)


def test_torch_weights_only_load() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("mujoco")
    vec = make_env("Reach", "mujoco", num_envs=2, seed=0)
    vec.reset()
    vec.step(vec.action_space.sample())
    state = capture_state(vec)
    buf = io.BytesIO()
    torch.save({"env_state": state}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)["env_state"]
    assert loaded == state


LEGACY = {
    "dnne/Reach-mujoco-v0": "dnne_robot.envs.mujoco_envs:ReachMujoco",
    "dnne/CartPole-pybullet-v0": "dnne_robot.envs.pybullet_envs:CartPolePyBullet",
}


@pytest.mark.parametrize("spec_id", sorted(LEGACY))
def test_resumes_a_state_captured_before_task_env(spec_id: str) -> None:
    """Checkpoints of the per-task classes that TaskEnv replaced still resume, bit for bit."""
    pytest.importorskip(spec_id.split("-")[1])
    a = make_env(spec_id, num_envs=2, seed=0)
    a.reset()
    a.action_space.seed(1)
    actions = [a.action_space.sample() for _ in range(40)]
    for act in actions[:20]:
        a.step(act)
    state = json.loads(json.dumps(capture_state(a)))
    for env_state in state["envs"]:  # what the old classes wrote: same layout, no task name
        env_state["env"] = LEGACY[spec_id]
        del env_state["physics"]["task_name"]
    ahead = [a.step(act)[:4] for act in actions[20:]]
    b = make_env(spec_id, num_envs=2, seed=9)
    b.reset()
    restore_state(b, state)
    again = [b.step(act)[:4] for act in actions[20:]]
    for x, y in zip(ahead, again, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)
    other = make_env(
        "Pendulum" if "mujoco" in spec_id else "Reach", spec_id.split("-")[1], num_envs=2
    )
    other.reset(seed=0)
    with pytest.raises(StateNotSupportedError, match="captured from"):
        restore_state(other, state)
