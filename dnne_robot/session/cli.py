"""The command line of every exported ``runner.py``.

``runner.py`` supplies the graph (``build_graph``), what the exporter knew (``META``), and the
parts its plan uses: the commands besides ``train`` (an RL export adds evaluate,
export-policy, sim2sim, record and serve-robot) and the training backends (local, and Ray
when exported with ``--backend ray``). Everything else is generic and lives here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..rl.limits import MAX_PARAM_MEMORY_ENV, parse_memory
from ..runtime import GraphError
from .arguments import DefaultsHelpFormatter, positive_int
from .errors import RunnerError, one_line
from .progress import PLAIN_INTERVAL_S
from .run_dirs import run_root
from .signals import terminate_as_interrupt
from .training import Backend, BuildGraph, LocalBackend, train

log = logging.getLogger("runner")


class Command(Protocol):
    """A runner command besides ``train``: its arguments and what it runs."""

    name: str

    def add_parser(self, subparsers: Any, meta: dict[str, Any]) -> None:
        """Add this command's parser (``subparsers.add_parser(self.name, ...)``)."""

    def run(self, args: argparse.Namespace, build_graph: BuildGraph, meta: dict[str, Any]) -> int:
        """Run it; returns the exit code.

        A command may also have ``after_training(checkpoint, run_dir, meta)``, which ``train``
        calls at the end of a complete run (export-policy writes the run's ``policy.pt``).
        """


def _train_parser(sub: Any, meta: dict[str, Any], backends: dict[str, Backend]) -> None:
    train_p = sub.add_parser("train", help="run the graph (train in simulation)")
    train_p.add_argument("--steps", type=int, default=meta.get("default_steps"),
                         help="environment steps (optimisation steps for a graph without an env)")
    train_p.add_argument("--seed", type=int, default=0,
                         help="seeds torch, numpy and the environments")
    train_p.add_argument("--run-dir", type=Path,
                         help=f"the run's folder (default: a new one under {run_root(meta)}/, "
                              f"which {run_root(meta)}/latest then points at)")
    train_p.add_argument("--resume", type=Path, default=meta.get("resume_from"),
                         help="checkpoint to continue from")
    train_p.add_argument("--num-envs", type=positive_int,
                         help="override the env node's num_envs")
    train_p.add_argument("--vectorization", choices=["auto", "sync", "async", "batched", "threads"],
                         help="how the envs step (default: the env node's setting)")
    train_p.add_argument("--device", default="auto",
                         help="torch device for learning: auto (CUDA when it works, else the "
                              "CPU), cpu, cuda or cuda:<index>")
    train_p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    train_p.add_argument("--debug-queues", type=float, metavar="SECONDS",
                         help="log every queue's depth at this interval")
    train_p.add_argument("--trace", type=Path,
                         help="write a Chrome trace-event file (Perfetto)")
    train_p.add_argument("--profile", action="store_true", help="print the per-node time table")
    train_p.add_argument("--no-progress", action="store_true",
                         help="no progress bar or progress lines")
    train_p.add_argument("--progress-every", type=float, default=PLAIN_INTERVAL_S,
                         metavar="SECONDS",
                         help="seconds between progress lines when stderr is not a terminal")
    train_p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction,
                         help="write TensorBoard events to the run folder (default: when the "
                              "tensorboard package is installed; `tensorboard --logdir runs`)")
    train_p.add_argument("--set", action="append", default=[], metavar="NODE.FIELD=VALUE",
                         dest="overrides",
                         help="change a node's setting for this run, e.g. "
                              "--set 'PPO Trainer.learning_rate=1e-3' (NODE: title or id; "
                              "repeatable; checked like the workflow, kept in hparams.json)")
    train_p.add_argument("--keep-checkpoints", type=int, default=3, metavar="N",
                         help="keep the N newest checkpoints (0: keep every one)")
    if meta.get("kind") == "rl":
        train_p.add_argument("--no-export-policy", action="store_true",
                             help="skip writing policy.pt at the end")
        train_p.add_argument(
            "--backend", default="local",
            help=f"where rollouts run: {', '.join(backends)} (this export has these; "
                 "`dnne-robot export --backend ray` adds Ray, see docs/scaling.md)")
    for backend in backends.values():
        backend.add_arguments(train_p)


def _memory_size(text: str) -> str:
    try:
        parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser(meta: dict[str, Any], commands: Sequence[Command],
                 backends: dict[str, Backend]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner.py",
        description=f"Run the graph exported from {meta.get('workflow', 'a workflow')}.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="per-node logging level")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    common.add_argument("--max-param-memory", type=_memory_size, metavar="SIZE",
                        help="refuse networks whose parameters need more than SIZE while "
                             f"training (16GiB, none; default: ${MAX_PARAM_MEMORY_ENV}, else "
                             "what `dnne-robot export --max-param-memory` said, else 4GiB)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = sub.add_parser

    def with_common(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, parents=[common],
                          formatter_class=DefaultsHelpFormatter, **kwargs)

    sub.add_parser = with_common  # type: ignore[method-assign]
    _train_parser(sub, meta, backends)
    for command in commands:
        command.add_parser(sub, meta)
    return parser


def main(build_graph: BuildGraph, meta: dict[str, Any], argv: list[str] | None = None, *,
         commands: Sequence[Command] = (), backends: Sequence[Backend] = ()) -> int:
    """Entry point of ``runner.py``; returns the exit code."""
    by_name: dict[str, Backend] = {"local": LocalBackend()}
    by_name.update((b.name, b) for b in backends)
    args = build_parser(meta, commands, by_name).parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    # The networks' memory limit (rl/limits.py reads it): this option, the environment's,
    # then the export's; the environment carries it to worker processes too.
    limit = getattr(args, "max_param_memory", None) or os.environ.get(MAX_PARAM_MEMORY_ENV) \
        or meta.get("max_param_memory")
    if limit:
        os.environ[MAX_PARAM_MEMORY_ENV] = str(limit)
    terminate_as_interrupt()
    try:
        if args.command == "train":
            after = [c.after_training for c in commands if hasattr(c, "after_training")]
            return train(args, build_graph, meta, by_name, after)
        command = next(c for c in commands if c.name == args.command)
        return command.run(args, build_graph, meta)
    except KeyboardInterrupt:  # outside the graph loop (setup, resume, policy export)
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except (RunnerError, GraphError) as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user, --debug for the rest
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return 1
