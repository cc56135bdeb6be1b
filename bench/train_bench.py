"""Training speed: the exported cartpole_ppo graph against Stable-Baselines3 PPO.

The graph is exported with ``--optimize`` (its control loop run as one node: the same numbers
as the plain export, fewer queue hops). Both train CartPole-v1 with the same hyperparameters
(8 envs, 32 steps per env per rollout, minibatch 256, 20 epochs, gamma 0.98, GAE lambda
0.8, learning rate 1e-3 annealed linearly to 0, clip 0.2, no entropy bonus, grad norm 0.5,
64x64 tanh networks, one torch thread), at the same time, one process each on its own core.
The value loss is the same too: SB3's is ``vf_coef * MSE`` with the zoo's ``vf_coef=0.5``;
the export's (CleanRL's) is ``value_coef * 0.5 * MSE``, and the scenario sets
``value_coef=1.0``. Reported:

* steps/s of each (the exported runner's own training-loop rate; SB3's ``learn`` wall time),
  and their ratio;
* wall-clock to the first snapshot whose deterministic evaluation (10 episodes, seeds
  1000..1009) reaches 475: snapshots every 2,048 steps, evaluation time not counted. The
  export's snapshot times are its checkpoint files' modification times.

Without ``quick``: seeds 0-9, 100,000 steps each, every snapshot evaluated, and the medians of
the first solved snapshot's steps and wall-clock compared (sample efficiency and time to
solve). ``quick`` trains seed 0 for 50,000 steps each and evaluates the last snapshot only.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOLVED = 475.0
SNAPSHOT_STEPS = 2_048  # 8 updates of 8 envs x 32 steps
SB3_INSTALL = "pip install stable-baselines3 --no-deps  (it needs torch, gymnasium, cloudpickle)"

SB3_SCRIPT = '''
import json, sys, time, copy
import numpy as np, torch
torch.set_num_threads(1)
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
import gymnasium as gym

steps, every, quick = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
seed = int(sys.argv[4])
env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98,
            gae_lambda=0.8, learning_rate=lambda progress: 1e-3 * progress, clip_range=0.2,
            ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, seed=seed, device="cpu",
            policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.Tanh})
snapshots = []

class Snapshot(BaseCallback):
    def _on_step(self):
        if self.num_timesteps // every > len(snapshots):
            snapshots.append((self.num_timesteps, time.perf_counter() - t0,
                              copy.deepcopy(self.model.policy.state_dict())))
        return True

t0 = time.perf_counter()
model.learn(steps, callback=Snapshot())
wall = time.perf_counter() - t0
snapshots.append((model.num_timesteps, wall, copy.deepcopy(model.policy.state_dict())))

def evaluate():
    returns = []
    for k in range(10):
        e = gym.make("CartPole-v1")
        obs, _ = e.reset(seed=1000 + k)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = e.step(int(action))
            total += r
            done = term or trunc
        returns.append(total)
    return float(np.mean(returns))

solved, final = None, None
for step, t, state in (snapshots[-1:] if quick else snapshots):
    model.policy.load_state_dict(state)
    final = evaluate()
    if final >= 475 and solved is None:
        solved = {"step": step, "wall_s": round(t, 1), "return": final}
        break
model.policy.load_state_dict(snapshots[-1][2])
print(json.dumps({"steps": model.num_timesteps, "wall_s": wall, "sps": model.num_timesteps / wall,
                  "final_eval": evaluate(), "solved": solved}))
'''


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore"}


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def _export(work: Path) -> Path:
    """cartpole_ppo, checkpointing every SNAPSHOT_STEPS (the only change to the scenario)."""
    from dnne_robot.pipeline import export

    prompt = json.loads((REPO / "scenarios/cartpole_ppo.api.json").read_text())
    trainer = next(n for n in prompt.values() if n["class_type"] == "PPOTrainerNode")
    trainer["inputs"]["checkpoint_trigger_type"] = "epoch"
    trainer["inputs"]["checkpoint_trigger_value"] = str(SNAPSHOT_STEPS // (8 * 32))
    source = work / "cartpole_ppo.api.json"
    source.write_text(json.dumps(prompt))
    export(source, work / "export", force=True, optimize=True)
    return work / "export"


def _evaluate_export(export_dir: Path, steps: int, quick: bool) -> dict[str, Any]:
    from dnne_robot.envs import evaluate_policy
    from dnne_robot.session.commands import act_fn
    from dnne_robot.session.policy import deploy_module, load_policy

    summary = json.loads((export_dir / "run/summary.json").read_text())
    ckpts = sorted((export_dir / "run/checkpoints").glob("checkpoint_*.pt"))
    end = max(p.stat().st_mtime for p in ckpts)
    start = end - summary["seconds"]

    def mean_return(path: Path) -> float:
        policy, _ = load_policy(path, {})
        result = evaluate_policy(act_fn(deploy_module(policy)), "Cartpole", "gymnasium",
                                 episodes=10, seed=1000)
        return float(result["mean_return"])

    solved = None
    for path in ckpts[-1:] if quick else ckpts:
        value = mean_return(path)
        if value >= SOLVED:
            step = int(re.search(r"(\d+)", path.stem).group(1))
            solved = {"step": step, "wall_s": round(path.stat().st_mtime - start, 1),
                      "return": value}
            break
    return {"steps": summary["steps"], "wall_s": summary["seconds"],
            "sps": summary["steps_per_second"], "final_eval": mean_return(ckpts[-1]),
            "solved": solved}


def _run_pair(work: Path, steps: int, seed: int, quick: bool) -> dict[str, Any]:
    """The export and SB3 with one seed, side by side (one process each)."""
    export_dir = _export(work)
    procs = {"export": subprocess.Popen(
        [sys.executable, "runner.py", "train", "--steps", str(steps), "--seed", str(seed),
         "--run-dir", "run", "--no-progress", "--no-export-policy", "--threads", "1",
         "--keep-checkpoints", "0"],
        cwd=export_dir, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)}
    if sb3_available():
        script = work / "sb3_ppo.py"
        script.write_text(SB3_SCRIPT)
        procs["sb3"] = subprocess.Popen(
            [sys.executable, str(script), str(steps), str(SNAPSHOT_STEPS),
             "1" if quick else "0", str(seed)], env=_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
    outputs = {name: p.communicate(timeout=3_600) for name, p in procs.items()}
    for name, p in procs.items():
        if p.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{outputs[name][1][-3000:]}")
    result = {"seed": seed, "export": _evaluate_export(export_dir, steps, quick)}
    if "sb3" in outputs:
        result["sb3"] = json.loads(outputs["sb3"][0].strip().splitlines()[-1])
    return result


def run(quick: bool = False) -> dict[str, Any]:
    steps = 50_000 if quick else 100_000
    seeds = (0,) if quick else tuple(range(10))
    report: dict[str, Any] = {"task": "CartPole-v1", "steps": steps, "solved_at": SOLVED,
                              "seeds": list(seeds), "quick": quick}
    if not sb3_available():
        print(f"stable-baselines3 is not installed; skipping its row ({SB3_INSTALL})")
        report["sb3_missing"] = SB3_INSTALL
    runs = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_run_pair(Path(tmp), steps, seed, quick))
    report["runs"] = runs
    for key in ("export", "sb3"):
        rows = [r[key] for r in runs if key in r]
        if not rows:
            continue
        solved = [r["solved"] for r in rows if r["solved"]]
        report[key] = {
            "sps": sum(r["steps"] for r in rows) / sum(r["wall_s"] for r in rows),
            "final_eval": statistics.mean(r["final_eval"] for r in rows),
            "solved_runs": len(solved),
            "median_solve_steps": statistics.median(s["step"] for s in solved) if solved else None,
            "median_solve_s": statistics.median(s["wall_s"] for s in solved) if solved else None,
        }
    if "sb3" in report:
        a, b = report["export"], report["sb3"]
        report["sps_ratio"] = round(a["sps"] / b["sps"], 2)
        if a["median_solve_s"] and b["median_solve_s"]:
            report["solve_time_ratio"] = round(a["median_solve_s"] / b["median_solve_s"], 2)
            report["solve_steps_ratio"] = round(
                a["median_solve_steps"] / b["median_solve_steps"], 2)
    return report


def format_results(report: dict[str, Any]) -> str:
    seeds = report["seeds"]
    lines = [f"{report['task']}, {report['steps']:,} steps per run, seeds "
             f"{', '.join(map(str, seeds))}; each seed's two runs side by side, one process "
             "each:", ""]
    if report["quick"]:
        lines += ["(quick: one seed, and only the last snapshot is evaluated, so the solve "
                  "columns say whether the run ended solved, not when it first was.)", ""]
    lines += ["| trainer | seed | steps/s | final eval return | first eval ≥ 475: s (steps) |",
              "|---|---:|---:|---:|---:|"]
    for r in report["runs"]:
        for key, name in (("export", "exported cartpole_ppo graph"), ("sb3", "SB3 PPO")):
            if key not in r:
                continue
            row = r[key]
            solved = row["solved"]
            when = f"{solved['wall_s']} s ({solved['step']:,})" if solved else "not reached"
            lines.append(f"| {name} | {r['seed']} | {row['sps']:,.0f} | "
                         f"{row['final_eval']:.1f} | {when} |")
    if "sb3_missing" in report:
        lines.append(f"| SB3 PPO | | skipped: {report['sb3_missing']} | | |")
    lines += ["", "| trainer | steps/s (all seeds) | mean final eval | runs solved | "
              "median first solve: steps | median first solve: s |",
              "|---|---:|---:|---:|---:|---:|"]
    for key, name in (("export", "exported cartpole_ppo graph"), ("sb3", "SB3 PPO")):
        if key not in report:
            continue
        a = report[key]
        steps = f"{a['median_solve_steps']:,.0f}" if a["median_solve_steps"] else "-"
        secs = f"{a['median_solve_s']:.1f}" if a["median_solve_s"] else "-"
        lines.append(f"| {name} | {a['sps']:,.0f} | {a['final_eval']:.1f} | "
                     f"{a['solved_runs']}/{len(seeds)} | {steps} | {secs} |")
    if "sps_ratio" in report:
        text = f"Steps/s, export / SB3: **{report['sps_ratio']}x**."
        if report.get("solve_time_ratio"):
            text += (f" Median steps to the first solved snapshot, export / SB3: "
                     f"**{report['solve_steps_ratio']}x**; median wall-clock to it: "
                     f"**{report['solve_time_ratio']}x**.")
        lines += ["", text]
    return "\n".join(lines)


if __name__ == "__main__":
    t0 = time.perf_counter()
    print(format_results(run(quick="--full" not in sys.argv)))
    print(f"({time.perf_counter() - t0:.0f} s)")
