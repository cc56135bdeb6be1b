"""The command line of every exported ``runner.py``: train, evaluate, export-policy, ...

``runner.py`` supplies the graph (``build_graph``) and what the exporter knew (``META``);
everything else is generic and lives here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .context import RunContext
from .errors import GraphError, NodeError
from .graph import Graph, GraphRunner

log = logging.getLogger("runner")

BuildGraph = Callable[[RunContext], Graph]


class RunnerError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


# ----------------------------------------------------------------------------- argument parsing
def build_parser(meta: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner.py",
        description=f"Run the graph exported from {meta.get('workflow', 'a workflow')}.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="per-node logging level")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = sub.add_parser

    def with_common(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, parents=[common], **kwargs)

    sub.add_parser = with_common  # type: ignore[method-assign]
    rl = meta.get("kind") == "rl"

    train = sub.add_parser("train", help="run the graph (train in simulation)")
    train.add_argument("--steps", type=int, default=meta.get("default_steps"),
                       help="environment steps (optimisation steps for a graph without an env)")
    train.add_argument("--seed", type=int, default=0)
    run_dir = Path(meta.get("default_run_dir") or "runs/latest")
    train.add_argument("--run-dir", type=Path, default=run_dir,
                       help="where checkpoints, metrics and plots go")
    train.add_argument("--resume", type=Path, default=meta.get("resume_from"),
                       help="checkpoint to continue from")
    train.add_argument("--num-envs", type=int, help="override the env node's num_envs")
    train.add_argument("--vectorization", choices=["auto", "sync", "async", "batched"])
    train.add_argument("--device", default="cpu", help="torch device for learning (cpu, cuda)")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.add_argument("--debug-queues", type=float, metavar="SECONDS",
                       help="log every queue's depth at this interval")
    train.add_argument("--trace", type=Path, help="write a Chrome trace-event file (Perfetto)")
    train.add_argument("--profile", action="store_true", help="print the per-node time table")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--keep-checkpoints", type=int, default=3, metavar="N",
                       help="keep the N newest checkpoints (0: keep every one)")
    if rl:
        train.add_argument("--no-export-policy", action="store_true",
                           help="skip writing policy.pt at the end")
        train.add_argument("--backend", choices=["local", "ray"], default="local",
                           help="local: this process; ray: rollouts on Ray workers "
                                "(pip install 'ray[default]>=2.9'; see docs/scaling.md)")
        train.add_argument("--workers", type=int, metavar="N",
                           help="Ray rollout workers (default 2)")
        train.add_argument("--envs-per-worker", type=int, metavar="M",
                           help="envs in each Ray worker (default: the env node's num_envs)")
        train.add_argument("--address", metavar="ADDR",
                           help="join this Ray cluster (default: start Ray in this process)")

    if rl:
        ev = sub.add_parser("evaluate", help="run the deterministic policy and report returns")
        ev.add_argument("--episodes", type=int, default=10)
        ev.add_argument("--checkpoint", type=Path, help="checkpoint (default: newest in run dir)")
        ev.add_argument("--policy", type=Path, help="an exported policy.pt instead")
        ev.add_argument("--run-dir", type=Path, default=run_dir)
        ev.add_argument("--engine", help="evaluate on another engine (sim-to-sim)")
        ev.add_argument("--seed", type=int, default=1000)
        ev.add_argument("--json", action="store_true", help="print one JSON object")

        ex = sub.add_parser("export-policy", help="write the policy for the robot")
        ex.add_argument("--checkpoint", type=Path)
        ex.add_argument("--run-dir", type=Path, default=run_dir)
        ex.add_argument("--format", choices=["torchscript", "pt2", "onnx"], default="torchscript")
        ex.add_argument("-o", "--output", type=Path, help="default: policy.pt (or .pt2 / .onnx)")

        s2s = sub.add_parser("sim2sim", help="evaluate the policy on every engine with the task")
        s2s.add_argument("--checkpoint", type=Path)
        s2s.add_argument("--run-dir", type=Path, default=run_dir)
        s2s.add_argument("--episodes", type=int, default=5)
        s2s.add_argument("--seed", type=int, default=1000)
        s2s.add_argument("--json", action="store_true")

        rec = sub.add_parser("record", help="save a rollout as a GIF or MP4")
        rec.add_argument("--checkpoint", type=Path)
        rec.add_argument("--run-dir", type=Path, default=run_dir)
        rec.add_argument("--engine")
        rec.add_argument("--steps", type=int, default=200)
        rec.add_argument("-o", "--output", type=Path, default=Path("rollout.gif"))

        for extra in _extra_commands():
            extra.add_parser(sub, meta)
    return parser


def _extra_commands() -> list[Any]:
    """Commands contributed by optional framework modules (robot serving, distributed)."""
    found = []
    for name in ("robot", "distributed"):
        try:
            module = __import__(f"{__package__}.{name}", fromlist=["COMMAND"])
        except ImportError:
            continue
        command = getattr(module, "COMMAND", None)
        if command is not None:
            found.append(command)
    return found


# ----------------------------------------------------------------------------- commands
def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _progress(
    total: int | None, enabled: bool, initial: int = 0
) -> tuple[Callable | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None or total is None:
        last: list[float] = []  # (time, step) of the last line; set on the first call

        def plain(step: int, stats: dict) -> None:
            now = time.monotonic()
            if not last:  # a resumed run starts counting at its checkpoint's step
                last[:] = [now, step]
            elif now - last[0] >= 5.0:
                rate = (step - last[1]) / (now - last[0])
                last[:] = [now, step]
                ret = stats.get("episode_return_mean")
                print(f"step {step}  {rate:,.0f} steps/s  return "
                      f"{ret if ret is None else round(ret, 1)}", flush=True)

        return plain, lambda: None
    bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05,
               file=sys.stderr)

    def update(step: int, stats: dict) -> None:
        bar.update(step - bar.n)
        ret = stats.get("episode_return_mean")
        if ret is not None:
            bar.set_postfix(ret=f"{ret:.1f}", refresh=False)

    return update, bar.close


def cmd_train(args: argparse.Namespace, build_graph: BuildGraph, meta: dict) -> int:
    if args.keep_checkpoints < 0:
        raise RunnerError(f"--keep-checkpoints must be >= 0 (0 keeps every one), "
                          f"got {args.keep_checkpoints}")
    if getattr(args, "backend", "local") == "ray":
        from . import distributed

        return distributed.train(args, build_graph, meta)
    if any(getattr(args, k, None) for k in ("workers", "envs_per_worker", "address")):
        raise RunnerError("--workers, --envs-per-worker and --address need --backend ray")
    import torch

    from .checkpoints import Checkpointer, restore

    torch.set_num_threads(max(1, args.threads))
    seed_everything(args.seed)
    run_dir = Path(args.run_dir)
    _check_writable(run_dir)
    ctx = RunContext(command="train", seed=args.seed, max_steps=args.steps, run_dir=run_dir,
                     device=args.device,
                     options={"num_envs": args.num_envs, "vectorization": args.vectorization})
    if args.trace:
        from .trace import Tracer

        ctx.tracer = Tracer()
    graph = build_graph(ctx)
    ctx.checkpointer = Checkpointer(graph, meta, keep=args.keep_checkpoints)
    runner = GraphRunner(graph, debug_queues=args.debug_queues)
    runner.setup()
    if args.resume:
        from .checkpoints import load as load_checkpoint

        if not Path(args.resume).is_file():
            raise RunnerError(f"checkpoint to resume from, {args.resume}, does not exist")
        payload = load_checkpoint(args.resume)
        if payload.get("workflow_sha256") not in (None, meta.get("workflow_sha256")):
            raise RunnerError(f"{args.resume} was written by a different workflow")
        restore(graph, payload)
        print(f"resumed from {args.resume} at step {ctx.env_steps or ctx.opt_steps}")
    total = args.steps
    start_steps = ctx.env_steps if ctx.env_info else ctx.opt_steps
    ctx.progress, close_progress = _progress(
        total, not args.no_progress and sys.stderr.isatty(), initial=start_steps)
    t0 = time.perf_counter()
    reason = "error"
    try:
        reason = runner.run_loop()
    finally:
        _terminate_as_interrupt()  # asyncio put SIGTERM back to its default on the way out
        close_progress()
        elapsed = time.perf_counter() - t0
        if reason == "interrupted" and ctx.checkpointer is not None:
            path = ctx.interrupt_checkpoint  # a trainer wrote it where a resume is exact
            if path is None:
                with _signals_held():  # a second Ctrl-C must not cost the checkpoint
                    path = ctx.checkpointer.save("interrupted")
            print(f"interrupted: checkpoint written to {path}", file=sys.stderr)
        if args.trace:
            ctx.tracer.write(args.trace)
    steps = (ctx.env_steps if ctx.env_info else ctx.opt_steps) - start_steps
    summary = {
        "status": reason,
        "steps": ctx.env_steps if ctx.env_info else ctx.opt_steps,
        "seconds": round(elapsed, 2),
        "steps_per_second": round(steps / elapsed, 1) if elapsed > 0 else None,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in ctx.summary.items()},
        "run_dir": str(run_dir),
    }
    if meta.get("kind") == "rl" and reason == "done":
        if ctx.checkpointer.last_path is None:
            ctx.checkpointer.save("end")
        summary["checkpoint"] = str(ctx.checkpointer.last_path)
        if not getattr(args, "no_export_policy", False):
            report = _export(ctx.checkpointer.last_path, run_dir / "policy.pt", "torchscript",
                             meta)
            summary["policy"] = report["path"]
    elif reason == "done":
        summary["checkpoint"] = str(ctx.checkpointer.save("end"))
    for notice in ctx.notices:
        print(f"notice: {notice}", file=sys.stderr)
    if args.profile or args.trace:
        from .trace import stats_table

        print(stats_table(graph.nodes))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("summary: " + json.dumps(summary))
    return 130 if reason == "interrupted" else 0


class _signals_held:
    """Hold SIGINT and SIGTERM back while a checkpoint is written; they arrive afterwards."""

    SIGNALS = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self) -> None:
        self.old = None
        if hasattr(signal, "pthread_sigmask"):  # not on Windows
            self.old = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.old)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _terminate_as_interrupt() -> None:
    """SIGTERM outside the graph's own handler stops the runner like Ctrl-C (exit 130)."""
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        pass


