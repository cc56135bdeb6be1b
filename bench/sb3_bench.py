"""Training against Stable-Baselines3 on three tasks, and the trainer's 1-to-2-core scaling.

For CartPole-v1, InvertedPendulum-v5 and HalfCheetah-v5, and each seed, the exported graph and
SB3 PPO train side by side (one process each, one torch thread each) with the same settings:

* CartPole-v1: ``scenarios/cartpole_ppo.api.json`` (SB3 zoo: 8 envs x 32 steps, minibatch
  256, 20 epochs, gamma 0.98, GAE lambda 0.8, lr 1e-3 annealed, clip 0.2, no observation
  normalisation);
* InvertedPendulum-v5 and HalfCheetah-v5: 1 env, 2,048-step rollouts, 10 epochs, minibatch 64
  (320 gradient steps per rollout), gamma 0.99, GAE lambda 0.95, lr 3e-4 annealed linearly,
  clip 0.2, no entropy bonus, grad norm 0.5, 64x64 tanh actor and critic, log std 0, and a
  running observation normaliser clipped at 10 (SB3: ``VecNormalize(norm_reward=False)``).

Both sides use the same value loss: SB3's is ``vf_coef * MSE`` with 0.5, the export's
``value_coef * 0.5 * MSE`` with 1.0; neither clips the value loss. Reported per task:

* steps/s of each (the runner's own training-loop rate; SB3's ``learn`` wall time) and the
  ratio of their sums over the seeds;
* the median over seeds of the steps until the mean return of the last 100 training
  episodes first reaches the task's target (checked after every rollout, on both sides), and
  the ratio of the medians (sample efficiency: below 1 is fewer steps than SB3);
* the median wall-clock to the target (steps to target / that run's steps/s, on both sides)
  and its ratio.

The export is made with ``export --optimize`` (the control loop run as one node, the same
numbers as the plain export; ``--plain`` for the plain one). Then the scaling: the export on
HalfCheetah-v5 with 8 envs (256-step rollouts, minibatch 256,
10 epochs) run alone, pinned with ``taskset`` to one core and then to two (``auto``
vectorization steps the sub-envs on threads when it has two cores); the ratio of the steps/s.

    python -m bench --only sb3 [--quick]       # quick: seed 0, short runs
    python bench/sb3_bench.py [--quick] [--seeds 0,1,2] [--only HalfCheetah-v5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SB3_INSTALL = "pip install stable-baselines3 --no-deps  (it needs torch, gymnasium, cloudpickle)"

#: The continuous tasks' trainer settings on the export side (node "PPO Trainer").
CONTINUOUS_TRAINER = {
    "horizon_length": 2048,
    "num_epochs": 10,
    "minibatch_size": 64,
    "max_grad_norm": 0.5,
    "value_coef": 1.0,
    "clip_vloss": False,
}
CONTINUOUS_SB3 = {
    "n_steps": 2048,
    "batch_size": 64,
    "n_epochs": 10,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "learning_rate": 3e-4,
    "clip_range": 0.2,
    "ent_coef": 0.0,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
}

TASKS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "scenario": "scenarios/cartpole_ppo.api.json",
        "sets": {},
        "num_envs": 8,
        "normalize_obs": False,
        "target": 475.0,
        "steps": {"quick": 50_000, "full": 100_000},
        "sb3": {
            "n_steps": 32,
            "batch_size": 256,
            "n_epochs": 20,
            "gamma": 0.98,
            "gae_lambda": 0.8,
            "learning_rate": 1e-3,
            "clip_range": 0.2,
            "ent_coef": 0.0,
            "vf_coef": 0.5,
            "max_grad_norm": 0.5,
        },
    },
    "InvertedPendulum-v5": {
        "scenario": "scenarios/bench/inverted_pendulum_ppo.json",
        "sets": {
            "InvertedPendulum Env.num_envs": 1,
            **{f"PPO Trainer.{k}": v for k, v in CONTINUOUS_TRAINER.items()},
        },
        "num_envs": 1,
        "normalize_obs": True,
        "target": 950.0,
        "steps": {"quick": 40_960, "full": 200_704},
        "sb3": CONTINUOUS_SB3,
    },
    "HalfCheetah-v5": {
        "scenario": "scenarios/bench/halfcheetah_ppo.json",
        "sets": {f"PPO Trainer.{k}": v for k, v in CONTINUOUS_TRAINER.items()},
        "num_envs": 1,
        "normalize_obs": True,
        "target": 1_000.0,
        "steps": {"quick": 20_480, "full": 301_056},
        "sb3": CONTINUOUS_SB3,
    },
}
SCALING = {
    "task": "HalfCheetah-v5",
    "num_envs": 8,
    "steps": {"quick": 16_384, "full": 65_536},
    "sets": {
        "PPO Trainer.horizon_length": 256,
        "PPO Trainer.minibatch_size": 256,
        "PPO Trainer.num_epochs": 10,
    },
}

SB3_SCRIPT = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

cfg = json.loads(sys.argv[1])
env = make_vec_env(cfg["env"], n_envs=cfg["num_envs"], seed=cfg["seed"])
if cfg["normalize_obs"]:
    env = VecNormalize(env, norm_obs=True, norm_reward=False, clip_obs=10.0, epsilon=1e-8)
kw = dict(cfg["sb3"])
lr = kw.pop("learning_rate")
model = PPO("MlpPolicy", env, learning_rate=lambda progress: lr * progress, seed=cfg["seed"],
            device="cpu", policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.Tanh},
            **kw)
curve = []

class Curve(BaseCallback):
    def _on_step(self):
        return True
    def _on_rollout_end(self):
        buf = self.model.ep_info_buffer
        if buf:
            curve.append((self.num_timesteps, float(np.mean([e["r"] for e in buf]))))

t0 = time.perf_counter()
model.learn(cfg["steps"], callback=Curve())
wall = time.perf_counter() - t0
print(json.dumps({"steps": model.num_timesteps, "wall_s": wall,
                  "sps": model.num_timesteps / wall, "curve": curve}))
"""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def _export(task: str, work: Path, optimize: bool = True) -> Path:
    from dnne_robot.pipeline import export

    export(REPO / TASKS[task]["scenario"], work / "export", force=True, optimize=optimize)
    return work / "export"


