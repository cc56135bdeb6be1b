"""Ray backend: steps/s against the local backend, and a per-iteration cost model.

``python bench/ray_bench.py [--quick] [--no-write]``

* **Throughput.** The CartPole export trained with the local backend, with ``--backend ray
  --workers 1`` (the same batch of 8 envs x 32 steps per update) and ``--workers 2`` (twice
  the batch), same seed and step budget; steps/s of the training loop only (Ray's start-up is
  reported apart). Each configuration runs ``repeats`` times, interleaved; the best counts.
* **Cost model.** From the Ray runs' ``metrics.csv`` (medians over iterations, the first
  dropped): ``broadcast`` (``ray.put`` of the weights), ``fragment`` (one worker collecting
  T x M steps), ``gather`` (collection wall time beyond the slowest fragment, per worker:
  scheduling, transfer, deserialising) and ``update`` (buffer, GAE and ``PPO.update``, per
  transition). One iteration of N workers then costs about::

      t(N) = broadcast + fragment + gather * N + update * N * M * T

  with one CPU per worker; the prediction for 8, 32 and 128 workers says which term is the
  bottleneck.

The results replace the generated section of ``docs/scaling.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "scaling.md"
BEGIN, END = "<!-- ray_bench:begin -->", "<!-- ray_bench:end -->"
PREDICT = (1, 2, 8, 32, 128)
CONFIGS = {"local": (), "ray_1": ("--backend", "ray", "--workers", "1"),
           "ray_2": ("--backend", "ray", "--workers", "2")}


def _train(export_dir: Path, name: str, steps: int, extra: tuple[str, ...]) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "runner.py", "train", "--steps", str(steps), "--seed", "0",
         "--run-dir", name, "--no-progress", "--no-export-policy", "--threads", "1", *extra],
        cwd=export_dir, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-2000:]}")
    summary = json.loads((export_dir / name / "summary.json").read_text())
    with (export_dir / name / "metrics.csv").open(newline="") as f:
        summary["rows"] = list(csv.DictReader(f))
    return summary


def _median(rows: list[dict[str, str]], key: str) -> float:
    values = [float(r[key]) for r in rows[1:] or rows]  # the first iteration warms up
    return statistics.median(values)


def _phases(summary: dict[str, Any], batch: int) -> dict[str, float]:
    rows, workers = summary["rows"], summary["workers"]
    collect, worker = _median(rows, "collect_seconds"), _median(rows, "worker_seconds")
    return {
        "broadcast_ms": 1e3 * _median(rows, "broadcast_seconds"),
        "collect_ms": 1e3 * collect,
        "fragment_ms": 1e3 * worker,
        "gather_ms_per_worker": 1e3 * max(collect - worker, 0.0) / workers,
        "update_ms": 1e3 * _median(rows, "update_seconds"),
        "update_us_per_transition": 1e6 * _median(rows, "update_seconds") / batch,
    }


def cost_model(ray_1: dict[str, float], ray_2: dict[str, float], envs: int,
               horizon: int) -> dict[str, Any]:
    """Fit the four terms from the 1- and 2-worker runs; predict iterations of N workers."""
    broadcast = statistics.mean([ray_1["broadcast_ms"], ray_2["broadcast_ms"]])
    fragment = ray_1["fragment_ms"]  # one worker alone on its core
    gather = statistics.mean([ray_1["gather_ms_per_worker"], ray_2["gather_ms_per_worker"]])
    update = statistics.mean([ray_1["update_us_per_transition"],
                              ray_2["update_us_per_transition"]]) / 1e3  # ms per transition
    rows = []
    for n in PREDICT:
        batch = n * envs * horizon
        terms = {"broadcast": broadcast, "fragment": fragment, "gather": gather * n,
                 "update": update * batch}
        total = sum(terms.values())
        rows.append({"workers": n, "batch": batch, **{f"{k}_ms": round(v, 2)
                                                      for k, v in terms.items()},
                     "iteration_ms": round(total, 1),
                     "steps_per_s": round(1e3 * batch / total),
                     "bottleneck": max(terms, key=terms.get)})
    # Workers at which the serial update costs as much as one parallel fragment.
    crossover = fragment / (update * envs * horizon) if update > 0 else float("inf")
    return {"fit": {"broadcast_ms": round(broadcast, 3), "fragment_ms": round(fragment, 2),
                    "gather_ms_per_worker": round(gather, 3),
                    "update_us_per_transition": round(update * 1e3, 2)},
            "predicted": rows, "update_equals_fragment_at_workers": round(crossover, 2),
            "ceiling_steps_per_s": round(1.0 / (update / 1e3)) if update > 0 else None}


def run(quick: bool = False) -> dict[str, Any]:
    from dnne_robot.pipeline import export

    steps = 8_192 if quick else 40_960
    repeats = 1 if quick else 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cartpole"
        export(REPO / "scenarios" / "cartpole_ppo.json", out, sim="gymnasium", backend="ray")
        best: dict[str, dict[str, Any]] = {}
        for r in range(repeats):
            for name, extra in CONFIGS.items():
                got = _train(out, f"{name}_{r}", steps, extra)
                if name not in best or got["steps_per_second"] > best[name]["steps_per_second"]:
                    best[name] = got
        hparams = json.loads((out / "ray_1_0" / "hparams.json").read_text())["hparams"]
    horizon, envs = hparams["num_steps"], hparams["distributed"]["envs_per_worker"]
    throughput = {name: {"steps_per_s": s["steps_per_second"],
                         "startup_s": s.get("startup_seconds"),
                         "recent_return": s.get("recent_return")} for name, s in best.items()}
    phases = {name: _phases(best[name], horizon * envs * best[name]["workers"])
              for name in ("ray_1", "ray_2")}
    return {
        "machine": {"cpus": os.cpu_count(),
                    "load_average": [round(v, 2) for v in os.getloadavg()]},
        "steps": steps, "repeats": repeats, "horizon": horizon, "envs_per_worker": envs,
        "throughput": throughput,
        "phases": {k: {m: round(v, 3) for m, v in p.items()} for k, p in phases.items()},
        "model": cost_model(phases["ray_1"], phases["ray_2"], envs, horizon),
    }


def format_results(report: dict[str, Any]) -> str:
    t, model = report["throughput"], report["model"]
    fit = model["fit"]
    lines = [
        f"CartPole, {report['steps']:,} steps, seed 0, best of {report['repeats']}; "
        f"{report['machine']['cpus']} CPUs, load average {report['machine']['load_average']} "
        "at the end (other jobs share the machine when it is above the CPU count).", "",
        "| backend | steps/s (training loop) | Ray start-up (s) | return (last 20 episodes) |",
        "|---|---:|---:|---:|",
    ]
    labels = {"local": "local", "ray_1": "ray, 1 worker x 8 envs",
              "ray_2": "ray, 2 workers x 8 envs"}
    for name, label in labels.items():
        row = t[name]
        lines.append(f"| {label} | {row['steps_per_s']:,} | {row['startup_s'] or '-'} | "
                     f"{row['recent_return']} |")
    lines += ["", "Measured per iteration (medians):", "",
              "| run | broadcast (ms) | collect (ms) | slowest fragment (ms) | "
              "gather per worker (ms) | update (ms) | update per transition (µs) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("ray_1", "ray_2"):
        p = report["phases"][name]
        lines.append(f"| {labels[name]} | {p['broadcast_ms']} | {p['collect_ms']} | "
                     f"{p['fragment_ms']} | {p['gather_ms_per_worker']} | {p['update_ms']} | "
                     f"{p['update_us_per_transition']} |")
    lines += ["", f"Model: t(N) = {fit['broadcast_ms']} ms + {fit['fragment_ms']} ms + "
              f"{fit['gather_ms_per_worker']} ms x N + {fit['update_us_per_transition']} µs x "
              f"N x {report['envs_per_worker']} x {report['horizon']}", "",
              "| workers | batch | broadcast (ms) | fragment (ms) | gather (ms) | update (ms) | "
              "iteration (ms) | predicted steps/s | measured steps/s | bottleneck |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in model["predicted"]:
        measured = t.get(f"ray_{r['workers']}", {}).get("steps_per_s")
        lines.append(f"| {r['workers']} | {r['batch']:,} | {r['broadcast_ms']} | "
                     f"{r['fragment_ms']} | {r['gather_ms']} | {r['update_ms']} | "
                     f"{r['iteration_ms']} | {r['steps_per_s']:,} | "
                     f"{'-' if measured is None else f'{measured:,}'} | {r['bottleneck']} |")
    lines += ["", f"The serial update costs as much as one parallel fragment at "
              f"N = {model['update_equals_fragment_at_workers']} workers; past that the "
              f"learner is the bottleneck and throughput approaches "
              f"{model['ceiling_steps_per_s']:,} steps/s (1 / update cost per transition) "
              "however many workers there are."]
    return "\n".join(lines)


def write_doc(text: str, doc: Path = DOC) -> None:
    """Replace the generated section of docs/scaling.md."""
    current = doc.read_text()
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, one repeat")
    parser.add_argument("--no-write", action="store_true", help="leave docs/scaling.md alone")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    text = format_results(report)
    print(text)
    print(json.dumps(report, indent=2))
    if not args.no_write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
