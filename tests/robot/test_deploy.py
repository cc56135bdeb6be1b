"""deploy.py end to end, in subprocesses where gymnasium, mujoco, pybullet and dnne_robot
cannot be imported, against ``runner.py serve-robot`` or a scripted robot on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dnne_robot.robot.protocol import SAFE

from .helpers import FakeRobot, last_json, run_script, script_env, start_script, start_server

PERIOD = 0.02  # CartPole's control period
# Tests that are not about the watchdog give it 1 s, so that a busy test machine stalling a
# process for a few periods does not end them early.
PATIENT = ("--watchdog-periods", "50")


def upright(k: int) -> np.ndarray:
    return np.array([0.0, 0.0, 0.01 * np.sin(k), 0.0], dtype=np.float32)


def test_pole_stays_up_over_udp(trained: Path) -> None:
    server, port, _ = start_server(trained, "--duration", "30")
    try:
        proc = run_script(trained, "deploy.py", "--policy", "policy.pt", "--robot",
                          f"udp://127.0.0.1:{port}", "--duration", "3", "--json", *PATIENT,
                          timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    stats = last_json(proc.stdout)
    loop = stats["loop"]
    assert stats["reason"] == "duration"
    assert abs(loop["achieved_hz"] - 50.0) <= 5.0, loop
    assert loop["missed"] <= max(3, 0.1 * loop["cycles"]), loop
    assert stats["counts"]["actions"] >= 0.8 * loop["cycles"], stats
    assert stats["counts"].get("bad_obs", 0) == 0

    robot = last_json(out.decode())
    assert server.returncode == 0 and robot["stopped_by"] == "SIGINT"
    assert robot["steps"] >= 120, robot
    # The pole stays up: no episode ends by falling within the run, or they last long.
    assert robot["terminated"] == 0 or robot["mean_length"] >= 150, robot
    # Actions are applied on the step right after their observation, as in training.
    assert robot["action_age_steps"]["p50"] == 0, robot


WATCHDOG = 10


def test_watchdog_stops_when_the_robot_dies(trained: Path) -> None:
    server, port, err = start_server(trained, "--duration", "60")
    deploy = start_script(trained, "deploy.py", "--policy", "policy.pt", "--robot",
                          f"udp://127.0.0.1:{port}", "--duration", "30", "--watchdog-periods",
                          str(WATCHDOG), "--json")
    try:
        err.wait_for("controller at", 60)
        time.sleep(1.0)
        assert deploy.poll() is None
        server.kill()
        killed = time.monotonic()
        out, _ = deploy.communicate(timeout=30)
        exited = time.monotonic() - killed
    finally:
        for p in (server, deploy):
            if p.poll() is None:
                p.kill()
            p.wait()
    stats = last_json(out.decode())
    assert deploy.returncode == 3 and stats["reason"] == "watchdog", stats
    # Detected within the allowed periods plus one cycle (and scheduling slack).
    assert stats["silence_ms"] <= (WATCHDOG + 2) * PERIOD * 1e3 + 50, stats
    assert exited < WATCHDOG * PERIOD + 1.5, exited
    assert stats["counts"]["safe_actions"] >= 1


def test_nan_observations_get_the_safe_action(cartpole_export: Path) -> None:
    bad = set(range(20, 25))

    def obs(k: int) -> np.ndarray:
        return np.full(4, np.nan, np.float32) if k in bad else upright(k)

    with FakeRobot(obs) as robot:
        proc = run_script(cartpole_export, "deploy.py", "--policy", "untrained.pt",
                          "--robot", robot.url, "--duration", "1.5", "--json", *PATIENT,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["counts"]["bad_obs"] >= 3, stats  # a NaN obs may be superseded, not all 5
    safe = [msg for msg, _ in robot.acts if msg.flags & SAFE]
    assert len(safe) >= stats["counts"]["bad_obs"]
    for msg in safe:
        assert msg.payload.tolist() == [0.0]  # "zero" for Discrete(2): action index 0
    normal = [msg for msg, _ in robot.acts if not msg.flags & SAFE]
    assert len(normal) >= 40 and all(msg.payload[0] in (0.0, 1.0) for msg in normal)
    assert "not 4 finite values" in proc.stderr
    assert robot.stops == 1


def test_persistent_nan_trips_the_watchdog_and_hold_repeats_the_last_action(
    cartpole_export: Path,
) -> None:
    def obs(k: int) -> np.ndarray:
        return upright(k) if k < 10 else np.full(4, np.inf, np.float32)

    with FakeRobot(obs) as robot:
        proc = run_script(cartpole_export, "deploy.py", "--policy", "untrained.pt",
                          "--robot", robot.url, "--duration", "5", "--safe-action", "hold",
                          "--watchdog-periods", "3", "--json", timeout=60)
    stats = last_json(proc.stdout)
    assert proc.returncode == 3 and stats["reason"] == "watchdog", proc.stderr
    assert stats["loop"]["cycles"] < 40
    last_normal = [msg for msg, _ in robot.acts if not msg.flags & SAFE][-1]
    safe = [msg for msg, _ in robot.acts if msg.flags & SAFE]
    assert safe and all(msg.payload.tolist() == last_normal.payload.tolist() for msg in safe)


def test_sigterm_sends_the_safe_action_then_stop(cartpole_export: Path) -> None:
    with FakeRobot(upright) as robot:
        deploy = start_script(cartpole_export, "deploy.py", "--policy", "untrained.pt",
                              "--robot", robot.url, "--json", *PATIENT)
        try:
            end = time.monotonic() + 60
            while len(robot.acts) < 10 and time.monotonic() < end:
                time.sleep(0.05)
            deploy.send_signal(signal.SIGTERM)
            out, err = deploy.communicate(timeout=30)
        finally:
            if deploy.poll() is None:
                deploy.kill()
                deploy.wait()
        time.sleep(0.1)
    assert deploy.returncode == 0, err.decode()
    assert last_json(out.decode())["reason"] == "signal"
    assert robot.acts[-1][0].flags & SAFE and robot.stops == 1


def test_no_robot_exits_with_the_watchdog_code(cartpole_export: Path) -> None:
    with FakeRobot(upright) as robot:
        robot.sending = False
        proc = run_script(cartpole_export, "deploy.py", "--policy", "untrained.pt", "--robot",
                          robot.url, "--connect-timeout", "0.5", "--json")
    assert proc.returncode == 3, proc.stderr
    assert last_json(proc.stdout)["reason"] == "no_robot"
    assert "no observation from udp://127.0.0.1" in proc.stderr


def test_refuses_a_policy_that_does_not_match_its_sidecar(cartpole_export: Path,
                                                          tmp_path: Path) -> None:
    shutil.copy(cartpole_export / "untrained.pt", cartpole_export / "tampered.pt")
    info = json.loads((cartpole_export / "untrained.json").read_text())
    info["sha256"] = "0" * 64
    (cartpole_export / "tampered.json").write_text(json.dumps(info))
    proc = run_script(cartpole_export, "deploy.py", "--policy", "tampered.pt", "--robot",
                      "udp://127.0.0.1:9")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: refusing tampered.pt: its sha256 is")
    assert "Traceback" not in proc.stderr

    (cartpole_export / "tampered.json").unlink()
    proc = run_script(cartpole_export, "deploy.py", "--policy", "tampered.pt", "--robot",
                      "udp://127.0.0.1:9")
    assert proc.returncode == 1 and "tampered.json not found" in proc.stderr


@pytest.mark.parametrize("args", [["--robot", "tcp://x:1"], ["--robot", "udp://h:1",
                                                              "--episodes", "2"],
                                  ["--robot", "sim:gymnasium", "--watchdog-periods", "0"]])
def test_bad_arguments_exit_2(cartpole_export: Path, args: list[str]) -> None:
    proc = run_script(cartpole_export, "deploy.py", "--policy", "untrained.pt", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def eager_lengths(trained: Path) -> list[int]:
    """Episode lengths of the eager policy from the checkpoint, seeds 0 and 1."""
    proc = run_script(trained, "runner.py", "evaluate", "--run-dir", "run", "--episodes", "2",
                      "--seed", "0", "--json", sim=True)
    assert proc.returncode == 0, proc.stderr
    return last_json(proc.stdout)["lengths"]


def test_sim_robot_replays_evaluate_exactly(trained: Path, eager_lengths: list[int]) -> None:
    """The exported TorchScript in deploy's loop takes the eager checkpoint's episodes."""
    proc = run_script(trained, "deploy.py", "--policy", "policy.pt", "--robot", "sim:gymnasium",
                      "--rate-hz", "2000", "--episodes", "2", "--seed", "0", "--json", sim=True)
    assert proc.returncode == 0, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["reason"] == "episodes" and stats["lengths"] == eager_lengths


def test_pt2_policy_replays_evaluate_exactly(trained: Path, eager_lengths: list[int]) -> None:
    from dnne_robot.rl import export_policy, latest_checkpoint
    from dnne_robot.session.policy import load_policy

    policy, _ = load_policy(latest_checkpoint(trained / "run"), {})
    # Named apart from policy.pt: the sidecar takes the stem, policy_pt2.json.
    export_policy(policy, trained / "policy_pt2.pt2", fmt="pt2",
                  metadata={"task": "Cartpole", "engine": "gymnasium", "control_rate_hz": 50.0})
    proc = run_script(trained, "deploy.py", "--policy", "policy_pt2.pt2", "--robot",
                      "sim:gymnasium", "--rate-hz", "2000", "--episodes", "1", "--json", sim=True)
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["lengths"] == eager_lengths[:1]


def test_server_summary_without_a_controller(cartpole_export: Path) -> None:
    proc = start_script(cartpole_export, "runner.py", "serve-robot", "--port", "0",
                        "--duration", "0.3", sim=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    summary = last_json(out.decode())
    assert summary["steps"] == 0 and summary["episodes"] == 0
    assert summary["stopped_by"] == "duration" and summary["loop"]["cycles"] == 15


ONNX = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxscript", "onnxruntime")),
    reason="onnx, onnxscript or onnxruntime not installed",
)


@pytest.fixture(scope="module")
def onnx_policy(trained: Path) -> str:
    from dnne_robot.rl import export_policy, latest_checkpoint
    from dnne_robot.session.policy import load_policy

    policy, _ = load_policy(latest_checkpoint(trained / "run"), {})
    export_policy(policy, trained / "policy_onnx.onnx", fmt="onnx",
                  metadata={"task": "Cartpole", "engine": "gymnasium", "control_rate_hz": 50.0})
    return "policy_onnx.onnx"


@ONNX
def test_onnx_policy_replays_evaluate_exactly(trained: Path, onnx_policy: str,
                                              eager_lengths: list[int]) -> None:
    proc = run_script(trained, "deploy.py", "--policy", onnx_policy, "--robot", "sim:gymnasium",
                      "--rate-hz", "2000", "--episodes", "2", "--seed", "0", "--json", sim=True)
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["lengths"] == eager_lengths


@ONNX
def test_onnx_policy_drives_the_robot_without_torch(trained: Path, onnx_policy: str) -> None:
    """On the robot computer: numpy, onnxruntime and the standard library; torch unimportable."""
    no_torch = (
        "import runpy, sys; [sys.modules.__setitem__(m, None) for m in "
        "('torch', 'gymnasium', 'mujoco', 'pybullet', 'dnne_robot')]; "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    server, port, _ = start_server(trained, "--duration", "30")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", no_torch, "deploy.py", "--policy", onnx_policy, "--robot",
             f"udp://127.0.0.1:{port}", "--duration", "2", "--json", *PATIENT],
            cwd=trained, env=script_env(), capture_output=True, text=True, timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["reason"] == "duration" and stats["counts"]["actions"] >= 80, stats
    robot = last_json(out.decode())
    assert robot["steps"] >= 80 and (robot["terminated"] == 0 or robot["mean_length"] >= 80)


def test_onnx_policy_without_onnxruntime_names_the_install(trained: Path) -> None:
    sidecar = json.loads((trained / "policy.json").read_text())
    (trained / "fake.onnx").write_bytes(b"not really onnx")
    digest = hashlib.sha256(b"not really onnx").hexdigest()
    (trained / "fake.json").write_text(json.dumps({**sidecar, "format": "onnx",
                                                   "sha256": digest}))
    blocked = (
        "import runpy, sys; sys.modules['onnxruntime'] = None; "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocked, "deploy.py", "--policy", "fake.onnx", "--robot",
         "sim:gymnasium", "--episodes", "1"], cwd=trained, env=script_env(),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "pip install onnxruntime" in proc.stderr.strip().splitlines()[-1]
