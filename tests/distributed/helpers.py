"""Building and running the CartPole export in-process, on either backend."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import torch


def make_run(runner: ModuleType, run_dir: Path, *, workers: int = 1, steps: int = 512,
             seed: int = 0, envs_per_worker: int | None = None) -> Any:
    """A set-up DistributedRun of the export's graph (Ray must already be running)."""
    from framework.distributed import DistributedRun, RayCheckpointer
    from framework.runtime import RunContext
    from framework.session.training import seed_everything

    seed_everything(seed)
    ctx = RunContext(command="train", seed=seed, max_steps=steps, run_dir=run_dir)
    graph = runner.build_graph(ctx)
    run = DistributedRun(ctx, graph, runner.META, workers=workers,
                         envs_per_worker=envs_per_worker)
    ctx.checkpointer = RayCheckpointer(graph, runner.META, run)
    run.setup()
    return run


def train(runner: ModuleType, run_dir: Path, *args: str) -> int:
    """``runner.py train --run-dir RUN_DIR ARGS`` in this process; returns the exit code."""
    return runner.run(["train", "--run-dir", str(run_dir), "--no-progress", *args])


def final_policy(run_dir: Path) -> dict[str, torch.Tensor]:
    """The agent's weights in the newest checkpoint of a run."""
    from framework.rl import latest_checkpoint, load_checkpoint

    payload = load_checkpoint(latest_checkpoint(run_dir))
    return next(s["policy"] for s in payload["nodes"].values()
                if isinstance(s, dict) and "policy_config" in s)


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