def _train_args(steps: int, seed: int, sets: dict[str, Any], run_dir: str) -> list[str]:
    """``runner.py train`` for a timing run: one torch thread, no progress lines, no policy
    export, no TensorBoard, the last checkpoint only, each of ``sets`` as a ``--set``."""
    quiet = ["--no-progress", "--no-export-policy", "--no-tensorboard", "--keep-checkpoints", "1"]
    args = [sys.executable, "runner.py", "train", f"--steps={steps}", f"--seed={seed}",
            f"--run-dir={run_dir}", "--threads=1", *quiet]  # fmt: skip
    for key, value in sets.items():
        args += ["--set", f"{key}={json.dumps(value) if isinstance(value, bool) else value}"]
    return args


def _export_result(export_dir: Path, run_dir: str) -> dict[str, Any]:
    summary = json.loads((export_dir / run_dir / "summary.json").read_text())
    with (export_dir / run_dir / "metrics.csv").open() as f:
        curve = [
            (int(row["global_step"]), float(row["episode_return_mean"]))
            for row in csv.DictReader(f)
            if row.get("episode_return_mean") not in ("", None)
        ]
    return {
        "steps": summary["steps"],
        "wall_s": summary["seconds"],
        "sps": summary["steps_per_second"],
        "curve": curve,
    }


def _to_target(result: dict[str, Any], target: float) -> dict[str, Any]:
    reached = next((step for step, ret in result["curve"] if ret >= target), None)
    result = {k: v for k, v in result.items() if k != "curve"}
    return {
        **result,
        "steps_to_target": reached,
        "s_to_target": None if reached is None else reached / result["sps"],
    }


