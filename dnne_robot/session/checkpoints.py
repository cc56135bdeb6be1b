"""Whole-graph checkpoints: every stateful node, the RNGs and the step counters."""

from __future__ import annotations

import os
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

from ..rl.checkpoint import (
    CheckpointError,
    capture_rng,
    checkpoint_path,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from ..runtime import Graph

FORMAT = 1


class Checkpointer:
    """Writes ``<run_dir>/checkpoints/checkpoint_<step>.pt`` atomically, keeping the newest
    ``keep`` (every one with ``keep=0``)."""

    def __init__(self, graph: Graph, meta: dict[str, Any], keep: int = 3) -> None:
        self.graph = graph
        self.meta = meta
        self.keep = keep
        self.last_path: Path | None = None
        self._swept = False

    def payload(self, reason: str) -> dict[str, Any]:
        ctx = self.graph.ctx
        return {
            "format": FORMAT,
            "reason": reason,
            "workflow_sha256": self.meta.get("workflow_sha256"),
            "meta": {k: v for k, v in self.meta.items() if isinstance(v, (str, int, float))},
            "env_info": ctx.env_info,
            "seed": ctx.seed,
            "env_steps": ctx.env_steps,
            "opt_steps": ctx.opt_steps,
            "nodes": self.graph.state_dict(),
            "rng": capture_rng(),
        }

    def save(self, reason: str) -> Path:
        ctx = self.graph.ctx
        step = ctx.env_steps if ctx.env_info else ctx.opt_steps
        target = checkpoint_path(ctx.run_dir, step)
        if not self._swept:
            sweep_partial_writes(target.parent)
            self._swept = True
        try:
            path = save_checkpoint(target, self.payload(reason))
        except (OSError, RuntimeError) as exc:  # torch's zip writer hides ENOSPC/EFBIG
            raise CheckpointError(f"could not write checkpoint {target} "
                                  f"({_why(exc)}; {_free_space(target.parent)}); "
                                  "the newest complete checkpoint is kept") from exc
        if self.keep > 0:
            prune_checkpoints(ctx.run_dir, keep=self.keep)
        self.last_path = Path(path)
        return self.last_path


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _free_space(directory: Path) -> str:
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return "free space unknown"
    return f"{free / 2**20:.0f} MiB free on its disk"


def sweep_partial_writes(directory: Path) -> list[Path]:
    """Delete the temporary files of checkpoint writes that never finished (a run killed
    mid-write leaves one; it never counts as a checkpoint, but it takes disk space)."""
    removed = []
    for path in directory.glob(".checkpoint_*.pt.*.tmp.pt") if directory.is_dir() else ():
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def restore(graph: Graph, payload: dict[str, Any]) -> None:
    """Put a graph (already set up) back in the state a checkpoint recorded."""
    ctx = graph.ctx
    graph.load_state_dict(payload["nodes"])
    ctx.env_steps = int(payload["env_steps"])
    ctx.opt_steps = int(payload["opt_steps"])
    restore_rng(payload["rng"])


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint, loaded with ``weights_only=True`` (see ``rl.checkpoint``).

    A file that holds Python objects instead of tensors and plain data (a pickle that would
    run code when loaded) is refused with an error naming the file and what it holds; the
    runner never offers to load it any other way.
    """
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        cause = exc.__cause__
        if not (isinstance(cause, pickle.UnpicklingError) and "weights only" in str(cause).lower()):
            raise
        found = re.search(r"GLOBAL ([\w.]+)", str(cause))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"refusing to load {path}: it holds Python objects{what}, not only tensors and "
            "plain data, and unpickling them could run code. A checkpoint written by this "
            "runner never does; this file was made elsewhere or altered"
        ) from None
