"""PPO results benchmark: does the exported PPO learn, how fast, and how well.

Not part of CI. For every target it exports the scenario with ``dnne-robot export``, trains
the exported ``runner.py`` in a subprocess per seed (one torch thread), evaluates the final
checkpoint with ``runner.py evaluate --json --episodes 10`` (deterministic policy, episode
seeds 1000..1009), and records:

* ``steps``, ``wall_s`` (the train subprocess, start-up included), ``sps`` (the runner's own
  steps/s over its training loop);
* ``eval_return`` (mean of the 10 evaluation episodes);
* ``steps_to_threshold``: the first ``global_step`` in the run's ``metrics.csv`` at which
  ``episode_return_mean`` (the mean of the last 100 *training* episodes, stochastic policy)
  reached the target's threshold, or ``None``.

A seed passes when its evaluation return reaches the threshold. Results are merged into
``bench/results/ppo_results.json`` (by target, so ``--only`` refreshes one target) and the
table is rewritten into ``bench/results/ppo_results.md``.

Usage::

    python bench/ppo_results.py                       # every target, its default seeds
    python bench/ppo_results.py --only cartpole_pybullet --seeds 0,1,2
    python bench/ppo_results.py --quick               # a tiny smoke version, writes nothing

``run(quick)`` returns the results as a dict (``quick=True``: one seed, a few thousand steps,
nothing written).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "bench" / "results" / "ppo_results.json"
RESULTS_MD = ROOT / "bench" / "results" / "ppo_results.md"
EVAL_EPISODES = 10


@dataclass(frozen=True)
class Target:
    name: str
    title: str
    scenario: str  # relative to the repository root
    sim: str  # dnne-robot export --sim
    steps: int
    threshold: float | None  # None: report the return only
    seeds: tuple[int, ...] = (0, 1, 2)
    reference: str = ""
    quick_steps: int = 2048
    #: "return": a seed passes when its evaluation return reaches ``threshold``;
    #: "success_rate": when its evaluation success rate does (a task with ``is_success``).
    #: A success-rate target keeps every checkpoint and evaluates each (steps to threshold: the
    #: first checkpoint at the threshold), and runs ``sim2sim`` on the final one.
    metric: str = "return"
    eval_episodes: int = EVAL_EPISODES


TARGETS: tuple[Target, ...] = (
    Target(
        "cartpole_gymnasium",
        "CartPole-v1 (gymnasium)",
        "scenarios/cartpole_ppo.json",
        "gymnasium",
        100_000,
        475.0,
        reference="target: >= 475 within 100k steps, 3/3 seeds",
    ),
    Target(
        "cartpole_mujoco",
        "dnne CartPole on MuJoCo",
        "scenarios/cartpole_ppo.json",
        "mujoco",
        100_000,
        475.0,
        reference="target: >= 475 within 100k steps",
    ),
    Target(
        "cartpole_pybullet",
        "dnne CartPole on PyBullet (target_kl 0.02)",
        "scenarios/bench/cartpole_pybullet_ppo.json",
        "pybullet",
        100_000,
        475.0,
        reference="target: >= 475 within 100k steps",
    ),
    Target(
        "cartpole_pybullet_stock",
        "dnne CartPole on PyBullet, stock cartpole_ppo.json",
        "scenarios/cartpole_ppo.json",
        "pybullet",
        100_000,
        475.0,
        reference="the untuned settings, for comparison with the KL-stopped copy",
    ),
    Target(
        "inverted_pendulum",
        "InvertedPendulum-v5 (MuJoCo)",
        "scenarios/bench/inverted_pendulum_ppo.json",
        "gymnasium",
        300_000,
        950.0,
        reference="target: >= 950 within 300k steps",
    ),
    Target(
        "halfcheetah",
        "HalfCheetah-v5 (MuJoCo)",
        "scenarios/bench/halfcheetah_ppo.json",
        "gymnasium",
        1_000_000,
        None,
        seeds=(0,),
        reference="CleanRL ppo_continuous_action: ~1,440 at 1M steps",
        quick_steps=4096,
    ),
    Target(
        "hopper",
        "Hopper-v5 (MuJoCo), CleanRL settings",
        "scenarios/bench/hopper_ppo.json",
        "gymnasium",
        1_000_000,
        2383.0,
        reference="CleanRL ppo_continuous_action, Hopper-v4: 2,383 +- 272 at 1M steps (mean of "
        "the last 100 training episodes per seed, 3 seeds); target: eval mean >= 2,383",
        quick_steps=4096,
    ),
)
#: DNNE's own Cartpole_PPO.json, unchanged (from ../shared/dnne, not in this repository).
#: Its widgets imply 10,000 rollouts x 16 steps x 64 envs = 10.24M steps; 2M is enough to
#: show where it gets and keeps the benchmark to minutes.
DNNE_CARTPOLE = "../shared/dnne/workflows/Cartpole_PPO.json"
TARGETS += tuple(
    Target(
        f"dnne_cartpole_ppo_{sim}",
        f"DNNE's Cartpole_PPO.json, unchanged, on {sim}",
        DNNE_CARTPOLE,
        sim,
        2_000_000,
        475.0,
        reference="target: >= 475 within the 10.24M steps its widgets imply",
        quick_steps=4096,
    )
    for sim in ("gymnasium", "mujoco", "pybullet")
)
#: The project's Franka Panda reach (issue 15): success = the grip site within 5 cm of the
#: target at the episode's last step, over 50 evaluation episodes.
TARGETS += tuple(
    Target(
        f"franka_reach_{sim}",
        f"FrankaReach on {'MuJoCo' if sim == 'mujoco' else 'PyBullet'} (success rate)",
        "scenarios/franka_reach_ppo.json",
        sim,
        {"mujoco": 400_000, "pybullet": 600_000}[sim],
        0.95,
        reference="target: success rate >= 95% (within 5 cm at the episode's end), 3/3 seeds",
        quick_steps=2048,
        metric="success_rate",
        eval_episodes=50,
    )
    for sim in ("mujoco", "pybullet")
)
#: MuJoCo's seed 2 evaluated at 22% after 400k steps (seeds 0 and 1: 98%, 100%): the same
#: target with PyBullet's 600k budget.
TARGETS += (
    replace(TARGETS[-2], name="franka_reach_mujoco_600k",
            title="FrankaReach on MuJoCo, 600k steps (success rate)", steps=600_000),
)
BY_NAME = {t.name: t for t in TARGETS}


# --------------------------------------------------------------------------- subprocesses
def _env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _run(cmd: list[str], cwd: Path, log: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    log.write_text(
        f"$ {' '.join(cmd)}\n[rc {proc.returncode}]\n--- stdout\n{proc.stdout}"
        f"\n--- stderr\n{proc.stderr}"
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (rc {proc.returncode}); see {log}\n{proc.stderr[-2000:]}"
        )
    return proc


def export(target: Target, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "dnne_robot.cli.app",
        "export",
        str(ROOT / target.scenario),
        "--sim",
        target.sim,
        "-o",
        str(out),
        "--force",
        "-q",
    ]
    _run(cmd, ROOT, out.parent / f"{out.name}.export.log")


def first_crossing(metrics_csv: Path, threshold: float) -> int | None:
    """The first ``global_step`` whose ``episode_return_mean`` is >= ``threshold``."""
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            value = row.get("episode_return_mean") or ""
            try:
                ret = float(value)
            except ValueError:
                continue
            if not math.isnan(ret) and ret >= threshold:
                return int(float(row["global_step"]))
    return None


def train_and_evaluate(target: Target, package: Path, seed: int, steps: int) -> dict[str, Any]:
    run_dir = package / f"run_seed{seed}"
    t0 = time.perf_counter()
    _run(
        [
            sys.executable,
            "runner.py",
            "train",
            "--steps",
            str(steps),
            "--seed",
            str(seed),
            "--run-dir",
            run_dir.name,
            "--threads",
            "1",
            "--no-progress",
            *(["--keep-checkpoints", "0"] if target.metric == "success_rate" else []),
        ],
        package,
        package / f"train_seed{seed}.log",
    )
    wall = time.perf_counter() - t0
    summary = json.loads((run_dir / "summary.json").read_text())
    proc = _run(
        [
            sys.executable,
            "runner.py",
            "evaluate",
            "--run-dir",
            run_dir.name,
            "--episodes",
            str(target.eval_episodes),
            "--json",
        ],
        package,
        package / f"eval_seed{seed}.log",
    )
    ev = json.loads(proc.stdout.strip().splitlines()[-1])
    threshold = target.threshold
    extra: dict[str, Any] = {}
    if target.metric == "success_rate":
        curve = success_curve(target, package, run_dir, seed)
        crossing = next((c["step"] for c in curve if c["success_rate"] >= threshold), None)
        extra = {
            "eval_success_rate": ev["success_rate"],
            "success_curve": curve,
            "sim2sim": sim2sim(target, package, run_dir, seed),
        }
        passed: bool | None = ev["success_rate"] >= threshold
    else:
        crossing = (
            first_crossing(run_dir / "metrics.csv", threshold) if threshold is not None else None
        )
        passed = None if threshold is None else ev["mean_return"] >= threshold
    row = {
        "seed": seed,
        "steps": summary["steps"],
        "wall_s": round(wall, 1),
        "train_s": summary["seconds"],
        "sps": summary["steps_per_second"],
        "updates": summary.get("updates"),
        "train_return_recent": summary.get("recent_return"),
        "eval_return": round(ev["mean_return"], 2),
        "eval_std": round(ev["std_return"], 2),
        "eval_returns": [round(r, 2) for r in ev["returns"]],
        "steps_to_threshold": crossing,
        "passed": passed,
        "run_dir": str(run_dir),
        **extra,
    }
    mark = "" if row["passed"] is None else ("PASS" if row["passed"] else "FAIL")
    success = f"  success {ev['success_rate']:.0%}" if "success_rate" in ev else ""
    print(
        f"  seed {seed}: eval {row['eval_return']:.1f} +- {row['eval_std']:.1f}{success}  "
        f"threshold@{crossing}  {row['steps']} steps  {row['wall_s']} s  {row['sps']} sps  {mark}",
        flush=True,
    )
    return row


def success_curve(target: Target, package: Path, run_dir: Path, seed: int) -> list[dict]:
    """``runner.py evaluate --json`` on every checkpoint of the run, oldest first:
    ``[{"step", "success_rate", "mean_return"}]``."""
    curve = []
    for ckpt in sorted((run_dir / "checkpoints").glob("checkpoint_*.pt")):
        proc = _run(
            [sys.executable, "runner.py", "evaluate", "--checkpoint", str(ckpt), "--episodes",
             str(target.eval_episodes), "--json"],
            package,
            package / f"eval_seed{seed}_{ckpt.stem}.log",
        )
        ev = json.loads(proc.stdout.strip().splitlines()[-1])
        step = int(ckpt.stem.split("_")[-1])
        curve.append({"step": step, "success_rate": ev["success_rate"],
                      "mean_return": round(ev["mean_return"], 2)})
    return curve


def sim2sim(target: Target, package: Path, run_dir: Path, seed: int) -> list[dict]:
    """``runner.py sim2sim --json`` on the run's final checkpoint, one row per engine.

    A package carries its own engine's physics only, so each engine's row comes from a
    package exported for that engine (``<package>__<engine>``, exported once), given the
    checkpoint with ``--checkpoint``."""
    final = sorted((run_dir / "checkpoints").glob("checkpoint_*.pt"))[-1]
    keep = ("engine", "skipped", "mean_return", "std_return", "success_rate", "episodes")
    rows = []
    for engine in ("mujoco", "pybullet"):
        pkg = package if engine == target.sim else package.parent / f"{package.name}__{engine}"
        if not (pkg / "runner.py").is_file():
            export(replace(target, sim=engine), pkg)
        proc = _run(
            [sys.executable, "runner.py", "sim2sim", "--checkpoint", str(final.resolve()),
             "--episodes", str(target.eval_episodes), "--json"],
            pkg,
            package / f"sim2sim_seed{seed}_{engine}.log",
        )
        rows += [
            {k: r[k] for k in keep if k in r}
            for r in json.loads(proc.stdout.strip().splitlines()[-1])
            if r["engine"] == engine
        ]
    return rows


def code_revision() -> str:
    """HEAD's commit, plus ``+dirty`` when the exporter's code or templates have local edits."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "dnne_robot", "templates"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def run_target(target: Target, seeds: tuple[int, ...], steps: int, work: Path) -> dict[str, Any]:
    print(
        f"{target.name}: {target.scenario} --sim {target.sim}, {steps} steps, seeds "
        f"{','.join(map(str, seeds))}",
        flush=True,
    )
    package = work / target.name
    revision = code_revision()
    export(target, package)
    runs = [{**train_and_evaluate(target, package, s, steps), "code": revision} for s in seeds]
    return summarise(target, steps, runs, revision)


