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

from .optimize_graphs import EVERY_LAYER, cartpole, mixed_chain, node, regression, write

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


def test_a_loop_read_from_outside_trains_the_same(tmp_path: Path) -> None:
    """A tracker outside the fused loop reads the step's done and the trainer's loss: the
    loop emits them after each iteration, and the run is the same as unfused."""
    prompt = cartpole()
    prompt["8"] = node("SimulationTracker", "Tracker", max_episodes=100_000,
                       success_threshold=0.95, telemetry_interval="100_steps",
                       telemetry_level="off", step_done=["5", 2], loss=["7", 0])
    plain, optimized = run_both(write(prompt, tmp_path / "tracked.json"), tmp_path)
    assert plain["updates"] == optimized["updates"] > 0
    assert plain == optimized


def test_a_layer_after_another_node_keeps_its_state(tmp_path: Path) -> None:
    """Linear -> reward -> Linear -> Linear: every layer's parameters are in the optimized
    export's checkpoint, as in the plain one's (run_both compares every tensor)."""
    plain, optimized = run_both(write(mixed_chain(), tmp_path / "mixed.json"), tmp_path)
    assert plain and plain == optimized


@pytest.mark.parametrize("optimize", [False, True])
def test_an_error_in_a_loop_member_names_the_member(optimize: bool, tmp_path: Path) -> None:
    """The agent refuses its network in setup: fused or not, the error names node #3."""
    export(write(cartpole(), tmp_path / "cartpole.json"), tmp_path / "export", optimize=optimize)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "runner.py", "train", "--steps", "64", "--max-param-memory", "1KB",
         "--no-progress"], cwd=tmp_path / "export", env=env, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode != 0
    assert "node #3 'Agent'" in proc.stderr and "loop" not in proc.stderr
    assert "Traceback" not in proc.stderr


def _resume(export_dir: Path, run_dir: str, steps: int, checkpoint: Path | None) -> Path:
    extra = ["--resume", str(checkpoint)] if checkpoint is not None else []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "runner.py", "train", "--steps", str(steps), "--seed", "0",
         "--run-dir", run_dir, "--no-progress", "--no-export-policy", *extra],
        cwd=export_dir, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((export_dir / run_dir / "summary.json").read_text())
    return export_dir / summary["checkpoint"]


def test_a_fused_loop_checkpoint_resumes_exactly_fused_or_not(tmp_path: Path) -> None:
    """The loop's members keep their checkpoint keys: the optimized export's checkpoint after
    its first update resumes in either export to the uninterrupted run's tensors, bit for
    bit (and the optimized run is the plain one's)."""
    prompt = cartpole()
    prompt["7"]["inputs"]["checkpoint_trigger_value"] = "1"  # a checkpoint every update
    path = write(prompt, tmp_path / "cartpole.json")
    plain, optimized = tmp_path / "plain", tmp_path / "optimized"
    export(path, plain)
    export(path, optimized, optimize=True)
    rollout = 8 * 32  # 8 envs, 32-step rollouts
    straight = _resume(plain, "straight", 3 * rollout, None)
    fused = _resume(optimized, "straight", 3 * rollout, None)
    middle = fused.parent / f"checkpoint_{rollout:012d}.pt"
    expected = sorted(tensors(torch.load(straight, weights_only=False)["nodes"], []))
    assert sorted(tensors(torch.load(fused, weights_only=False)["nodes"], [])) == expected
    for export_dir in (plain, optimized):
        resumed = _resume(export_dir, "resumed", 3 * rollout, middle)
        assert sorted(tensors(torch.load(resumed, weights_only=False)["nodes"], [])) == expected
