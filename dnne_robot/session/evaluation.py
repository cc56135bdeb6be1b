"""``runner.py evaluate`` for a graph without a policy: the trained graph, run once more in
evaluation mode (data sets on their test split, no optimizer steps, no gradients), and what
its trackers report (loss, accuracy)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from ..runtime import GraphRunner, RunContext
from .checkpoints import load, restore
from .run_dirs import latest_run_dir, resolve_checkpoint
from .training import BuildGraph, seed_everything


class EvaluateGraph:
    """The ``evaluate`` command of an ML export."""

    name = "evaluate"

    def add_parser(self, sub: Any, meta: dict[str, Any]) -> None:
        p = sub.add_parser(self.name, help="run the trained graph once on its test data "
                           "(no optimizer steps) and report its loss and accuracy")
        p.add_argument("--checkpoint", type=Path,
                       help="checkpoint (default: the newest in --run-dir)")
        p.add_argument("--run-dir", type=Path, default=latest_run_dir(meta))
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--steps", type=int, help="stop after this many steps")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(self, args: argparse.Namespace, build_graph: BuildGraph, meta: dict[str, Any]) -> int:
        checkpoint = resolve_checkpoint(args.checkpoint, args.run_dir)
        torch.set_num_threads(1)
        seed_everything(args.seed)
        ctx = RunContext(command="evaluate", seed=args.seed, max_steps=args.steps,
                         run_dir=args.run_dir)
        graph = build_graph(ctx)
        runner = GraphRunner(graph)
        runner.setup()
        restore(graph, load(checkpoint))
        ctx.opt_steps = ctx.env_steps = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            reason = runner.run_loop()
        out = {"status": reason, "checkpoint": str(checkpoint),
               "seconds": round(time.perf_counter() - t0, 2),
               **{k: (round(v, 4) if isinstance(v, float) else v)
                  for k, v in ctx.summary.items()}}
        if ctx.completed:
            out["completed_by"] = ctx.completed
        print(json.dumps(out) if args.json else
              "evaluate: " + ", ".join(f"{k} {v}" for k, v in out.items()))
        return 0


#: The command an ML export's runner offers besides train.
EVALUATE_GRAPH = EvaluateGraph()