def _one_line(exc: BaseException) -> str:
    """An error for the terminal: one line, control characters from workflow text escaped."""
    text = str(exc)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"0" * 65536)
        probe.unlink()
    except OSError as exc:
        raise RunnerError(f"run folder {run_dir} is not writable: {exc.strerror or exc}") from exc


def _resolve_checkpoint(args: argparse.Namespace) -> Path:
    from ..rl.checkpoint import latest_checkpoint

    path = args.checkpoint or latest_checkpoint(args.run_dir)
    if path is None:
        raise RunnerError(f"no checkpoint in {args.run_dir}: run `runner.py train` first, "
                          "or pass --checkpoint")
    if not Path(path).is_file():
        raise RunnerError(f"checkpoint {path} does not exist")
    return Path(path)


def load_policy(checkpoint: Path, meta: dict) -> tuple[Any, dict]:
    """The trained ActorCritic and the env info from a checkpoint."""
    from ..rl import ActorCritic
    from .checkpoints import load as load_checkpoint

    payload = load_checkpoint(checkpoint)
    agent_id = meta.get("agent_node")
    state = payload["nodes"].get(agent_id) if agent_id else None
    if state is None:
        state = next((s for s in payload["nodes"].values()
                      if isinstance(s, dict) and "policy_config" in s), None)
    if state is None:
        raise RunnerError(f"{checkpoint} holds no policy")
    policy = ActorCritic.from_config(state["policy_config"])
    policy.load_state_dict(state["policy"])
    policy.eval()
    return policy, {**payload.get("env_info", {}), "env_steps": payload.get("env_steps")}


