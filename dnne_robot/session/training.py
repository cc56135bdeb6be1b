"""``runner.py train``: one training session, driven by a backend.

:class:`TrainingSession` does what every run needs: seeds, the run folder, the run context,
the graph, the checkpoint to resume from, the progress bar, and at the end the summary and
the exported policy. A backend runs the graph in between: :class:`LocalBackend` in this
process (the asyncio queue runtime), or the Ray backend (``framework/distributed``) with
rollouts on worker processes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..runtime import Graph, GraphRunner, RunContext
from ..runtime.trace import Tracer, stats_table
from .checkpoints import Checkpointer, load, restore
from .devices import resolve_device
from .errors import RunnerError
from .overrides import apply_overrides, load_table, parse_overrides
from .progress import progress_reporter
from .run_dirs import choose_run_dir, point_latest, run_root
from .signals import SignalsHeld, terminate_as_interrupt

BuildGraph = Callable[[RunContext], Graph]
#: What a finished run does next (``runner.py``'s export-policy command writes ``policy.pt``):
#: ``(last checkpoint, run folder, META) -> entries for summary.json``.
AfterTraining = Callable[[Path, Path, dict[str, Any]], dict[str, Any]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_writable(run_dir: Path) -> None:
    """Fail now, in one line, if checkpoints and metrics cannot be written there."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"0" * 65536)
        probe.unlink()
    except OSError as exc:
        raise RunnerError(f"run folder {run_dir} is not writable: {exc.strerror or exc}") from exc


@dataclass
class Outcome:
    """How a backend's run ended.

    Attributes:
        reason: ``"done"`` or ``"interrupted"`` (errors are raised).
        seconds: time spent running the graph (set-up excluded).
        start_steps: the step count the run started from (a resumed run's checkpoint step).
        summary: backend-specific entries for ``summary.json``.
        report: text printed after the summary's notices (the per-node profile).
    """

    reason: str
    seconds: float
    start_steps: int
    summary: dict[str, Any] = field(default_factory=dict)
    report: str | None = None


class Backend(Protocol):
    """How a training session runs its graph."""

    name: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Options of ``runner.py train`` that only this backend reads."""

    def train(self, session: TrainingSession) -> Outcome:
        """Run the session's graph to its end (or an interrupt); write its checkpoints."""


