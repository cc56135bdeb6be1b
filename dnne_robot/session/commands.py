"""The commands of an RL export's runner besides ``train``: evaluate, export-policy, sim2sim
and record. Each is a :class:`~.cli.Command`: its arguments and what it runs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..envs import evaluate_policy, format_table, record_rollout, sim_to_sim_table
from ..rl import file_sha256, load_exported
from .arguments import positive_int
from .errors import RunnerError
from .policy import deploy_module, export_checkpoint, load_policy
from .run_dirs import latest_run_dir, resolve_checkpoint

FORMAT_SUFFIX = {"torchscript": ".pt", "pt2": ".pt2", "onnx": ".onnx"}
#: Where each format goes without -o: a file, or for C a folder.
DEFAULT_OUTPUT = {**{fmt: "policy" + suffix for fmt, suffix in FORMAT_SUFFIX.items()},
                  "c": "policy_c"}


def act_fn(module: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Any], np.ndarray]:
    """A numpy observation -> numpy action function around a policy module."""

    def act(obs: Any) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(obs, dtype=np.float32)))
        return out.numpy()

    return act


def _checkpoint_options(parser: argparse.ArgumentParser, meta: dict[str, Any]) -> None:
    parser.add_argument("--checkpoint", type=Path,
                        help="checkpoint (default: the newest in --run-dir)")
    parser.add_argument("--run-dir", type=Path, default=latest_run_dir(meta),
                        help="the run whose newest checkpoint is used")


def _policy(args: argparse.Namespace, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    return load_policy(resolve_checkpoint(args.checkpoint, args.run_dir), meta)


def check_sha256(policy: Path, info: Any, info_path: Path) -> None:
    """Refuse an exported policy whose bytes differ from the sha256 its sidecar records (a
    policy without a sidecar, or a sidecar without a sha256, is loaded as it is)."""
    expected = info.get("sha256") if isinstance(info, dict) else None
    if expected is None:
        return
    actual = file_sha256(policy)
    if actual != expected:
        raise RunnerError(f"refusing {policy}: its sha256 is {actual[:16]}..., but "
                          f"{info_path.name} says {str(expected)[:16]}...: the file changed "
                          "after export-policy wrote it, or belongs to another export")


class Evaluate:
    name = "evaluate"

    def add_parser(self, sub: Any, meta: dict[str, Any]) -> None:
        p = sub.add_parser(self.name, help="run the deterministic policy and report returns")
        p.add_argument("--episodes", type=positive_int, default=10, help="episodes to run")
        _checkpoint_options(p, meta)
        p.add_argument("--policy", type=Path, help="an exported policy.pt instead")
        p.add_argument("--engine", help="evaluate on another engine (sim-to-sim)")
        p.add_argument("--seed", type=int, default=1000, help="the first episode's seed")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(self, args: argparse.Namespace, build_graph: Any, meta: dict[str, Any]) -> int:
        torch.set_num_threads(1)
        if args.policy:
            if not args.policy.is_file():
                raise RunnerError(f"policy file {args.policy} does not exist")
            info_path = args.policy.with_suffix(".json")
            info = json.loads(info_path.read_text()) if info_path.is_file() else {}
            check_sha256(args.policy, info, info_path)
            module = load_exported(str(args.policy))
            recorded = info.get("metadata", {})
            env = {"task": recorded.get("task", meta.get("task")),
                   "engine": recorded.get("engine", meta.get("engine"))}
        else:
            policy, env = _policy(args, meta)
            module = deploy_module(policy)
        engine = args.engine or env.get("engine") or meta.get("engine")
        task = env.get("task") or meta.get("task")
        result = evaluate_policy(act_fn(module), task, engine, episodes=args.episodes,
                                 seed=args.seed)
        out = {"mean_return": result["mean_return"], "std_return": result["std_return"],
               "episodes": result["episodes"], "task": task, "engine": engine,
               "returns": result.get("returns"), "lengths": result.get("lengths")}
        if "success_rate" in result:  # the task defines success (FrankaReach: within 5 cm)
            out["success_rate"] = result["success_rate"]
        if args.json:
            print(json.dumps(out))
        else:
            success = (f", success rate {out['success_rate']:.0%}"
                       if "success_rate" in out else "")
            print(f"{task} on {engine}: mean return {out['mean_return']:.2f} "
                  f"± {out['std_return']:.2f} over {out['episodes']} episodes{success}")
        return 0


class ExportPolicy:
    name = "export-policy"

    def after_training(self, checkpoint: Path, run_dir: Path,
                       meta: dict[str, Any]) -> dict[str, Any]:
        """At the end of ``train``: the run's ``policy.pt`` (TorchScript, parity-checked)."""
        report = export_checkpoint(checkpoint, run_dir / "policy.pt", "torchscript", meta)
        return {"policy": report["path"]}

    def add_parser(self, sub: Any, meta: dict[str, Any]) -> None:
        p = sub.add_parser(self.name, help="write the policy for the robot")
        _checkpoint_options(p, meta)
        p.add_argument("--format", choices=list(DEFAULT_OUTPUT), default="torchscript",
                       help="c: a C99 library (policy.h, policy.c, example_loop.c) in a folder")
        p.add_argument("-o", "--output", type=Path,
                       help="default: policy.pt (or .pt2 / .onnx; the folder policy_c for c)")

    def run(self, args: argparse.Namespace, build_graph: Any, meta: dict[str, Any]) -> int:
        output = args.output or Path(DEFAULT_OUTPUT[args.format])
        checkpoint = resolve_checkpoint(args.checkpoint, args.run_dir)
        report = export_checkpoint(checkpoint, output, args.format, meta)
        if args.format == "c":
            print(c_summary(output, checkpoint, report))
            return 0
        worst = max(report.get("max_abs_diff", {}).values(), default=0.0)
        print(f"wrote {output} ({args.format}) from {checkpoint}; "
              f"parity max abs diff {worst:.2e}")
        return 0