def _act_fn(policy: Any) -> Callable:
    import numpy as np
    import torch

    def act(obs: Any) -> Any:
        with torch.no_grad():
            out = policy(torch.as_tensor(np.asarray(obs, dtype=np.float32)))
        return out.numpy()

    return act


def _deploy_module(policy: Any) -> Any:
    from ..rl import DeployPolicy

    return DeployPolicy(policy).eval()


def cmd_evaluate(args: argparse.Namespace, build_graph: BuildGraph, meta: dict) -> int:
    import torch

    from ..envs import evaluate_policy

    torch.set_num_threads(1)
    if args.policy:
        if not args.policy.is_file():
            raise RunnerError(f"policy file {args.policy} does not exist")
        from ..rl import load_exported

        module = load_exported(str(args.policy))
        info_path = args.policy.with_suffix(".json")
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        env = {"task": info.get("metadata", {}).get("task", meta.get("task")),
               "engine": info.get("metadata", {}).get("engine", meta.get("engine"))}
    else:
        policy, env = load_policy(_resolve_checkpoint(args), meta)
        module = _deploy_module(policy)
    engine = args.engine or env.get("engine") or meta.get("engine")
    task = env.get("task") or meta.get("task")
    result = evaluate_policy(_act_fn(module), task, engine, episodes=args.episodes,
                             seed=args.seed)
    out = {"mean_return": result["mean_return"], "std_return": result["std_return"],
           "episodes": result["episodes"], "task": task, "engine": engine,
           "returns": result.get("returns"), "lengths": result.get("lengths")}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{task} on {engine}: mean return {out['mean_return']:.2f} "
              f"± {out['std_return']:.2f} over {out['episodes']} episodes")
    return 0


