"""deploy.py and serve-robot against hostile input (issue 18, items 5, 10, 12 and 13): a second
controller, nonsense numbers on the command line, a malformed ``policy.json``, no robot, a
network whose output is not finite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dnne_robot.robot.deploy import main as deploy_main
from dnne_robot.robot.protocol import SAFE, Endpoint, MsgType
from dnne_robot.robot.server import ServeRobotCommand

from .helpers import FakeRobot, last_json, run_script, start_script, start_server


def test_a_hijacker_gets_nothing_while_deploy_drives_the_robot(cartpole_export: Path) -> None:
    """Item 10 end to end: another process sending HELLO and ACT every period while deploy.py
    drives serve-robot neither gets an observation nor has one action applied."""
    server, port, err = start_server(cartpole_export, "--duration", "30")
    deploy = start_script(cartpole_export, "deploy.py", "--policy", "untrained.pt", "--robot",
                          f"udp://127.0.0.1:{port}", "--duration", "1.5", "--json",
                          "--watchdog-periods", "50")
    hijacker = Endpoint()
    hijacker_url = f"udp://127.0.0.1:{hijacker.address[1]}"
    try:
        err.wait_for("controller at", 60)
        got = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end and deploy.poll() is None:
            hijacker.send(MsgType.HELLO, ("127.0.0.1", port))
            hijacker.send(MsgType.ACT, ("127.0.0.1", port), [0.0])
            if hijacker.wait_readable(0.02):
                got += len(hijacker.receive())
        out, _ = deploy.communicate(timeout=60)
    finally:
        hijacker.close()
        server.send_signal(signal.SIGINT)
        server_out, server_err = server.communicate(timeout=30)
        for p in (server, deploy):
            if p.poll() is None:
                p.kill()
                p.wait()
    stats = last_json(out.decode())
    assert deploy.returncode == 0 and stats["reason"] == "duration", stats
    assert got == 0
    robot = last_json(server_out.decode())
    assert len(robot["actions_by_controller"]) == 1, robot
    assert robot["dropped"]["foreign"] >= 20, robot
    assert list(robot["rejected_peers"]) == [hijacker_url], robot
    assert f"rejected HELLO from {hijacker_url}" in err.text + server_err.decode()


NONSENSE = [
    (["--max-age-ms", "nan"], "--max-age-ms"),
    (["--max-age-ms", "-5"], "--max-age-ms"),
    (["--max-age-ms", "inf"], "--max-age-ms"),
    (["--rate-hz", "nan"], "--rate-hz"),
    (["--rate-hz", "0"], "--rate-hz"),
    (["--duration", "inf"], "--duration"),
    (["--connect-timeout", "nan"], "--connect-timeout"),
    (["--connect-timeout", "-1"], "--connect-timeout"),
    (["--threads", "100000"], "--threads"),
    (["--threads", "0"], "--threads"),
    (["--episodes", "0"], "--episodes"),
    (["--rt-priority", "1000"], "--rt-priority"),
]


@pytest.mark.parametrize("args, option", NONSENSE)
def test_deploy_refuses_nonsense_numbers(args: list[str], option: str,
                                         capsys: pytest.CaptureFixture) -> None:
    """Item 12: NaN and out-of-range numbers are usage errors (exit 2) naming the option."""
    robot = ["--robot", "sim:gymnasium"] if option == "--episodes" else ["--robot",
                                                                         "udp://127.0.0.1:9"]
    with pytest.raises(SystemExit) as info:
        deploy_main(["--policy", "nowhere.pt", *robot, *args])
    assert info.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


@pytest.mark.parametrize("args, option", [
    (["--max-age-ms", "nan"], "--max-age-ms"),
    (["--rate-hz", "nan"], "--rate-hz"),
    (["--duration", "-1"], "--duration"),
    (["--controller-timeout", "nan"], "--controller-timeout"),
    (["--port", "70000"], "--port"),
])
def test_serve_robot_refuses_nonsense_numbers(args: list[str], option: str,
                                              capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    ServeRobotCommand().add_parser(parser.add_subparsers(),
                                   {"task": "Cartpole", "engine": "gymnasium"})
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["serve-robot", *args])
    assert info.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def test_threads_100000_is_an_error_not_a_segfault(cartpole_export: Path) -> None:
    proc = run_script(cartpole_export, "deploy.py", "--policy", "untrained.pt", "--robot",
                      "sim:gymnasium", "--episodes", "1", "--threads", "100000", sim=True)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "argument --threads: must be between 1 and" in proc.stderr


Edit = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Edit:
    def edit(info: dict[str, Any]) -> None:
        *parents, key = path.split(".")
        target = info
        for p in parents:
            target = target[p]
        target[key] = value
    return edit


CONTINUOUS_2 = {"kind": "continuous", "n": None, "low": [-1.0, -1.0], "high": [1.0, 1.0],
                "squash": False}
MALFORMED: dict[str, tuple[Edit, str]] = {
    "wrong observation dim": (_set("observation.dim", 5), "observation.dim"),
    "negative observation dim": (_set("observation.dim", -1), "observation.dim"),
    "huge observation dim": (_set("observation.dim", 10**12), "observation.dim"),
    "observation dim as text": (_set("observation.dim", "4"), "observation.dim"),
    "no observation": (lambda info: info.pop("observation"), "observation"),
    "continuous sidecar, discrete policy": (_set("action", CONTINUOUS_2), "action"),
    "1-d continuous sidecar, discrete policy": (
        _set("action", {**CONTINUOUS_2, "low": [-1.0], "high": [1.0]}), "action"),
    "unknown action kind": (_set("action.kind", "banana"), "action.kind"),
    "discrete with n 0": (_set("action.n", 0), "action.n"),
    "metadata as a list": (_set("metadata", [1, 2]), "metadata"),
    "rate as a list": (_set("metadata.control_rate_hz", [50]), "metadata.control_rate_hz"),
    "task as a number": (_set("metadata.task", 3), "metadata.task"),
    "format as a list": (_set("format", ["x"]), "format"),
    "top level a list": (lambda info: [info], "a JSON object"),
}


@pytest.fixture(scope="module")
def discrete_sidecar(cartpole_export: Path) -> dict[str, Any]:
    return json.loads((cartpole_export / "untrained.json").read_text())


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_policy_json_is_one_line(case: str, cartpole_export: Path, tmp_path: Path,
                                             discrete_sidecar: dict[str, Any],
                                             capsys: pytest.CaptureFixture) -> None:
    """Item 12: each malformed sidecar is refused before the loop: exit 1, one line."""
    edit, field = MALFORMED[case]
    info = json.loads(json.dumps(discrete_sidecar))
    info = edit(info) if case == "top level a list" else (edit(info), info)[1]
    shutil.copy(cartpole_export / "untrained.pt", tmp_path / "p.pt")
    (tmp_path / "p.json").write_text(json.dumps(info))
    code = deploy_main(["--policy", str(tmp_path / "p.pt"), "--robot", "sim:gymnasium",
                        "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert field in err, err


def test_a_malformed_policy_json_in_a_subprocess(cartpole_export: Path) -> None:
    info = json.loads((cartpole_export / "untrained.json").read_text())
    shutil.copy(cartpole_export / "untrained.pt", cartpole_export / "listmeta.pt")
    (cartpole_export / "listmeta.json").write_text(json.dumps({**info, "metadata": [1, 2]}))
    proc = run_script(cartpole_export, "deploy.py", "--policy", "listmeta.pt", "--robot",
                      "sim:gymnasium", "--episodes", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: listmeta.json: metadata must be a JSON object, not a list"]


def test_no_robot_names_the_address_and_serve_robot(cartpole_export: Path) -> None:
    """Item 13: nothing listens at the address: say which, and how to start serve-robot."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_script(cartpole_export, "deploy.py", "--policy", "untrained.pt", "--robot",
                      f"udp://127.0.0.1:{port}", "--connect-timeout", "0.5")
    assert proc.returncode == 3, proc.stderr
    assert f"udp://127.0.0.1:{port}" in proc.stderr
    assert f"python runner.py serve-robot --port {port}" in proc.stderr
    assert "counts -" not in proc.stdout
    assert proc.stdout.strip() == f"udp://127.0.0.1:{port}: no robot answered within 0.5 s"


