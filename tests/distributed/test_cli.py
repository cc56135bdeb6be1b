"""``runner.py train --backend ray`` from a fresh export, in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnne_robot.pipeline import export

pytest.importorskip("ray")

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# The exported runner with dnne_robot made unimportable, as on a machine without it.
ISOLATED = (
    "import runpy, sys; sys.modules['dnne_robot'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)

RANDOM_RETURN = 22.0  # a uniformly random CartPole policy


def run(export_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-c", ISOLATED, "runner.py", *args], cwd=export_dir,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_cartpole_trains_on_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium", backend="ray")
    assert "ray[default]" in (out / "requirements.txt").read_text()
    proc = run(out, "train", "--backend", "ray", "--workers", "2", "--steps", "8192",
               "--seed", "0", "--run-dir", "ray", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("summary: "))
    summary = json.loads(line.removeprefix("summary: "))
    assert summary["status"] == "done" and summary["workers"] == 2
    assert summary["recent_return"] > 3 * RANDOM_RETURN, summary
    assert (out / "ray" / "policy.pt").is_file()


def test_compact_graph_is_refused_clearly(tmp_path: Path) -> None:
    export(SCENARIOS / "cartpole_compact.json", tmp_path / "compact", sim="gymnasium")
    proc = run(tmp_path / "compact", "train", "--backend", "ray", "--steps", "512")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "PPO Trainer" in line and "--backend local" in line
