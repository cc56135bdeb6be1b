"""Export speed for generated graphs of 10 to 10,000 nodes, stage by stage.

The graphs are API prompts built in code: a regression data node, then LinearLayer and
Activation nodes as a *chain* (each feeds the next) or a *tree* (each feeds two), then a
trainer. Each is exported with ``pipeline.export`` (read, validate, plan, render, write) and,
for the chain, with ``--optimize`` too. The growth exponent ``k`` is the least-squares slope of
log(time) over log(nodes): 1 is linear, 2 quadratic.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (10, 100, 1_000, 10_000)
GOAL_1000_S = 2.0


def _layer(i: int, source: list) -> dict[str, Any]:
    if i % 2:
        return {"class_type": "LinearLayerNode", "_meta": {"title": f"Linear {i}"},
                "inputs": {"input": source, "output_size": 16, "bias": True,
                           "activation": "none", "dropout": 0.0}}
    return {"class_type": "ActivationNode", "_meta": {"title": f"Activation {i}"},
            "inputs": {"input": source, "activation": "tanh"}}


def graph(nodes: int, shape: str = "chain") -> dict[str, dict[str, Any]]:
    """An API prompt of ``nodes`` nodes: data, ``nodes - 2`` layers, trainer."""
    prompt: dict[str, dict[str, Any]] = {"1": {
        "class_type": "RegressionDataNode", "_meta": {"title": "Data"},
        "inputs": {"function": "sin", "input_dim": 4, "num_samples": 256, "batch_size": 32,
                   "noise": 0.05, "seed": 0}}}
    layers = max(1, nodes - 2)
    for i in range(2, layers + 2):
        # chain: node i takes node i-1; tree: node i takes node i//2 (a binary tree under 2).
        parent = (i - 1) if shape == "chain" or i == 2 else max(2, i // 2)
        prompt[str(i)] = _layer(i, [str(parent) if i > 2 else "1", 0])
    trainer = str(layers + 2)
    prompt[trainer] = {"class_type": "SupervisedTrainerNode", "_meta": {"title": "Trainer"},
                       "inputs": {"predictions": [str(layers + 1), 0], "targets": ["1", 1],
                                  "loss": "mse", "optimizer": "adam", "learning_rate": 0.01,
                                  "log_interval": 100}}
    prompt["1"]["inputs"]["trigger"] = [trainer, 1]  # step_done: the next batch
    return prompt


def time_export(path: Path, out: Path, optimize: bool = False) -> dict[str, float]:
    """Seconds per stage of one export, as ``pipeline.export`` runs them."""
    from dnne_robot.pipeline import _linked_widgets, widget_lookup
    from dnne_robot.plan import make_plan
    from dnne_robot.render.package import render, write_package
    from dnne_robot.validate import check_workflow
    from dnne_robot.workflow import load_workflow

    t = [time.perf_counter()]
    wf = load_workflow(path, widgets=widget_lookup)
    t.append(time.perf_counter())
    problems = check_workflow(wf)
    assert not any(p.severity == "error" for p in problems), problems[:3]
    t.append(time.perf_counter())
    plan = make_plan(wf, source_name=path.name, optimize=optimize)
    _linked_widgets(plan)
    if optimize:
        from dnne_robot.plan.optimize import optimize_plan

        optimize_plan(plan)
    t.append(time.perf_counter())
    pkg = render(plan)
    t.append(time.perf_counter())
    write_package(pkg, out, force=True)
    t.append(time.perf_counter())
    stages = ("read", "validate", "plan", "render", "write")
    row = {f"{s}_s": round(t[i + 1] - t[i], 4) for i, s in enumerate(stages)}
    row["total_s"] = round(t[-1] - t[0], 4)
    return row


def growth_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) over log(size)."""
    xs, ys = [math.log(n) for n in sizes], [math.log(max(s, 1e-9)) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)


VARIANTS = (("chain", False), ("tree", False), ("chain", True))


def run(quick: bool = False, max_nodes: int | None = None) -> dict[str, Any]:
    """Every size and variant; the best of 2 runs up to 1,000 nodes (1 run when ``quick``).

    ``quick`` exports 10,000 nodes for the plain chain only. ``max_nodes`` caps the sizes.
    """
    from dnne_robot.pipeline import export

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export(_write(root / "warmup.json", graph(10)), root / "warmup")  # imports, templates
        for shape, optimize in VARIANTS:
            for n in SIZES:
                if (max_nodes and n > max_nodes) or (quick and n > 1_000 and (shape, optimize)
                                                     != VARIANTS[0]):
                    continue
                path = _write(root / f"{shape}_{n}.json", graph(n, shape))
                repeats = 2 if n <= 1_000 and not quick else 1
                best = min((time_export(path, root / f"out_{shape}_{optimize}_{n}_{i}", optimize)
                            for i in range(repeats)), key=lambda r: r["total_s"])
                rows.append({"shape": shape, "optimize": optimize, "nodes": n, **best})
    fits = {}
    for shape, optimize in VARIANTS:
        mine = [r for r in rows if r["shape"] == shape and r["optimize"] == optimize
                and r["nodes"] >= 100]  # below 100 nodes, fixed costs dominate
        if len(mine) >= 2:
            key = f"{shape}{' --optimize' if optimize else ''}"
            fits[key] = round(growth_exponent([r["nodes"] for r in mine],
                                              [r["total_s"] for r in mine]), 3)
    at_1000 = max((r["total_s"] for r in rows if r["nodes"] == 1_000), default=None)
    return {"sizes": sorted({r["nodes"] for r in rows}), "rows": rows, "growth_exponent": fits,
            "goal": {"1000_nodes_s": GOAL_1000_S, "worst_1000_nodes_s": at_1000,
                     "met": at_1000 is not None and at_1000 < GOAL_1000_S
                     and max(fits.values(), default=9) < 1.2}}


def _write(path: Path, prompt: dict) -> Path:
    path.write_text(json.dumps(prompt))
    return path


def format_results(report: dict[str, Any]) -> str:
    lines = ["| graph | nodes | read | validate | plan | render | write | total (s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        name = r["shape"] + (" --optimize" if r["optimize"] else "")
        lines.append(f"| {name} | {r['nodes']:,} | {r['read_s']:.3f} | {r['validate_s']:.3f} | "
                     f"{r['plan_s']:.3f} | {r['render_s']:.3f} | {r['write_s']:.3f} | "
                     f"{r['total_s']:.3f} |")
    fits = ", ".join(f"{k}: **{v}**" for k, v in report["growth_exponent"].items()) or "n/a"
    goal = report["goal"]
    worst = goal["worst_1000_nodes_s"]
    lines += ["", f"Growth exponent k (time ∝ nodes^k, fitted from 100 nodes up): {fits}. "
              + (f"Slowest 1,000-node export: {worst:.2f} s (goal: under "
                 f"{goal['1000_nodes_s']:.0f} s and linear growth: "
                 f"{'met' if goal['met'] else 'NOT met'})." if worst is not None else "")]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_results(run(quick=True)))
