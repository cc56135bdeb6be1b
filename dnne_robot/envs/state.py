"""Checkpoint and resume of vector envs, bit for bit.

:func:`capture_state` returns a dict of plain Python values (dict, list, str, int, float, bool,
None): physics, RNG and wrapper state of every sub-env, so it can go into a
``torch.save`` checkpoint and come back through ``torch.load(weights_only=True)`` or JSON.
Floats are stored as Python floats, which round-trip float64 exactly.

What is captured per sub-env:

* physics: ``TaskEnv.capture_sim_state`` (MuJoCo integration state via ``mj_getState``;
  PyBullet joint and base states; the task's own state); gymnasium classic-control ``state``
  and its bookkeeping; gymnasium MuJoCo envs' integration state plus the derived kinematic
  arrays their ``step`` reads before simulating (done by ``physics/mujoco.py``, the one module
  that uses mujoco);
* ``np_random`` bit-generator state, and the action space's sampler state when used;
* ``TimeLimit`` elapsed steps and ``OrderEnforcing``'s has-reset flag.

Anything else raises :class:`StateNotSupportedError`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv, VectorEnv

from .errors import StateNotSupportedError
from .physics import physics_module

FORMAT = "dnne-envs-state/1"

# Attributes of gymnasium classic-control envs that carry state between steps.
_CLASSIC_ATTRS = ("state", "steps_beyond_terminated", "last_u")


# -- plain-value encoding ------------------------------------------------------------------
def encode(value: Any) -> Any:
    """Turn numpy values and tuples into tagged plain dicts; keep primitives; refuse the rest."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
        return {"__npscalar__": value.item(), "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    raise StateNotSupportedError(f"cannot store a {type(value).__name__} in an env state")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            arr = np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
            return arr.reshape(value["shape"])
        if "__npscalar__" in value:
            return np.dtype(value["dtype"]).type(value["__npscalar__"])
        if "__tuple__" in value:
            return tuple(decode(v) for v in value["__tuple__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def rng_state(rng: np.random.Generator | None) -> dict[str, Any] | None:
    return None if rng is None else encode(rng.bit_generator.state)


def make_rng(state: dict[str, Any] | None) -> np.random.Generator | None:
    if state is None:
        return None
    state = decode(state)
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


# -- one environment -------------------------------------------------------------------------
def _is_gym_mujoco(env: gym.Env) -> bool:
    data = getattr(env, "data", None)
    return (
        hasattr(env, "model")
        and data is not None
        and type(data).__module__.startswith("mujoco")
        and not hasattr(env, "capture_sim_state")
    )


def _physics_state(env: gym.Env) -> dict[str, Any]:
    if hasattr(env, "capture_sim_state"):
        return env.capture_sim_state()
    if type(env).__module__.startswith("gymnasium.envs.classic_control"):
        return {
            "engine": "classic_control",
            "attrs": {k: encode(getattr(env, k)) for k in _CLASSIC_ATTRS if hasattr(env, k)},
        }
    if _is_gym_mujoco(env):
        return physics_module("mujoco").capture_gym_env(env)
    raise StateNotSupportedError(
        f"cannot capture the state of {type(env).__module__}.{type(env).__name__}: supported are "
        "the dnne adapters (mujoco, pybullet), gymnasium classic-control envs and gymnasium "
        "MuJoCo envs"
    )


def _set_physics_state(env: gym.Env, state: dict[str, Any]) -> None:
    engine = state.get("engine")
    if hasattr(env, "restore_sim_state") and engine in ("mujoco", "pybullet"):
        env.restore_sim_state(state)
    elif engine == "classic_control":
        for key, value in state["attrs"].items():
            setattr(env, key, decode(value))
    elif engine == "gymnasium_mujoco" and _is_gym_mujoco(env):
        physics_module("mujoco").restore_gym_env(env, state)
    else:
        raise StateNotSupportedError(f"cannot restore a {engine!r} state into {type(env).__name__}")


def get_env_state(env: gym.Env) -> dict[str, Any]:
    """Everything needed to continue ``env`` (a possibly wrapped single env) bit-identically."""
    wrappers: list[dict[str, Any]] = []
    layer: gym.Env = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            wrappers.append({"TimeLimit": layer._elapsed_steps})
        elif isinstance(layer, gym.wrappers.OrderEnforcing):
            wrappers.append({"OrderEnforcing": layer._has_reset})
        layer = layer.env
    base = env.unwrapped
    return {
        "env": f"{type(base).__module__}:{type(base).__name__}",
        "spec_id": env.spec.id if env.spec is not None else None,
        "physics": _physics_state(base),
        "np_random": rng_state(base._np_random),
        "np_random_seed": base._np_random_seed,
        "action_space_rng": rng_state(env.action_space._np_random),
        "wrappers": wrappers,
    }


#: The per-task, per-engine classes that ran our tasks before ``TaskEnv``, by class name, as
#: (task, engine). Their states have the same physics layout, without the task's name.
_LEGACY_CLASSES = {
    f"{task}{suffix}": (task, engine)
    for task in ("CartPole", "Pendulum", "Reach")
    for engine, suffix in (("mujoco", "Mujoco"), ("pybullet", "PyBullet"))
} | {"MujocoModelEnv": ("ModelFile", "mujoco"), "PyBulletModelEnv": ("ModelFile", "pybullet")}


def _legacy_physics(base: gym.Env, state: dict[str, Any]) -> dict[str, Any] | None:
    """A pre-TaskEnv state of the same task and engine as ``base``, given the task name."""
    module, _, cls = str(state["env"]).rpartition(":")
    task = getattr(base, "task", None)
    if not module.endswith(("mujoco_envs", "pybullet_envs")) or task is None:
        return None
    if _LEGACY_CLASSES.get(cls) != (task.name, getattr(base, "engine", None)):
        return None
    return {**state["physics"], "task_name": task.name}


def set_env_state(env: gym.Env, state: dict[str, Any]) -> None:
    """Put ``env`` (made the same way as the captured one) into the captured state."""
    base = env.unwrapped
    name = f"{type(base).__module__}:{type(base).__name__}"
    physics = state["physics"]
    if state["env"] != name:
        physics = _legacy_physics(base, state)
        if physics is None:
            raise StateNotSupportedError(f"state was captured from {state['env']}, not {name}")
    _set_physics_state(base, physics)
    base._np_random = make_rng(state["np_random"])
    base._np_random_seed = state["np_random_seed"]
    if state["action_space_rng"] is not None:
        env.action_space._np_random = make_rng(state["action_space_rng"])
    saved = list(state["wrappers"])
    layer: gym.Env = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit | gym.wrappers.OrderEnforcing):
            if not saved:
                raise StateNotSupportedError("the env has more wrappers than the saved state")
            ((kind, value),) = saved.pop(0).items()
            if kind == "TimeLimit" and isinstance(layer, gym.wrappers.TimeLimit):
                layer._elapsed_steps = value
            elif kind == "OrderEnforcing" and isinstance(layer, gym.wrappers.OrderEnforcing):
                layer._has_reset = value
            else:
                raise StateNotSupportedError(f"wrapper order differs at {kind}")
        layer = layer.env


class EnvAccess(gym.Wrapper):
    """Outermost wrapper of every sub-env that ``make_env`` builds; ``step`` passes straight on.

    It makes each sub-env reachable through the vector env, ``AsyncVectorEnv`` workers included:
    ``vec_env.call("dnne_state")`` reads each sub-env's state,
    ``vec_env.set_attr("dnne_state", states)`` writes them back, and ``vec_env.get_attr("dt")``
    gives the control period (CartPole-v1 calls it ``tau``).
    """

    dnne_state_access = True

    @property
    def dt(self) -> float | None:
        base = self.env.unwrapped
        dt = getattr(base, "dt", None)
        if dt is None:
            dt = getattr(base, "tau", None)
        return None if dt is None else float(dt)

    @property
    def dnne_state(self) -> dict[str, Any]:
        return get_env_state(self.env)

    @dnne_state.setter
    def dnne_state(self, state: dict[str, Any]) -> None:
        set_env_state(self.env, state)


def _check_async(vec_env: AsyncVectorEnv) -> None:
    try:
        ok = all(vec_env.call("dnne_state_access"))
    except Exception as err:
        ok = False
        cause: Exception | None = err
    else:
        cause = None
    if not ok:
        raise StateNotSupportedError(
            "this AsyncVectorEnv was not built by make_env, so its workers cannot be snapshot"
        ) from cause


# -- vector envs -----------------------------------------------------------------------------
def capture_state(vec_env: VectorEnv) -> dict[str, Any]:
    """Snapshot every sub-env of ``vec_env`` as a dict of plain Python values.

    Restoring it with :func:`restore_state` into a vector env made the same way continues the
    run bit-identically.
    """
    if hasattr(vec_env, "capture") and hasattr(vec_env, "restore"):  # a batched env
        return {
            "format": FORMAT,
            "num_envs": vec_env.num_envs,
            "batched": vec_env.capture(),
            "action_space_rng": rng_state(vec_env.action_space._np_random),
        }
    if isinstance(vec_env, SyncVectorEnv):
        envs = [get_env_state(e) for e in vec_env.envs]
    elif isinstance(vec_env, AsyncVectorEnv):
        _check_async(vec_env)
        envs = list(vec_env.call("dnne_state"))
    else:
        raise StateNotSupportedError(
            f"capture_state supports SyncVectorEnv and AsyncVectorEnv, not {type(vec_env).__name__}"
        )
    autoreset = getattr(vec_env, "_autoreset_envs", None)
    return {
        "format": FORMAT,
        "num_envs": vec_env.num_envs,
        "envs": envs,
        "autoreset_envs": None if autoreset is None else [bool(b) for b in autoreset],
        "action_space_rng": rng_state(vec_env.action_space._np_random),
    }


def restore_state(vec_env: VectorEnv, state: dict[str, Any]) -> None:
    """Load a :func:`capture_state` snapshot into ``vec_env`` (same spec and ``num_envs``)."""
    if state.get("format") != FORMAT:
        raise StateNotSupportedError(f"not a {FORMAT} state: format={state.get('format')!r}")
    if state["num_envs"] != vec_env.num_envs:
        raise StateNotSupportedError(
            f"state has {state['num_envs']} sub-envs, the vector env has {vec_env.num_envs}"
        )
    batched = hasattr(vec_env, "capture") and hasattr(vec_env, "restore")
    if batched != ("batched" in state):
        kinds = ("a batched", "a per-env") if batched else ("a per-env", "a batched")
        raise StateNotSupportedError(
            f"cannot restore {kinds[1]} env state into {kinds[0]} vector env "
            f"({type(vec_env).__name__}); resume with the vectorization the run used"
        )
    if batched:
        vec_env.restore(state["batched"])
    elif isinstance(vec_env, SyncVectorEnv):
        for env, env_state in zip(vec_env.envs, state["envs"], strict=True):
            set_env_state(env, env_state)
    elif isinstance(vec_env, AsyncVectorEnv):
        _check_async(vec_env)
        vec_env.set_attr("dnne_state", list(state["envs"]))
    else:
        raise StateNotSupportedError(
            f"restore_state supports SyncVectorEnv and AsyncVectorEnv, not {type(vec_env).__name__}"
        )
    if state.get("autoreset_envs") is not None and hasattr(vec_env, "_autoreset_envs"):
        vec_env._autoreset_envs = np.array(state["autoreset_envs"], dtype=np.bool_)
    if state["action_space_rng"] is not None:
        vec_env.action_space._np_random = make_rng(state["action_space_rng"])
