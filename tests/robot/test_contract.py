"""The policy contract that export-policy writes beside the policy (and into ONNX metadata)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dnne_robot.robot.contract import Contract
from dnne_robot.robot.errors import DeployError
from dnne_robot.robot.policy import Policy

from .helpers import run_script


def test_export_policy_writes_the_contract(trained: Path) -> None:
    info = json.loads((trained / "policy.json").read_text())
    c = info["contract"]
    assert c["policy_sha256"] == hashlib.sha256((trained / "policy.pt").read_bytes()).hexdigest()
    assert c["joint_names"] == ["slider", "hinge"]
    assert c["observation"]["names"] == ["cart_position", "cart_velocity", "pole_angle",
                                         "pole_angular_velocity"]
    assert [f["joint"] for f in c["observation"]["fields"]] == ["slider", "slider", "hinge",
                                                                "hinge"]
    assert c["action"]["joints"] == ["slider"] and c["action"]["units"] == ["N"]
    assert c["action"]["command_values"] == [[-10.0], [10.0]]
    assert c["action"]["safe_command"] == [0.0] and c["control_rate_hz"] == 50.0
    assert len(c["examples"]) == 4
    # The examples are a parity check of the file: the exported policy reproduces them.
    contract = Contract(c, "policy.json")
    assert contract.check_examples(Policy(trained / "policy.pt")) == 4
    # By name: a shuffled JointState gives the same observation.
    obs = contract.observation({"hinge": 0.1, "slider": -0.5}, {"slider": 1.0, "hinge": 2.0}, {})
    assert obs.tolist() == pytest.approx([-0.5, 1.0, 0.1, 2.0])
    assert contract.command(np.array([1.0])).tolist() == [10.0]


def test_onnx_export_carries_the_contract_as_metadata(trained: Path, tmp_path: Path) -> None:
    import onnx

    proc = run_script(trained, "runner.py", "export-policy", "--run-dir", "run", "--format",
                      "onnx", "-o", str(tmp_path / "policy.onnx"), sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((tmp_path / "policy.json").read_text())
    digest = hashlib.sha256((tmp_path / "policy.onnx").read_bytes()).hexdigest()
    assert info["sha256"] == info["contract"]["policy_sha256"] == digest
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "policy.onnx")).metadata_props}
    embedded = json.loads(meta["dnne_robot.contract"])
    assert embedded["joint_names"] == ["slider", "hinge"]
    assert embedded["examples"] == info["contract"]["examples"]
    assert Policy(tmp_path / "policy.onnx").info["contract"]["task"] == info["contract"]["task"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("joints", "slider", "contract.action.joints must be a non-empty list"),
    ("command_values", [[1.0, 2.0]], "contract.action.command_values[0] must be a list of 1"),
])
def test_a_bad_contract_field_is_one_line(trained: Path, tmp_path: Path, field: str,
                                          value: object, message: str) -> None:
    for name in ("policy.pt", "deploy.py"):
        shutil.copy(trained / name, tmp_path / name)
    shutil.copytree(trained / "framework", tmp_path / "framework")
    info = json.loads((trained / "policy.json").read_text())
    info["contract"]["action"][field] = value
    (tmp_path / "policy.json").write_text(json.dumps(info))
    proc = run_script(tmp_path, "deploy.py", "--policy", "policy.pt", "--robot",
                      "ros2:///joint_states", "--duration", "0.1")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_a_missing_contract_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="contract is missing: run `runner.py export-policy`"):
        Contract(None, "policy.json")


def _reach() -> dict:
    from dnne_robot.robot.contract import build

    return build({"metadata": {"task": "Reach"}, "observation": {"dim": 10},
                  "action": {"kind": "continuous", "low": [-1.0] * 2, "high": [1.0] * 2}})


def test_ros2_refusal_names_every_value_without_a_joint() -> None:
    with pytest.raises(DeployError) as err:
        Contract(_reach(), "policy.json").require_ros2()
    text = str(err.value)
    assert text.startswith("policy.json: the ROS 2 transport cannot serve this policy: 4 of "
                           "its 10 observation values are neither in a JointState nor from a "
                           "known source: target_x, target_y, tip_to_target_x, "
                           "tip_to_target_y; deploy it over UDP")
    assert "\n" not in text


def test_a_bad_observation_source_is_one_line() -> None:
    data = _reach()
    data["observation"]["fields"][6]["source"] = "gps"
    with pytest.raises(DeployError, match=r"contract.observation.fields\[6\].source must be "
                                          r"null or one of target, forward_kinematics"):
        Contract(data, "policy.json")
    data = _reach()
    data["action"].update(joints=None, interface="end_effector_delta", names=None)
    with pytest.raises(DeployError, match="contract.action.names must be a non-empty list"):
        Contract(data, "policy.json")