def _overflowing(policy: Any, how: str) -> None:
    """Weights that make the network's output NaN (``nan``) or +-inf (``inf``, finite weights:
    saturated hidden units times 3e38 overflow float32)."""
    import torch

    with torch.no_grad():
        if how == "nan":
            for p in policy.actor_head.parameters():
                p.fill_(float("nan"))
            return
        for layer in policy.actor_body.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.fill_(100.0)  # tanh(100) == 1.0 in float32
        policy.actor_head.weight.fill_(3e38)
        policy.actor_head.bias.zero_()


NON_FINITE = {
    "discrete, NaN weights": ("discrete", False, "nan"),  # argmax made NaN action 0
    "discrete, inf logits": ("discrete", False, "inf"),
    "continuous, inf means, clipped": ("continuous", False, "inf"),  # clipped to the bound
    "continuous, inf means, squashed": ("continuous", True, "inf"),  # tanh(inf) = 1
    "continuous, NaN weights": ("continuous", False, "nan"),
}


@pytest.mark.parametrize("case", list(NON_FINITE))
def test_a_non_finite_network_output_is_a_bad_action(case: str, cartpole_export: Path,
                                                     tmp_path: Path) -> None:
    """Item 5, the deploy half: a network whose output is NaN or inf never reaches the robot
    as an action (argmax turned NaN into index 0, clipping turned inf into a bound): each
    cycle counts a bad action and sends the safe action. The policy file is what
    ``export_policy`` writes (TorchScript of ``DeployPolicy``), with a sidecar to match."""
    import torch

    from dnne_robot.rl import ActionSpec, ActorCritic, DeployPolicy

    kind, squash, how = NON_FINITE[case]
    spec = (ActionSpec.discrete(2) if kind == "discrete"
            else ActionSpec.continuous([-1.0], [1.0], squash=squash))
    policy = ActorCritic(4, spec)
    _overflowing(policy, how)
    path = tmp_path / "broken.pt"
    torch.jit.script(DeployPolicy(policy).eval()).save(str(path))
    info = json.loads((cartpole_export / "untrained.json").read_text())
    if kind == "continuous":
        info["action"] = {"kind": "continuous", "n": None, "low": [-1.0], "high": [1.0],
                          "squash": squash}
    info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(info))

    with FakeRobot(lambda k: np.array([0.0, 0.0, 0.01 * k, 0.0], np.float32)) as robot:
        proc = run_script(cartpole_export, "deploy.py", "--policy", str(path), "--robot",
                          robot.url, "--duration", "0.6", "--watchdog-periods", "100",
                          "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["counts"]["bad_actions"] >= 10 and "actions" not in stats["counts"], stats
    assert robot.acts and all(msg.flags & SAFE and msg.payload.tolist() == [0.0]
                              for msg, _ in robot.acts), [m for m, _ in robot.acts][:3]
    assert "not a valid action" in proc.stderr and "sent the safe action" in proc.stderr
