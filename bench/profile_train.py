"""Where a training step's time goes: the exported runner under cProfile, grouped by part.

Exports a scenario, runs ``runner.py train`` twice in a subprocess (one torch thread): once
plain for its steps/s, once under ``cProfile``. The profile's cumulative times are then
split into the parts of a PPO step: the simulator (and, inside it, MuJoCo's own ``mj_step``),
the observation normaliser, the policy's forward pass and sampling, rollout storage, episode
statistics, the end-of-rollout scoring and GAE, the PPO update (the gradient, the Adam step)
and, as the rest of the training loop, the graph runtime (asyncio queues, node calls).
cProfile slows Python code more than native code, so read the shares, not the seconds.

    python bench/profile_train.py                  # HalfCheetah-v5 and InvertedPendulum-v5
    python bench/profile_train.py --steps 10240 --num-envs 8
    python bench/profile_train.py --optimize       # the control loop fused into one node
    python bench/profile_train.py --optimize --wall   # wall-clock per part, no cProfile

``--wall`` times the same parts unprofiled: each part's method is wrapped with a clock
(a fraction of a microsecond a call), so the seconds are the loop's own; parts nest as listed.

Settings are the issue's: Gaussian head, 1 env, 2,048-step rollouts, 10 epochs, minibatch 64
(320 gradient steps per rollout), 64x64 tanh.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = {
    "HalfCheetah-v5": REPO / "scenarios/bench/halfcheetah_ppo.json",
    "InvertedPendulum-v5": REPO / "scenarios/bench/inverted_pendulum_ppo.json",
}
#: The issue's shape of an update, set on every scenario.
TRAINER = {"horizon_length": 2048, "num_epochs": 10, "minibatch_size": 64}

#: part -> (file suffix, function name) whose cumulative time it is. Listed parts nest as
#: the ``inside`` map says; the rest of the loop is the runtime.
PARTS: dict[str, tuple[str, str]] = {
    "simulator step (gymnasium env, vector env)": ("envs/vector.py", "step"),
    "  of which MuJoCo mj_step": ("~", "<built-in method mujoco._functions.mj_step>"),
    "observation normaliser update": ("rl/normalizer.py", "_update"),  # act calls it directly
    "policy forward + sampling": ("rl/policy.py", "act"),
    "rollout storage (buffer.add)": ("rl/buffer.py", "add"),
    "episode statistics": ("rl/metrics.py", "step"),
    "end of rollout: score + GAE": ("rl/trainer.py", "finish_rollout"),
    "PPO update (epochs of minibatches)": ("rl/ppo.py", "update"),
    "  of which the gradient": ("rl/ppo.py", "_gradient"),
    "  of which the Adam step": ("rl/ppo.py", "_optimizer_step"),
}
#: parts whose time another part's includes (subtracted from it in "own" shares).
INSIDE = {
    "observation normaliser update": "policy forward + sampling",
    "PPO update (epochs of minibatches)": "end of rollout: score + GAE",
}


#: part -> the export's ``module:Class.method`` that ``--wall`` clocks (indented: inside the
#: part above it).
WALL_PARTS: dict[str, str] = {
    "agent: policy act (normaliser, forward, sampling)": "framework.rl.policy:ActorCritic.act",
    "  of which the normaliser update": "framework.rl.normalizer:RunningMeanStd._update",
    "step node: SimHandle.step (conversions, episodes)": "framework.nodes.sim:SimHandle.step",
    "  of which the vector env step": "framework.envs.vector:SameStepVectorEnv.step",
    "trainer: record (storage, statistics, update)": "framework.rl.trainer:PPOTrainer.record",
    "  of which rollout storage (buffer.add)": "framework.rl.buffer:RolloutBuffer.add",
    "  of which episode statistics": "framework.rl.metrics:EpisodeTracker.step",
    "  of which end of rollout (score, GAE, update)":
        "framework.rl.trainer:PPOTrainer.finish_rollout",
    "    of which the PPO update": "framework.rl.ppo:PPO.update",
}

#: Run in the export's folder by ``--wall``: clocks WALL_PARTS around ``runner.py``.
WALL_DRIVER = Path(__file__).with_name("wall_driver.py")


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }


def _train(export_dir: Path, steps: int, num_envs: int, profile: Path | None) -> dict[str, Any]:
    prefix = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    run_dir = "run_profiled" if profile else "run_plain"
    return _run_train(export_dir, [*prefix, "runner.py"], run_dir, steps, num_envs)


def _run_train(export_dir: Path, command: list[str], run_dir: str, steps: int,
               num_envs: int) -> dict[str, Any]:
    """``command train ...`` in the export with the issue's trainer settings; its summary."""
    sets = [
        arg for key, value in TRAINER.items() for arg in ("--set", f"PPO Trainer.{key}={value}")
    ]
    proc = subprocess.run(
        [
            *command,
            "train",
            "--steps",
            str(steps),
            "--num-envs",
            str(num_envs),
            *sets,
            "--threads",
            "1",
            "--no-progress",
            "--no-export-policy",
            "--run-dir",
            run_dir,
            "--keep-checkpoints",
            "1",
        ],
        cwd=export_dir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=3_600,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads((export_dir / run_dir / "summary.json").read_text())


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    total = 0.0
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and (filename == suffix or filename.endswith(suffix)):
            total += row[3]
    return total


def profile(task: str, steps: int, num_envs: int, optimize: bool = False) -> dict[str, Any]:
    from dnne_robot.pipeline import export

    with tempfile.TemporaryDirectory() as tmp:
        export_dir = Path(tmp) / "export"
        export(SCENARIOS[task], export_dir, force=True, optimize=optimize)
        plain = _train(export_dir, steps, num_envs, None)
        prof_file = Path(tmp) / "train.prof"
        profiled = _train(export_dir, steps, num_envs, prof_file)
        stats = pstats.Stats(str(prof_file))
    loop = float(profiled["seconds"])
    seconds = {part: _cumulative(stats, *where) for part, where in PARTS.items()}
    own = dict(seconds)
    for inner, outer in INSIDE.items():
        own[outer] -= seconds[inner]
    counted = sum(v for k, v in own.items() if not k.startswith("  "))
    own["graph runtime and the rest of the loop"] = max(loop - counted, 0.0)
    return {
        "task": task,
        "optimize": optimize,
        "steps": steps,
        "num_envs": num_envs,
        "sps": plain["steps_per_second"],
        "loop_s": loop,
        "seconds": own,
    }


def wall(task: str, steps: int, num_envs: int, optimize: bool = False) -> dict[str, Any]:
    """Seconds per part of one unprofiled run (:data:`WALL_PARTS`), and the loop's total."""
    from dnne_robot.pipeline import export

    with tempfile.TemporaryDirectory() as tmp:
        export_dir = Path(tmp) / "export"
        export(SCENARIOS[task], export_dir, force=True, optimize=optimize)
        out = Path(tmp) / "wall.json"
        command = [sys.executable, str(WALL_DRIVER), str(out), json.dumps(WALL_PARTS)]
        summary = _run_train(export_dir, command, "run_wall", steps, num_envs)
        seconds = json.loads(out.read_text())
    loop = float(summary["seconds"])
    top = sum(v for k, v in seconds.items() if not k.startswith("  "))
    seconds["the rest of the loop (graph runtime, node code)"] = max(loop - top, 0.0)
    return {"task": task, "optimize": optimize, "steps": steps, "num_envs": num_envs,
            "sps": summary["steps_per_second"], "loop_s": loop, "seconds": seconds,
            "clock": "wall"}


def format_results(report: dict[str, Any]) -> str:
    lines = []
    for row in report["rows"]:
        clocked = row.get("clock") == "wall"
        timing = (f"{row['loop_s']:.2f} s of training loop, clocked per part" if clocked
                  else f"{row['loop_s']:.1f} s of training loop under cProfile")
        lines += [
            f"{row['task']}{' (export --optimize)' if row.get('optimize') else ''}, "
            f"{row['num_envs']} env(s), {row['steps']:,} steps: "
            f"{row['sps']:,.0f} steps/s unprofiled; {timing}",
            "",
            f"| part | s{'' if clocked else ' (cProfile)'} | share | µs per env step |",
            "|---|---:|---:|---:|",
        ]
        for part, value in row["seconds"].items():
            lines.append(
                f"| {part.replace('  ', '&nbsp;&nbsp;')} | {value:.2f} | "
                f"{value / row['loop_s']:.0%} | {1e6 * value / row['steps']:.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def run(quick: bool = False, steps: int | None = None, num_envs: int = 1,
        optimize: bool = False) -> dict[str, Any]:
    steps = steps or (4_096 if quick else 20_480)
    return {"rows": [profile(task, steps, num_envs, optimize) for task in SCENARIOS]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_480)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--optimize", action="store_true",
                        help="profile `export --optimize` (the control loop as one node)")
    parser.add_argument("--wall", action="store_true",
                        help="clock each part unprofiled instead of running cProfile")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.wall:
        rows = [wall(task, args.steps, args.num_envs, args.optimize) for task in SCENARIOS]
        print(format_results({"rows": rows}))
    else:
        print(format_results(run(steps=args.steps, num_envs=args.num_envs,
                                 optimize=args.optimize)))
