"""The start-up sequence with a ramp: a Reach export (mujoco, an untrained policy with its
contract) deployed over UDP against ``runner.py serve-robot``: hold, ramp to the contract's
default pose (a PD effort law), then the policy; ``--ramp-s 0`` skips the ramp."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from dnne_robot.pipeline import export
from dnne_robot.robot.contract import Contract
from dnne_robot.robot.ramp import Ramp

from .conftest import SCENARIOS
from .helpers import last_json, run_script, start_server

PATIENT = ("--watchdog-periods", "50")
# serve-robot's seed: its reset puts the arm about 0.1 rad from the default pose (0, 0).
SEED = "3"


@pytest.fixture(scope="session")
def reach_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Reach export for mujoco with ``policy.pt``: an untrained policy and its contract."""
    import torch

    from dnne_robot.rl import ActionSpec, ActorCritic, export_policy
    from dnne_robot.session.policy import write_contract

    out = tmp_path_factory.mktemp("ramp") / "reach"
    export(SCENARIOS / "reach_ppo.json", out, sim="mujoco")
    torch.manual_seed(0)
    policy = ActorCritic(10, ActionSpec.continuous([-1.0, -1.0], [1.0, 1.0]))
    report = export_policy(policy, out / "policy.pt",
                           metadata={"task": "Reach", "engine": "mujoco",
                                     "control_rate_hz": 50.0, "dt": 0.02})
    write_contract(policy, out / "policy.pt", "torchscript", report)
    return out


def deploy(export_dir: Path, *args: str) -> tuple[dict, str, dict]:
    server, port, _ = start_server(export_dir, "--duration", "30", "--seed", SEED)
    try:
        proc = run_script(export_dir, "deploy.py", "--policy", "policy.pt", "--robot",
                          f"udp://127.0.0.1:{port}", "--json", *PATIENT, *args, timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        served, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return last_json(proc.stdout), proc.stderr, last_json(served.decode())


def test_reach_holds_then_ramps_to_the_default_pose_then_runs_the_policy(
        reach_export: Path) -> None:
    out, err, served = deploy(reach_export, "--duration", "1.6", "--ramp-s", "1")
    phases = ["startup: hold", "startup: first fresh state", "startup: ramp to the default "
              "pose", "startup: policy (ramp done", "stop: policy off, safe action",
              "stop: release"]
    at = [err.find(p) for p in phases]
    assert all(i >= 0 for i in at) and at == sorted(at), err
    ramp = out["ramp"]
    assert ramp["law"] == "pd_effort" and ramp["kp"] == [2.0, 2.0], ramp
    assert 40 <= ramp["cycles"] == out["counts"]["ramp_actions"] <= 51, (ramp, out["counts"])
    # The joint positions the robot reported: from about 0.1 rad toward the default pose.
    errors = ramp["error_rad"]
    assert errors[0] > 0.05, errors
    assert errors[-1] < 0.5 * errors[0], errors
    assert max(errors[-10:]) < 0.8 * errors[0], errors  # settling, not oscillating
    assert out["counts"]["actions"] > 0  # then the policy ran
    # While deploy held, the robot stayed still on the SAFE ACTs.
    assert served["safe_while_still"] >= 1, served


def test_ramp_s_0_skips_the_ramp(reach_export: Path) -> None:
    out, err, _ = deploy(reach_export, "--duration", "0.5", "--ramp-s", "0")
    assert "startup: no ramp (--ramp-s 0)" in err, err
    assert err.find("startup: hold") < err.find("startup: policy"), err
    assert out["ramp"] == {"skipped": "--ramp-s 0"}
    assert "ramp_actions" not in out["counts"] and out["counts"]["actions"] > 0


def test_ramp_plan_position_targets_interpolate_and_discrete_skips(reach_export: Path) -> None:
    """Position-target commands ramp by linear interpolation; a discrete policy has none."""
    data = json.loads((reach_export / "policy.json").read_text())["contract"]
    data = {**data, "action": {**data["action"], "interface": "position"}}
    ramp, _ = Ramp.plan(Contract(data, "test"), 1.0)
    obs = np.zeros(10, dtype=np.float32)
    q = (0.4, -0.2)
    obs[[0, 1, 2, 3]] = np.cos(q[0]), np.cos(q[1]), np.sin(q[0]), np.sin(q[1])
    assert np.allclose(ramp.action(obs, 10.0), q, atol=1e-6)  # starts where the joints are
    assert np.allclose(ramp.action(obs, 10.5), (0.2, -0.1), atol=1e-6)  # halfway
    assert ramp.action(obs, 11.0) is None  # done: the policy's turn
    discrete = {**data, "action": {**data["action"], "kind": "discrete", "n": 2,
                                   "command_values": [[0.0, 0.0], [1.0, 1.0]]}}
    assert Ramp.plan(Contract(discrete, "test"), 1.0) == (None, "a discrete action cannot ramp")
    no_gains = {**data, "action": {**data["action"], "interface": "effort"}, "ramp_gains": None}
    ramp, why = Ramp.plan(Contract(no_gains, "test"), 1.0)
    assert ramp is None and "--ramp-kp" in why


def test_ros2_still_refuses_reach_in_one_line(reach_export: Path) -> None:
    """Reach's target and tip-to-target values have no joint and no source the ROS 2
    transport reads (Franka's have): deploy.py and serve-robot refuse it in one line."""
    proc = run_script(reach_export, "deploy.py", "--policy", "policy.pt", "--robot",
                      "ros2:///joint_states", "--duration", "1", timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "the ROS 2 transport cannot serve this policy: 4 of its 10 observation values are " \
        "neither in a JointState nor from a known source: target_x" in lines[0], lines
    assert "udp://" in lines[0]
    proc = run_script(reach_export, "runner.py", "serve-robot", "--transport", "ros2",
                      "--duration", "1", sim=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: DeployError: the Reach task: the ROS 2 transport "
                               "cannot serve this task"), lines
    assert "serve-robot --transport udp" in lines[0]
