"""Policy evaluation on one engine, and the same policy across engines (sim-to-sim)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engines import (
    ENGINES,
    PIP_INSTALL,
    check_engine,
    engine_installed,
    not_exported_error,
    physics_available,
)
from .errors import EngineNotExportedError, EngineNotInstalledError
from .make import make_env, resolve_spec
from .registry import TASK_ENGINES, resolve_task

ActFn = Callable[[np.ndarray], np.ndarray]

#: Episodes run side by side, one per sub-env; wider evaluations go in batches of this size.
BATCH = 16


def evaluate_policy(
    act_fn: ActFn,
    spec: str,
    engine: str = "gymnasium",
    *,
    episodes: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Run ``episodes`` episodes of a deterministic policy and summarise the returns.

    Episode ``k`` starts from ``reset(seed=seed + k)``, whatever the engine, so the same seed
    gives every engine of a task the same initial states.

    Args:
        act_fn: maps an observation batch ``(n, *obs_shape)`` to an action batch.
        spec, engine: as for :func:`make_env`.

    Returns:
        ``{"env_id", "mean_return", "std_return", "episodes", "returns", "lengths"}``, and
        ``"success_rate"`` for a task whose steps report ``info["is_success"]`` (the last
        step of each episode decides).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    spec_id, _ = resolve_spec(spec, engine)
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[bool] = []
    for start in range(0, episodes, BATCH):
        n = min(BATCH, episodes - start)
        vec = make_env(spec, engine, num_envs=n)
        try:
            obs, _ = vec.reset(seed=seed + start)
            ret = np.zeros(n)
            length = np.zeros(n, dtype=np.int64)
            running = np.ones(n, dtype=bool)
            success = np.zeros(n, dtype=bool)
            while running.any():
                obs, reward, terminated, truncated, info = vec.step(np.asarray(act_fn(obs)))
                ret += np.where(running, reward, 0.0)
                length += running
                ended = running & (terminated | truncated)
                final = info.get("final_info", {})
                if ended.any() and "is_success" in final:
                    success[ended] = np.asarray(final["is_success"], dtype=bool)[ended]
                running &= ~(terminated | truncated)
            if "is_success" in final or success.any():
                successes += success.tolist()
        finally:
            vec.close()
        returns += ret.tolist()
        lengths += length.tolist()
    result = {
        "env_id": spec_id,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "episodes": episodes,
        "returns": returns,
        "lengths": lengths,
    }
    if successes:
        result["success_rate"] = float(np.mean(successes))
    return result


def sim_to_sim_table(
    act_fn: ActFn,
    task: str,
    engines: Sequence[str] | None = None,
    episodes: int = 10,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Evaluate one policy on every engine of ``task`` (or on ``engines``), one row each.

    A row is :func:`evaluate_policy`'s dict plus ``task``, ``engine`` and ``skipped`` (None, or
    why the engine was not run: the task does not exist there, its package is missing, or this
    package was exported without the engine's physics module).
    """
    name = resolve_task(task)
    rows: list[dict[str, Any]] = []
    for engine in ENGINES if engines is None else engines:
        check_engine(engine)
        row: dict[str, Any] = {"task": name, "engine": engine, "skipped": None}
        if engine not in TASK_ENGINES[name]:
            if engines is None:
                continue
            row["skipped"] = f"{name} is not available on {engine}"
        elif not physics_available(engine):
            row["skipped"] = str(not_exported_error(engine))
        elif not engine_installed(engine):
            row["skipped"] = f"{engine} is not installed: {PIP_INSTALL[engine]}"
        else:
            try:
                row.update(evaluate_policy(act_fn, name, engine, episodes=episodes, seed=seed))
            except (EngineNotInstalledError, EngineNotExportedError) as err:
                row["skipped"] = str(err)
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render :func:`sim_to_sim_table` rows as a fixed-width text table.

    A ``success`` column appears when a row reports ``success_rate`` (a task that defines
    success); rows without one show ``-`` there.
    """
    successes = any("success_rate" in row for row in rows)
    w = max([10, *(len(row["task"]) for row in rows)])
    head = f"{'task':<{w}} {'engine':<10} {'mean':>10} {'std':>9} {'episodes':>8}"
    lines = [head + (f" {'success':>8}" if successes else "") + "  note"]
    for row in rows:
        if row["skipped"]:
            line = f"{row['task']:<{w}} {row['engine']:<10} {'-':>10} {'-':>9} {'-':>8}"
            lines.append(line + (f" {'-':>8}" if successes else "") + f"  {row['skipped']}")
        else:
            line = (
                f"{row['task']:<{w}} {row['engine']:<10} {row['mean_return']:>10.2f} "
                f"{row['std_return']:>9.2f} {row['episodes']:>8}"
            )
            if successes:
                rate = row.get("success_rate")
                line += f" {'-' if rate is None else f'{rate:.0%}':>8}"
            lines.append(line)
    return "\n".join(lines)