def c_summary(output: Path, checkpoint: Path, report: dict[str, Any]) -> str:
    """What ``export-policy --format c`` wrote and what its parity check found."""
    files = ", ".join([*report["files"], Path(report["metadata_path"]).name])
    parity = report["parity"]
    if not parity["checked"]:
        check = (f"parity check SKIPPED: {parity['reason']}; install one (Debian: apt install "
                 "gcc) or set CC, and export again to check the C against torch")
    else:
        rows = sum(parity["rows"].values())
        worst = max(report["max_abs_diff"].values(), default=0.0)
        check = (f"parity max abs diff {worst:.2e} over {rows} observations "
                 f"(non-finite ones give POLICY_ERR_NONFINITE_OBS), built with "
                 f"{parity['compiler']}")
        if parity.get("warnings"):
            check += f"; compiler warnings: {parity['warnings'].splitlines()[0]}"
    return f"wrote {output}/ (c: {files}) from {checkpoint}; {check}"


class SimToSim:
    name = "sim2sim"

    def add_parser(self, sub: Any, meta: dict[str, Any]) -> None:
        p = sub.add_parser(self.name, help="evaluate the policy on every engine with the task")
        _checkpoint_options(p, meta)
        p.add_argument("--episodes", type=positive_int, default=5,
                       help="episodes on each engine")
        p.add_argument("--seed", type=int, default=1000, help="the first episode's seed")
        p.add_argument("--json", action="store_true", help="print the table as JSON")

    def run(self, args: argparse.Namespace, build_graph: Any, meta: dict[str, Any]) -> int:
        policy, env = _policy(args, meta)
        task = env.get("task") or meta.get("task")
        rows = sim_to_sim_table(act_fn(deploy_module(policy)), task, episodes=args.episodes,
                                seed=args.seed)
        print(json.dumps(rows) if args.json else format_table(rows))
        return 0


class Record:
    name = "record"

    def add_parser(self, sub: Any, meta: dict[str, Any]) -> None:
        p = sub.add_parser(self.name, help="save a rollout as a GIF or MP4")
        _checkpoint_options(p, meta)
        p.add_argument("--engine", help="record on another engine than the trained one")
        p.add_argument("--steps", type=positive_int, default=200, help="steps to record")
        p.add_argument("-o", "--output", type=recording_path, default=Path("rollout.gif"),
                       help="the file: .gif, or .mp4 with imageio-ffmpeg")

    def run(self, args: argparse.Namespace, build_graph: Any, meta: dict[str, Any]) -> int:
        policy, env = _policy(args, meta)
        engine = args.engine or env.get("engine") or meta.get("engine")
        path = record_rollout(act_fn(deploy_module(policy)), env.get("task") or meta.get("task"),
                              engine, args.output, steps=args.steps)
        if path is not None:
            print(f"wrote {path}")
        return 0


def recording_path(text: str) -> Path:
    """An argparse type: a ``.gif`` or ``.mp4`` path (the formats ``record`` writes)."""
    path = Path(text)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: record writes .gif or .mp4 files, not {path.suffix or 'no suffix'}")
    return path


#: The commands an RL export's runner offers besides train, in help order.
POLICY_COMMANDS = (Evaluate(), ExportPolicy(), SimToSim(), Record())
