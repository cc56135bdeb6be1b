"""Whole-graph checkpoints: every stateful node, the RNGs and the step counters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .graph import Graph

FORMAT = 1


class Checkpointer:
    """Writes ``<run_dir>/checkpoints/checkpoint_<step>.pt`` atomically, keeping the newest few."""

    def __init__(self, graph: Graph, meta: dict[str, Any], keep: int = 3) -> None:
        self.graph = graph
        self.meta = meta
        self.keep = keep
        self.last_path: Path | None = None

    def payload(self, reason: str) -> dict[str, Any]:
        from ..rl.checkpoint import capture_rng

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
        from ..rl.checkpoint import checkpoint_path, prune_checkpoints, save_checkpoint

        ctx = self.graph.ctx
        step = ctx.env_steps if ctx.env_info else ctx.opt_steps
        path = save_checkpoint(checkpoint_path(ctx.run_dir, step), self.payload(reason))
        prune_checkpoints(ctx.run_dir, keep=self.keep)
        self.last_path = Path(path)
        return self.last_path


def restore(graph: Graph, payload: dict[str, Any]) -> None:
    """Put a graph (already set up) back in the state a checkpoint recorded."""
    from ..rl.checkpoint import restore_rng

    ctx = graph.ctx
    graph.load_state_dict(payload["nodes"])
    ctx.env_steps = int(payload["env_steps"])
    ctx.opt_steps = int(payload["opt_steps"])
    restore_rng(payload["rng"])