def summarise(target: Target, steps: int, runs: list[dict[str, Any]], revision: str) -> dict:
    """One target's entry in the results file, from its seeds' rows."""
    evals = [r["eval_return"] for r in runs]
    crossings = [r["steps_to_threshold"] for r in runs if r["steps_to_threshold"] is not None]
    return {
        "title": target.title,
        "scenario": target.scenario,
        "sim": target.sim,
        "steps": steps,
        "threshold": target.threshold,
        "reference": target.reference,
        "seeds": [r["seed"] for r in runs],
        "metric": target.metric,
        "passed": None if target.threshold is None else sum(bool(r["passed"]) for r in runs),
        "eval_return_mean": round(statistics.fmean(evals), 2),
        "eval_return_min": min(evals),
        "steps_to_threshold_max": max(crossings) if len(crossings) == len(runs) else None,
        "wall_s_mean": round(statistics.fmean(r["wall_s"] for r in runs), 1),
        "sps_mean": round(statistics.fmean(r["sps"] for r in runs), 1),
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "code": revision,
        "runs": runs,
    }


def merge_seeds(name: str, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` plus the seeds of ``old`` it did not run, when both trained the same budget
    (``--seeds 2`` adds seed 2 to a ``--seeds 0,1`` run); each run keeps its own ``code``."""
    if not old or old["steps"] != new["steps"] or name not in BY_NAME:
        return new
    ran = {r["seed"] for r in new["runs"]}
    runs = sorted([*new["runs"], *(r for r in old["runs"] if r["seed"] not in ran)],
                  key=lambda r: r["seed"])
    codes = sorted({r.get("code", old.get("code", "unknown")) for r in runs})
    return summarise(BY_NAME[name], new["steps"], runs, ", ".join(codes))


# --------------------------------------------------------------------------- machine + report
def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": 1,
        "platform": platform.platform(),
    }


def _fmt_steps(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _fmt_eval(run: dict[str, Any]) -> str:
    if "eval_success_rate" in run:
        return f"{run['eval_success_rate']:.0%} success ({run['eval_return']:.1f})"
    return f"{run['eval_return']:.1f}"


def markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    lines = [
        "# PPO results",
        "",
        "Written by `python bench/ppo_results.py`. Each seed: export the scenario, train "
        "`runner.py` for the step budget (one torch thread), then `runner.py evaluate --json "
        f"--episodes {EVAL_EPISODES}` on the final checkpoint (deterministic policy).",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"Python {m.get('python', '?')}, "
        f"torch {m.get('torch', '?')} (1 thread). Shared with other work: wall times are noisy.",
        "",
        "| target | budget | threshold | seeds passed | eval return per seed | "
        "steps to threshold per seed | wall s per seed | SPS (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in [t.name for t in TARGETS] + sorted(set(results.get("targets", {})) - set(BY_NAME)):
        r = results.get("targets", {}).get(name)
        if r is None:
            continue
        runs = r["runs"]
        thr = "-" if r["threshold"] is None else f"{r['threshold']:g}"
        passed = "-" if r["passed"] is None else f"{r['passed']}/{len(runs)}"
        lines.append(
            f"| {r['title']} | {r['steps']:,} | {thr} | {passed} | "
            + ", ".join(_fmt_eval(x) for x in runs)
            + " | "
            + ", ".join(_fmt_steps(x["steps_to_threshold"]) for x in runs)
            + " | "
            + ", ".join(f"{x['wall_s']:.0f}" for x in runs)
            + f" | {r['sps_mean']:,.0f} |"
        )
    lines += ["", "Scenarios and references:", ""]
    for r in results.get("targets", {}).values():
        lines.append(
            f"- **{r['title']}**: `{r['scenario']}` with `--sim {r['sim']}`, seeds "
            f"{','.join(map(str, r['seeds']))}; {r['reference']}; measured {r['measured']} "
            f"with code {r.get('code', 'unknown')}."
        )
    lines.append("")
    lines.append(
        "*Steps to threshold*: the first `global_step` in `metrics.csv` at which the mean "
        "return of the last 100 training episodes (stochastic policy) reached the "
        "threshold. For a success-rate target (threshold a fraction), the eval column is the "
        "success rate (the return in brackets) and steps to threshold is the first kept "
        "checkpoint whose evaluation success rate reached it."
    )
    s2s = [(r, x) for r in results.get("targets", {}).values() for x in r["runs"]
           if x.get("sim2sim")]
    if s2s:
        lines += ["", "Sim-to-sim (`runner.py sim2sim`, final checkpoint):", "",
                  "| trained on | seed | evaluated on | success rate | mean return |",
                  "|---|---|---|---|---|"]
        for r, x in s2s:
            for row in x["sim2sim"]:
                if row.get("skipped"):
                    continue
                rate = row.get("success_rate")
                lines.append(
                    f"| {r['sim']} | {x['seed']} | {row['engine']} | "
                    f"{'-' if rate is None else f'{rate:.0%}'} | {row['mean_return']:.1f} |"
                )
    return "\n".join(lines) + "\n"


def write(machine_info: dict[str, Any], name: str, result: dict[str, Any]) -> dict[str, Any]:
    """Merge one target's result into the results file (re-read now: other runs may have
    written theirs meanwhile) and rewrite the table."""
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine_info, "targets": {}}
    if RESULTS_JSON.exists():
        results["targets"] = json.loads(RESULTS_JSON.read_text()).get("targets", {})
    results["targets"][name] = merge_seeds(name, results["targets"].get(name), result)
    order = [t.name for t in TARGETS if t.name in results["targets"]]
    order += sorted(set(results["targets"]) - set(order))
    results["targets"] = {n: results["targets"][n] for n in order}
    tmp = RESULTS_JSON.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(RESULTS_JSON)
    RESULTS_MD.write_text(markdown(results))
    return results


