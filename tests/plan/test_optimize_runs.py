"""Plain and optimized exports train to the same numbers (run as real subprocesses)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import regen_golden
import torch

from dnne_robot.pipeline import export

from .optimize_graphs import EVERY_LAYER, cartpole, regression, write

ROOT = Path(__file__).resolve().parents[2]
#: Steps per run: enough for several updates, short enough for the test suite.
STEPS = {"ml": 200, "rl": 512}
#: Summary fields that measure the machine, not the run.
TIMING = ("seconds", "steps_per_second", "run_dir", "checkpoint", "policy")


def start(export_dir: Path, steps: int, kind: str) -> subprocess.Popen:
    extra = ["--no-export-policy"] if kind == "rl" else []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen(
        [sys.executable, "runner.py", "train", "--steps", str(steps), "--seed", "0",
         "--run-dir", "run", "--no-progress", *extra],
        cwd=export_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, export_dir: Path) -> dict[str, Any]:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, f"{export_dir}:\n{out}\n{err}"
    return json.loads((export_dir / "run/summary.json").read_text())


def tensors(obj: Any, found: list[str]) -> list[str]:
    """A digest of every tensor in a checkpoint, wherever its node put it."""
    if isinstance(obj, torch.Tensor):
        data = obj.detach().cpu().contiguous()
        found.append(f"{tuple(data.shape)}:{data.dtype}:"
                     + hashlib.sha256(data.numpy().tobytes()).hexdigest())
    elif isinstance(obj, dict):
        for value in obj.values():
            tensors(value, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            tensors(value, found)
    return found


def checkpoint_digest(export_dir: Path) -> list[str]:
    """Every parameter, buffer, optimizer moment and RNG state, as a sorted multiset."""
    summary = json.loads((export_dir / "run/summary.json").read_text())
    payload = torch.load(summary["checkpoint"] if Path(summary["checkpoint"]).is_absolute()
                         else export_dir / summary["checkpoint"], weights_only=False)
    return sorted(tensors({"nodes": payload["nodes"], "rng": payload.get("rng")}, []))


def code(export_dir: Path) -> dict[str, str]:
    return {p.relative_to(export_dir).as_posix(): p.read_text()
            for p in sorted(export_dir.rglob("*.py"))}


def run_both(source: Path, tmp: Path, sim: str = "gymnasium") -> tuple[dict, dict]:
    plain, optimized = tmp / "plain", tmp / "optimized"
    checked = export(source, plain, sim=sim)
    export(source, optimized, sim=sim, optimize=True)
    assert checked.plan is not None
    if code(plain) == code(optimized):
        return {}, {}  # nothing to fuse: the same program, nothing to run
    kind = "rl" if any(n.spec.exporter == "robotics.sim_env" for n in checked.plan.nodes) \
        else "ml"
    procs = [start(d, STEPS[kind], kind) for d in (plain, optimized)]  # in parallel
    a, b = finish(procs[0], plain), finish(procs[1], optimized)
    for summary in (a, b):
        for key in TIMING:
            summary.pop(key, None)
    assert checkpoint_digest(plain) == checkpoint_digest(optimized)
    return a, b


@pytest.mark.parametrize("scenario", regen_golden.scenarios())
def test_scenario_trains_the_same_optimized(scenario: str, tmp_path: Path) -> None:
    """mlp_regression: the same final_loss after 200 steps; the RL graphs: the same returns
    and updates. The checkpoints hold the same tensors, bit for bit. A graph with nothing to
    fuse (cartpole_compact) must export the same code."""
    sim = regen_golden.optimized_sim(scenario)
    plain, optimized = run_both(ROOT / "scenarios" / scenario, tmp_path, sim)
    assert plain == optimized
    assert not plain or plain["status"] == "done"


def test_every_layer_kind_trains_the_same_fused(tmp_path: Path) -> None:
    """Dropout draws on every batch, so this also checks the order of random draws."""
    path = write(regression(EVERY_LAYER), tmp_path / "every.json")
    plain, optimized = run_both(path, tmp_path)
    assert plain["final_loss"] == optimized["final_loss"]


def test_a_mixed_chain_trains_the_same_inlined(tmp_path: Path) -> None:
    path = write(cartpole(reward_head=True), tmp_path / "head.json")
    plain, optimized = run_both(path, tmp_path)
    assert plain["updates"] == optimized["updates"] > 0
    assert plain == optimized