def _export(checkpoint: Path, output: Path, fmt: str, meta: dict) -> dict:
    from ..rl import export_policy

    policy, env = load_policy(checkpoint, meta)
    dt = env.get("dt")
    metadata = {
        "task": env.get("task") or meta.get("task"),
        "engine": env.get("engine") or meta.get("engine"),
        "control_rate_hz": (1.0 / dt) if dt else None,
        "dt": dt,
        "training_step": env.get("env_steps"),
        "checkpoint": checkpoint.name,
        "workflow": meta.get("workflow"),
        "workflow_sha256": meta.get("workflow_sha256"),
    }
    report = export_policy(policy, output, fmt=fmt, metadata=metadata)
    report["path"] = str(output)
    return report


def cmd_export_policy(args: argparse.Namespace, build_graph: BuildGraph, meta: dict) -> int:
    suffix = {"torchscript": ".pt", "pt2": ".pt2", "onnx": ".onnx"}[args.format]
    output = args.output or Path("policy" + suffix)
    report = _export(_resolve_checkpoint(args), output, args.format, meta)
    worst = max((v for k, v in report.get("max_abs_diff", {}).items()), default=0.0)
    print(f"wrote {output} ({args.format}); parity max abs diff {worst:.2e}")
    return 0


def cmd_sim2sim(args: argparse.Namespace, build_graph: BuildGraph, meta: dict) -> int:
    from ..envs import format_table, sim_to_sim_table

    policy, env = load_policy(_resolve_checkpoint(args), meta)
    task = env.get("task") or meta.get("task")
    rows = sim_to_sim_table(_act_fn(_deploy_module(policy)), task, episodes=args.episodes,
                            seed=args.seed)
    print(json.dumps(rows) if args.json else format_table(rows))
    return 0


def cmd_record(args: argparse.Namespace, build_graph: BuildGraph, meta: dict) -> int:
    from ..envs import record_rollout

    policy, env = load_policy(_resolve_checkpoint(args), meta)
    engine = args.engine or env.get("engine") or meta.get("engine")
    path = record_rollout(_act_fn(_deploy_module(policy)), env.get("task") or meta.get("task"),
                          engine, args.output, steps=args.steps)
    if path is not None:
        print(f"wrote {path}")
    return 0


COMMANDS: dict[str, Callable[..., int]] = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "export-policy": cmd_export_policy,
    "sim2sim": cmd_sim2sim,
    "record": cmd_record,
}


def main(build_graph: BuildGraph, meta: dict, argv: list[str] | None = None) -> int:
    """Entry point of ``runner.py``; returns the exit code."""
    parser = build_parser(meta)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    command = COMMANDS.get(args.command)
    if command is None:
        command = next(c.run for c in _extra_commands() if c.name == args.command)
    _terminate_as_interrupt()
    try:
        return command(args, build_graph, meta)
    except KeyboardInterrupt:  # outside the graph loop (setup, resume, policy export)
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except NodeError as exc:
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (RunnerError, GraphError) as exc:
        if args.debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line for the user, --debug for the rest
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1