class TrainingSession:
    """Everything about one ``runner.py train`` that does not depend on the backend.

    Args:
        args: the parsed ``train`` arguments.
        build_graph: ``runner.py``'s wiring.
        meta: what the exporter knew (``runner.py``'s ``META``).
        after_training: what a complete run does next, unless ``--no-export-policy``.
    """

    def __init__(self, args: argparse.Namespace, build_graph: BuildGraph,
                 meta: dict[str, Any], after_training: Sequence[AfterTraining] = ()) -> None:
        if args.keep_checkpoints < 0:
            raise RunnerError(f"--keep-checkpoints must be >= 0 (0 keeps every one), "
                              f"got {args.keep_checkpoints}")
        self.args = args
        self.meta = meta
        self.after_training = list(after_training)
        self.notices: list[str] = []
        torch.set_num_threads(max(1, args.threads))
        seed_everything(args.seed)
        device, said = resolve_device(args.device)
        if said:
            print(said, file=sys.stderr)
        overrides = (parse_overrides(args.overrides, load_table())
                     if getattr(args, "overrides", None) else [])
        self.resume: dict[str, Any] | None = self._load_resume(args.resume)
        self.run_dir = choose_run_dir(args.run_dir, args.resume, args.seed, meta)
        self.ctx = RunContext(
            command="train", seed=args.seed, max_steps=args.steps, run_dir=self.run_dir,
            device=device,
            options={"num_envs": args.num_envs, "vectorization": args.vectorization,
                     "tensorboard": getattr(args, "tensorboard", None)},
            record={"workflow": meta.get("workflow"), "engine": meta.get("engine"),
                    "task": meta.get("task"), "device": device,
                    "backend": getattr(args, "backend", None) or "local",
                    "overrides": [o.record() for o in overrides]},
        )
        if args.trace:
            self.ctx.tracer = Tracer()
        self.graph = build_graph(self.ctx)
        apply_overrides(self.graph, overrides)
        check_writable(self.run_dir)  # the folder is made only once nothing else failed
        if self.run_dir.parent.resolve() == run_root(meta).resolve():
            self.notices += filter(None, [point_latest(self.run_dir)])

    def _load_resume(self, path: Path | None) -> dict[str, Any] | None:
        if not path:
            return None
        if not Path(path).is_file():
            raise RunnerError(f"checkpoint to resume from, {path}, does not exist")
        payload = load(path)
        if payload.get("workflow_sha256") not in (None, self.meta.get("workflow_sha256")):
            raise RunnerError(f"{path} was written by a different workflow")
        return payload

    @property
    def steps(self) -> int:
        """Environment steps, or optimisation steps for a graph without an env."""
        return self.ctx.env_steps if self.ctx.env_info else self.ctx.opt_steps

    def announce_resume(self) -> None:
        if self.resume is not None:
            print(f"resumed from {self.args.resume} at step {self.steps}")

    def start_progress(self) -> Callable[[], None]:
        """Show progress from here on, unless --no-progress: a bar on a terminal, otherwise a
        line every --progress-every seconds (for nohup, CI and batch logs); returns close."""
        self.ctx.progress, close = progress_reporter(
            self.ctx.max_steps, not self.args.no_progress, self.steps,
            bar=sys.stderr.isatty(), every=getattr(self.args, "progress_every", None))
        return close

    def end_checkpoint(self, reason: str) -> None:
        """At the end of a complete run, while the nodes still hold their state: the final
        checkpoint, unless an RL trainer wrote one at its last update."""
        checkpointer = self.ctx.checkpointer
        if reason == "done" and checkpointer is not None and (
                checkpointer.last_path is None or self.meta.get("kind") != "rl"):
            checkpointer.save("end")

    def interrupted(self) -> None:
        """Make sure an interrupted run leaves a checkpoint, and say where it is."""
        checkpointer = self.ctx.checkpointer
        if checkpointer is None:
            return
        path = self.ctx.interrupt_checkpoint  # a trainer wrote it where a resume is exact
        if path is None:
            with SignalsHeld():  # a second Ctrl-C must not cost the checkpoint
                path = checkpointer.save("interrupted")
        print(f"interrupted: checkpoint written to {path}", file=sys.stderr)

    def finish(self, outcome: Outcome) -> int:
        """Summary, final checkpoint and policy; returns the exit code."""
        ctx, reason = self.ctx, outcome.reason
        steps = self.steps - outcome.start_steps
        elapsed = outcome.seconds
        summary = {
            "status": reason,
            "steps": self.steps,
            "seconds": round(elapsed, 2),
            "steps_per_second": round(steps / elapsed, 1) if elapsed > 0 else None,
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in ctx.summary.items()},
            **outcome.summary,
            **({"completed_by": ctx.completed} if ctx.completed else {}),
            "run_dir": str(self.run_dir),
        }
        if reason == "done":
            summary["checkpoint"] = str(ctx.checkpointer.last_path)
            if not getattr(self.args, "no_export_policy", False):
                for after in self.after_training:
                    summary.update(after(ctx.checkpointer.last_path, self.run_dir, self.meta))
        for notice in [*self.notices, *ctx.notices]:
            print(f"notice: {notice}", file=sys.stderr)
        if outcome.report:
            print(outcome.report)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print("summary: " + json.dumps(summary))
        return 130 if reason == "interrupted" else ctx.exit_code


class LocalBackend:
    """Runs the graph in this process, on the asyncio queue runtime."""

    name = "local"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        return None

    def train(self, session: TrainingSession) -> Outcome:
        args, ctx, graph = session.args, session.ctx, session.graph
        ctx.checkpointer = Checkpointer(graph, session.meta, keep=args.keep_checkpoints)
        runner = GraphRunner(graph, debug_queues=args.debug_queues)
        runner.setup()
        if session.resume is not None:
            restore(graph, session.resume)
            session.announce_resume()
        start = session.steps
        close_progress = session.start_progress()
        t0 = time.perf_counter()
        reason = "error"
        try:
            reason = runner.run_loop(before_close=session.end_checkpoint)
        finally:
            terminate_as_interrupt()  # asyncio put SIGTERM back to its default on the way out
            close_progress()
            elapsed = time.perf_counter() - t0
            if reason == "interrupted":
                session.interrupted()
            if args.trace:
                ctx.tracer.write(args.trace)
        report = stats_table(graph.nodes) if args.profile or args.trace else None
        return Outcome(reason, elapsed, start, report=report)


def train(args: argparse.Namespace, build_graph: BuildGraph, meta: dict[str, Any],
          backends: dict[str, Backend], after_training: Sequence[AfterTraining] = ()) -> int:
    """``runner.py train``: a session, run by the backend ``--backend`` names."""
    name = getattr(args, "backend", None) or "local"
    backend = backends.get(name)
    if backend is None:
        raise RunnerError(f"--backend {name}: this package was exported without it; "
                          f"export the workflow again with `dnne-robot export --backend {name}`")
    if name != "local" and getattr(args, "overrides", None):
        raise RunnerError(f"--set works with the local backend only (--backend {name} builds "
                          "the graph again on its workers); change the workflow and export "
                          "again")
    if name == "local":
        extra = [f"--{k.replace('_', '-')}" for k in ("workers", "envs_per_worker", "address")
                 if getattr(args, k, None)]
        if extra:
            raise RunnerError(f"{', '.join(extra)} need --backend ray")
    session = TrainingSession(args, build_graph, meta, after_training)
    return session.finish(backend.train(session))
