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
    export(SCENARIOS / "cartpole_compact.json", tmp_path / "compact", sim="gymnasium",
           backend="ray")
    proc = run(tmp_path / "compact", "train", "--backend", "ray", "--steps", "512")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "node #4 'PPO Agent'" in line and "PPO Trainer" in line and "--backend local" in line


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_joins_a_running_cluster_with_address(tmp_path: Path) -> None:
    """`--address` joins a cluster started by `ray start --head`, which outlives the run."""
    import ray

    if ray.is_initialized():  # this process must not hold a session of its own meanwhile
        ray.shutdown()
    ray_cli = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
    port = _free_port()
    temp = Path("/tmp") / f"ray_addr_{os.getpid()}"  # short: Ray's socket paths are limited
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = subprocess.run(
        [*ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         f"--temp-dir={temp}", "--disable-usage-stats"],
        env=env, capture_output=True, text=True, timeout=120)
    try:
        assert start.returncode == 0, start.stderr[-3000:]
        out = tmp_path / "cartpole"
        export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium", backend="ray")
        proc = run(out, "train", "--backend", "ray", "--address", f"127.0.0.1:{port}",
                   "--workers", "1", "--steps", "2048", "--seed", "0", "--run-dir", "joined",
                   "--no-progress", "--no-export-policy")
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("summary: "))
        summary = json.loads(line.removeprefix("summary: "))
        assert summary["status"] == "done" and summary["steps"] >= 2048, summary
        # The cluster is still up after the runner left it.
        status_env = dict(env)
        if (Path.home() / ".ray" / "auth_token").is_file():  # as the runner does it
            status_env.setdefault("RAY_AUTH_MODE", "token")
        status = subprocess.run([*ray_cli, "status", f"--address=127.0.0.1:{port}"],
                                env=status_env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr[-2000:]
    finally:
        subprocess.run([*ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.mark.slow
def test_interrupted_ray_run_resumes_to_identical_weights(tmp_path: Path) -> None:
    """SIGINT stops after the current iteration's update: the resume is exact, as locally."""
    import re
    import signal
    import time

    import torch

    out = tmp_path / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium", backend="ray")
    steps, final = str(256 * 80), f"checkpoint_{256 * 80:012d}.pt"
    common = ("--backend", "ray", "--workers", "1", "--steps", steps, "--seed", "0",
              "--no-progress", "--no-export-policy")
    straight = run(out, "train", *common, "--run-dir", "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, "-c", ISOLATED, "runner.py", "train", *common,
                             "--run-dir", "cut"], cwd=out, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        # The scenario checkpoints every 50 updates: interrupt just after the first one.
        while not list((out / "cut" / "checkpoints").glob("checkpoint_*.pt")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "stopping after the current iteration" in stderr
    written = re.search(r"interrupted: checkpoint written to (\S+)", stderr)
    assert written and not (out / "cut" / "checkpoints" / final).exists(), stderr[-3000:]
    resumed = run(out, "train", *common, "--run-dir", "cut", "--resume", written.group(1))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(out / "straight" / "checkpoints" / final, weights_only=True)
    b = torch.load(out / "cut" / "checkpoints" / final, weights_only=True)
    for node_id, state in a["nodes"].items():
        if state and "policy" in state:
            for key, tensor in state["policy"].items():
                assert torch.equal(tensor, b["nodes"][node_id]["policy"][key]), key
