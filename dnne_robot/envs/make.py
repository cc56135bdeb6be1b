"""``make_env``: one entry point from a task, an id or a model file to a vector env."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.utils import seeding
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from .batched import BATCHED
from .engines import ENGINE_SPECS, PIP_INSTALL, check_engine
from .errors import EngineNotInstalledError, EnvError, UnknownTaskError, did_you_mean
from .physics import physics_class
from .registry import ISAAC_TASKS, MODEL_FILE_IDS, TASK_ENGINES, TASKS, env_id
from .state import EnvAccess
from .threaded import ThreadedVectorEnv
from .vector import SameStepVectorEnv

_MODEL_SUFFIX_ENGINE = {".xml": "mujoco", ".mjcf": "mujoco", ".urdf": "pybullet"}
VECTORIZATIONS = ("auto", "sync", "async", "batched", "threads")


def required_engines(spec: str | os.PathLike[str], engine: str = "gymnasium") -> tuple[str, ...]:
    """The engines ``make_env(spec, engine)`` steps and checkpoints with, without making it.

    A model file needs the engine its suffix names; a dnne task, the engine asked for; a
    gymnasium id whose env is MuJoCo's (``InvertedPendulum-v5``) needs mujoco too, whose
    physics module captures its state for checkpoints.
    """
    text = os.fspath(spec)
    suffix = Path(text).suffix.lower()
    if suffix in _MODEL_SUFFIX_ENGINE:
        return (_MODEL_SUFFIX_ENGINE[suffix],)
    if text in TASK_ENGINES or text in ISAAC_TASKS:
        return (engine,)
    registered = gym.registry.get(text)
    if registered is not None and "mujoco" in str(registered.entry_point):
        return ("gymnasium", "mujoco")
    return (engine,)


def resolve_spec(
    spec: str | os.PathLike[str], engine: str = "gymnasium"
) -> tuple[str, dict[str, Any]]:
    """Turn a ``make_env`` spec into ``(registered id, extra kwargs)``.

    ``spec`` may be a dnne task (``"CartPole"``), an Isaac task (``"Cartpole"``), a registered id
    (``"dnne/Reach-mujoco-v0"``, ``"CartPole-v1"``, ``"InvertedPendulum-v5"``; a full id names
    its own engine, so ``engine`` is only checked for spelling), or a model file (``.xml`` for
    mujoco, ``.urdf`` for pybullet; with the default ``engine="gymnasium"`` the suffix decides).
    """
    check_engine(engine)
    text = os.fspath(spec)
    suffix = Path(text).suffix.lower()
    if suffix in _MODEL_SUFFIX_ENGINE:
        file_engine = _MODEL_SUFFIX_ENGINE[suffix]
        if engine not in ("gymnasium", file_engine):
            raise EnvError(
                f"{text!r} is a {suffix} model file, which the {file_engine!r} engine loads, "
                f"not {engine!r}"
            )
        return MODEL_FILE_IDS[file_engine], {"model_path": text}
    if text in TASK_ENGINES or text in ISAAC_TASKS:
        return env_id(text, engine), {}
    if text in gym.registry:
        return text, {}
    known, ids = [*TASKS, *ISAAC_TASKS], list(gym.registry)
    looks_like_id = "/" in text or "-v" in text
    hint = (
        did_you_mean(text, ids) or did_you_mean(text, known)
        if looks_like_id
        else did_you_mean(text, known) or did_you_mean(text, ids)
    )
    raise UnknownTaskError(
        f"unknown task or env id {text!r}.{hint} Tasks: {', '.join(TASKS)}; Isaac aliases: "
        f"{', '.join(ISAAC_TASKS)}; or any registered gymnasium id, or an .xml/.urdf file."
    )


def _engine_of(spec_id: str) -> str | None:
    """The engine package behind a registered id, when it is one of ours."""
    for engine in ENGINE_SPECS:
        if spec_id.endswith(f"-{engine}-v0") and spec_id.startswith("dnne/"):
            return engine
    return None


def _require_engine(spec_id: str) -> None:
    """Fail early, in this process: the engine's physics module is here, its package installed.

    Raises EngineNotExportedError (an export without this engine's physics module) before
    EngineNotInstalledError: re-exporting, not ``pip install``, is what fixes the first.
    """
    engine = _engine_of(spec_id)
    if engine is not None and ENGINE_SPECS[engine].physics_module is not None:
        physics_class(engine).require_engine()


def make_single(
    spec_id: str,
    render_mode: str | None = None,
    kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
) -> gym.Env:
    """``gymnasium.make`` one env, wrap it in :class:`EnvAccess`, optionally pre-seed its RNG.

    A pre-seeded env's first ``reset()`` without a seed equals ``reset(seed=seed)``.
    """
    _require_engine(spec_id)
    try:
        env = gym.make(spec_id, render_mode=render_mode, **(kwargs or {}))
    except gym.error.DependencyNotInstalled as err:
        extra = "gymnasium[mujoco]" if "mujoco" in str(err).lower() else None
        hint = PIP_INSTALL[extra] if extra else str(err)
        raise EngineNotInstalledError(f"{spec_id} cannot be made: {hint}") from err
    if seed is not None:
        base = env.unwrapped
        base._np_random, base._np_random_seed = seeding.np_random(seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return EnvAccess(env)


def make_env(
    spec: str | os.PathLike[str],
    engine: str = "gymnasium",
    *,
    num_envs: int = 1,
    seed: int | None = None,
    vectorization: str = "sync",
    render_mode: str | None = None,
    **kwargs: Any,
) -> VectorEnv:
    """Build a vector env (always, even for ``num_envs=1``) for a task, id or model file.

    Args:
        spec: a dnne task (``"CartPole"``), an Isaac name (``"Cartpole"``), a registered id
            (``"dnne/Reach-pybullet-v0"``, ``"CartPole-v1"``, ``"InvertedPendulum-v5"``), or a
            path to an ``.xml`` MJCF (mujoco) / ``.urdf`` (pybullet) file, which gets the
            generic model-file env (see ``docs/tasks.md``).
        engine: one of ``ENGINES``; picks the implementation of a task.
        num_envs: number of sub-envs.
        seed: sub-env ``i`` is seeded with ``seed + i`` (RNG, action and observation spaces),
            so the first ``reset()`` equals ``reset(seed=seed)``. None leaves them unseeded.
        vectorization: ``"sync"`` (:class:`~.vector.SameStepVectorEnv`, gymnasium's
            ``SyncVectorEnv`` with less per-step overhead), ``"async"`` (``AsyncVectorEnv``),
            ``"batched"`` (all sub-envs stepped at once as arrays, for the ids in
            :data:`~.batched.BATCHED`; same results as ``"sync"``), ``"threads"``
            (:class:`~.threaded.ThreadedVectorEnv`: the sub-envs' simulators step on
            several cores at once; same results as ``"sync"``), or ``"auto"``:
            ``"batched"`` where the id has one and nothing needs a per-env instance
            (rendering, extra env kwargs), ``"sync"`` otherwise (``"threads"`` pays off only
            where the physics is most of a step: see :mod:`.threaded`).
        render_mode: passed to every sub-env (``"rgb_array"`` to render).
        **kwargs: passed to ``gymnasium.make`` (env kwargs, ``max_episode_steps``, ...).

    The vector env autoresets in the same step (``AutoresetMode.SAME_STEP``): on termination or
    truncation the returned obs is already the reset obs and ``infos["final_obs"]`` /
    ``infos["_final_obs"]`` hold the final observations, and the last step's own info (e.g.
    ``"unstable"``) is under ``infos["final_info"]``. ``vec.metadata["dt"]`` is the control
    period in seconds.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if vectorization not in VECTORIZATIONS:
        raise ValueError(
            f"vectorization must be one of {VECTORIZATIONS}, got {vectorization!r}."
            f"{did_you_mean(str(vectorization), VECTORIZATIONS)}"
        )
    spec_id, extra = resolve_spec(spec, engine)
    kwargs = {**extra, **kwargs}
    if vectorization in ("auto", "batched"):
        batched = _make_batched(spec_id, num_envs, seed, render_mode, kwargs)
        if batched is not None:
            return batched
        if vectorization == "batched":
            raise EnvError(
                f"{spec_id} has no batched implementation with these options (batched: "
                f"{', '.join(BATCHED)}; no render_mode, no env kwargs); use 'sync' or 'async'"
            )
        vectorization = "sync"
    # Fail here, in this process, rather than inside an async worker.
    _require_engine(spec_id)
    if "model_path" in extra:
        _check_model_file(spec_id, extra["model_path"])
    env_fns = [
        functools.partial(
            make_single, spec_id, render_mode, kwargs, None if seed is None else seed + i
        )
        for i in range(num_envs)
    ]
    if vectorization == "sync":
        vec: VectorEnv = SameStepVectorEnv(env_fns)
    elif vectorization == "threads":
        vec = ThreadedVectorEnv(env_fns)
    else:
        vec = AsyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    if seed is not None:
        vec.action_space.seed(seed)
        vec.observation_space.seed(seed)
    # A new dict: the sub-env's metadata may be a class attribute shared by every instance.
    vec.metadata = {**vec.metadata, "dt": vec.get_attr("dt")[0]}
    return vec


def _make_batched(
    spec_id: str,
    num_envs: int,
    seed: int | None,
    render_mode: str | None,
    kwargs: dict[str, Any],
) -> VectorEnv | None:
    """The batched vector env of ``spec_id``, or None where there is none for these options."""
    cls = BATCHED.get(spec_id)
    if cls is None or render_mode is not None or set(kwargs) - {"max_episode_steps"}:
        return None
    limit = kwargs.get("max_episode_steps", gym.registry[spec_id].max_episode_steps)
    vec = cls(num_envs, max_episode_steps=limit, seed=seed)
    if seed is not None:
        vec.action_space.seed(seed)
        vec.observation_space.seed(seed)
    return vec


def _check_model_file(spec_id: str, path: str) -> None:
    """Raise ModelFileError for a missing/invalid model before any worker sees it."""
    engine = _engine_of(spec_id)
    if engine is not None:
        physics_class(engine).check_model_file(path)