def run(
    quick: bool = False,
    only: list[str] | None = None,
    seeds: tuple[int, ...] | None = None,
    work_dir: str | None = None,
    save: bool | None = None,
) -> dict[str, Any]:
    """Train and evaluate the targets; ``quick``: one seed, a few thousand steps, no files."""
    names = only or [t.name for t in TARGETS]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; known: {', '.join(BY_NAME)}")
    save = (not quick) if save is None else save
    work = Path(work_dir or tempfile.mkdtemp(prefix="ppo_results_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"packages and run dirs under {work}", flush=True)
    try:
        return _run_all(names, quick, seeds, work, save)
    finally:
        if quick and work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _run_all(
    names: list[str], quick: bool, seeds: tuple[int, ...] | None, work: Path, save: bool
) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "targets": {}}
    for name in names:
        target = BY_NAME[name]
        tseeds = seeds or target.seeds
        if quick:
            tseeds, steps = tseeds[:1], target.quick_steps
        else:
            steps = target.steps
        results["targets"][name] = run_target(target, tseeds, steps, work)
        if save:  # after every target, so a long run keeps what it finished
            merged = write(results["machine"], name, results["targets"][name])
            results["targets"] = merged["targets"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", choices=list(BY_NAME), help="run this target only (repeatable)"
    )
    parser.add_argument("--seeds", help="comma-separated seeds (default: the target's own)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run; writes nothing")
    parser.add_argument(
        "--work-dir", help="where the packages and run dirs go (default: a temp dir)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the .md from the .json; train nothing"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads(RESULTS_JSON.read_text())
        RESULTS_MD.write_text(markdown(results))
        print(markdown(results))
        return 0
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    results = run(args.quick, args.only, seeds, args.work_dir)
    if not args.quick:
        print(f"wrote {RESULTS_JSON.relative_to(ROOT)} and {RESULTS_MD.relative_to(ROOT)}")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