def _run_pair(task: str, steps: int, seed: int, optimize: bool = True) -> dict[str, Any]:
    """The export and SB3 on one task and seed, side by side (one process each)."""
    spec = TASKS[task]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export_dir = _export(task, work, optimize)
        procs = {
            "export": subprocess.Popen(
                _train_args(steps, seed, spec["sets"], "run"),
                cwd=export_dir,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        }
        if sb3_available():
            script = work / "sb3_ppo.py"
            script.write_text(SB3_SCRIPT)
            cfg = {
                "env": task,
                "num_envs": spec["num_envs"],
                "seed": seed,
                "steps": steps,
                "normalize_obs": spec["normalize_obs"],
                "sb3": spec["sb3"],
            }
            procs["sb3"] = subprocess.Popen(
                [sys.executable, str(script), json.dumps(cfg)],
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        outputs = {name: p.communicate(timeout=7_200) for name, p in procs.items()}
        for name, p in procs.items():
            if p.returncode != 0:
                raise RuntimeError(
                    f"{task} seed {seed}: {name} failed:\n{outputs[name][1][-3000:]}"
                )
        raw = {"export": _export_result(export_dir, "run")}
        if "sb3" in outputs:
            raw["sb3"] = json.loads(outputs["sb3"][0].strip().splitlines()[-1])
    result: dict[str, Any] = {"seed": seed}
    for key, value in raw.items():
        final = value["curve"][-1][1] if value["curve"] else None
        result[key] = {**_to_target(value, spec["target"]), "final_return": final}
    return result


def _median(values: list[float | None]) -> float | None:
    """The median over seeds, counting a run that never reached the target as infinite."""
    if not values or sum(v is None for v in values) * 2 >= len(values):
        return None  # half or more never reached it: no finite median
    return statistics.median([v if v is not None else float("inf") for v in values])


def _summary(runs: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    rows = [r[key] for r in runs if key in r]
    if not rows:
        return None
    return {
        "sps": sum(r["steps"] for r in rows) / sum(r["wall_s"] for r in rows),
        "median_steps_to_target": _median([r["steps_to_target"] for r in rows]),
        "median_s_to_target": _median([r["s_to_target"] for r in rows]),
        "reached": sum(r["steps_to_target"] is not None for r in rows),
        "final_return_mean": statistics.mean(
            r["final_return"] for r in rows if r["final_return"] is not None
        )
        if any(r["final_return"] is not None for r in rows)
        else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 2)


def scaling(quick: bool, optimize: bool = True) -> dict[str, Any]:
    """The export's steps/s on HalfCheetah with 8 envs: pinned to one core (sync envs), then
    to two, with the sync and with the threaded vector env."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2 or shutil.which("taskset") is None:
        return {"skipped": "needs 2 cores and taskset"}
    steps = SCALING["steps"]["quick" if quick else "full"]
    sets = {"HalfCheetah Env.num_envs": SCALING["num_envs"], **SCALING["sets"]}
    out: dict[str, Any] = {"task": SCALING["task"], "num_envs": SCALING["num_envs"], "steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = _export(SCALING["task"], Path(tmp), optimize)
        for n, vectorization in ((1, "sync"), (2, "sync"), (2, "threads")):
            pin = ",".join(str(c) for c in cores[:n])
            run_dir = f"run_{n}core_{vectorization}"
            args = [*_train_args(steps, 0, sets, run_dir), "--vectorization", vectorization]
            proc = subprocess.run(["taskset", "-c", pin, *args], cwd=export_dir, env=_env(),
                                  capture_output=True, text=True, timeout=3_600)  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"scaling run on {n} core(s) failed:\n{proc.stderr[-3000:]}")
            out[f"sps_{n}core_{vectorization}"] = _export_result(export_dir, run_dir)["sps"]
    base = out["sps_1core_sync"]
    out["scaling_sync"] = _ratio(out["sps_2core_sync"], base)
    out["scaling_threads"] = _ratio(out["sps_2core_threads"], base)
    return out


#: (task, engine, sub-envs) rows of :func:`threads_table`.
THREADS_TABLE = (
    ("Humanoid-v5", "gymnasium", 8), ("Ant-v5", "gymnasium", 8), ("Hopper-v5", "gymnasium", 8),
    ("HalfCheetah-v5", "gymnasium", 8), ("InvertedPendulum-v5", "gymnasium", 8),
    ("FrankaReach", "mujoco", 8),
)  # fmt: skip


def threads_table(steps: int = 300) -> list[dict[str, Any]]:
    """Time per step of the ``SyncVectorEnv`` and the ``ThreadedVectorEnv`` (all cores), zero
    actions, interleaved twice, the faster of each kept; the env alone, no policy."""
    import numpy as np

    from dnne_robot.envs import make_env

    rows = []
    for task, engine, n in THREADS_TABLE:
        times: dict[str, list[float]] = {"sync": [], "threads": []}
        for _ in range(2):
            for kind in times:
                vec = make_env(task, engine, num_envs=n, seed=0, vectorization=kind)
                vec.reset()
                zeros = np.zeros((n, vec.single_action_space.shape[0]), dtype=np.float32)
                for _ in range(20):
                    vec.step(zeros)
                t0 = time.perf_counter()
                for _ in range(steps):
                    vec.step(zeros)
                times[kind].append((time.perf_counter() - t0) / steps)
                vec.close()
        sync, threads = min(times["sync"]), min(times["threads"])
        rows.append({"task": task, "engine": engine, "num_envs": n, "sync_us": 1e6 * sync,
                     "threads_us": 1e6 * threads, "ratio": round(threads / sync, 2)})  # fmt: skip
    return rows


def run(
    quick: bool = False,
    seeds: tuple[int, ...] | None = None,
    only: tuple[str, ...] | None = None,
    with_scaling: bool = True,
    optimize: bool = True,
) -> dict[str, Any]:
    seeds = seeds if seeds is not None else ((0,) if quick else (0, 1, 2))
    report: dict[str, Any] = {"quick": quick, "seeds": list(seeds), "tasks": {},
                              "optimize": optimize}
    if not sb3_available():
        print(f"stable-baselines3 is not installed; skipping its side ({SB3_INSTALL})")
        report["sb3_missing"] = SB3_INSTALL
    for task in only or tuple(TASKS):
        spec = TASKS[task]
        steps = spec["steps"]["quick" if quick else "full"]
        t0 = time.perf_counter()
        runs = [_run_pair(task, steps, seed, optimize) for seed in seeds]
        entry: dict[str, Any] = {
            "steps": steps,
            "target": spec["target"],
            "runs": runs,
            "export": _summary(runs, "export"),
            "sb3": _summary(runs, "sb3"),
        }
        if entry["sb3"]:
            a, b = entry["export"], entry["sb3"]
            entry["sps_ratio"] = _ratio(a["sps"], b["sps"])
            entry["steps_to_target_ratio"] = _ratio(
                a["median_steps_to_target"], b["median_steps_to_target"]
            )
            entry["s_to_target_ratio"] = _ratio(a["median_s_to_target"], b["median_s_to_target"])
        entry["bench_seconds"] = round(time.perf_counter() - t0, 1)
        report["tasks"][task] = entry
        print(
            f"[sb3] {task}: steps/s ratio {entry.get('sps_ratio')}, steps to target ratio "
            f"{entry.get('steps_to_target_ratio')} ({entry['bench_seconds']} s)",
            flush=True,
        )
    if with_scaling:
        report["scaling"] = scaling(quick, optimize)
        report["threads_table"] = threads_table(100 if quick else 300)
    return report


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio}x"


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def format_results(report: dict[str, Any]) -> str:
    seeds = ", ".join(map(str, report["seeds"]))
    how = "`export --optimize`" if report.get("optimize", True) else "a plain export"
    lines = [
        f"Seeds {seeds}; each seed's export ({how}) and SB3 run side by side, one process "
        "and one torch thread each. Target: the mean return of the last 100 training "
        "episodes, checked after every rollout.",
        "",
    ]
    lines += [
        "| task | steps | trainer | steps/s | runs at target | median steps to target "
        "| median s to target | mean final return |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for task, entry in report["tasks"].items():
        for key, name in (("export", "export"), ("sb3", "SB3")):
            row = entry.get(key)
            if not row:
                continue
            lines.append(
                f"| {task} (target {entry['target']:g}) | {entry['steps']:,} | {name} | "
                f"{row['sps']:,.0f} | {row['reached']}/{len(entry['runs'])} | "
                f"{_num(row['median_steps_to_target'])} | "
                f"{_num(row['median_s_to_target'], '.1f')} | "
                f"{_num(row['final_return_mean'], '.1f')} |"
            )
    lines += [
        "",
        "| task | steps/s, export / SB3 | median steps to target, export / SB3 | "
        "median wall-clock to target, export / SB3 |",
        "|---|---:|---:|---:|",
    ]
    for task, entry in report["tasks"].items():
        ratios = [
            _times(entry.get(k))
            for k in ("sps_ratio", "steps_to_target_ratio", "s_to_target_ratio")
        ]
        lines.append(f"| {task} | **{ratios[0]}** | {ratios[1]} | {ratios[2]} |")
    if "sb3_missing" in report:
        lines += ["", f"SB3 skipped: {report['sb3_missing']}"]
    sc = report.get("scaling")
    if sc and "skipped" not in sc:
        lines += ["", f"Scaling, the export alone on {sc['task']} with {sc['num_envs']} envs, "
                  f"{sc['steps']:,} steps: {sc['sps_1core_sync']:,.0f} steps/s on 1 core; on 2, "
                  f"{sc['sps_2core_sync']:,.0f} with sync envs (**{sc['scaling_sync']}x**) and "
                  f"{sc['sps_2core_threads']:,.0f} with threaded envs "
                  f"(**{sc['scaling_threads']}x**)."]  # fmt: skip
    elif sc:
        lines += ["", f"Scaling skipped: {sc['skipped']}."]
    if report.get("threads_table"):
        lines += ["", "| env (zero actions, no policy) | sub-envs | sync µs/step | threads µs/step "
                  "| threads / sync |", "|---|---:|---:|---:|---:|"]  # fmt: skip
        for row in report["threads_table"]:
            lines.append(
                f"| {row['task']} ({row['engine']}) | {row['num_envs']} | "
                f"{row['sync_us']:,.0f} | {row['threads_us']:,.0f} | {row['ratio']}x |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", help="comma-separated seeds (default: 0,1,2; quick: 0)")
    parser.add_argument("--only", help=f"comma-separated tasks of {', '.join(TASKS)}")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--plain", action="store_true",
                        help="export without --optimize (the control loop as separate nodes)")
    parser.add_argument(
        "--scaling-only",
        action="store_true",
        help="only the 1-to-2-core runs and the threads table (run it alone)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.scaling_only:
        report = {
            "quick": args.quick,
            "seeds": [],
            "tasks": {},
            "scaling": scaling(args.quick, not args.plain),
            "threads_table": threads_table(100 if args.quick else 300),
        }
        print(format_results(report))
        sys.exit(0)
    t0 = time.perf_counter()
    result = run(
        args.quick,
        tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None,
        tuple(args.only.split(",")) if args.only else None,
        not args.no_scaling,
        not args.plain,
    )
    print(format_results(result))
    print(f"({time.perf_counter() - t0:.0f} s)")
