"""scenarios/franka_reach_ppo.json end to end on MuJoCo, in subprocesses of the exported
package: a short training, ``evaluate`` and ``sim2sim`` with the success rate, ``record`` (a
GIF of the arm) and ``export-policy`` deployed over UDP against ``serve-robot`` (7
continuous action values)."""

from __future__ import annotations

import importlib.util
import json
import signal
from pathlib import Path

import numpy as np
import pytest

from dnne_robot.pipeline import export

from .helpers import last_json, run_script, start_server

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "franka_reach_ppo.json"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mujoco") is None, reason="mujoco not installed"
)


@pytest.fixture(scope="module")
def franka(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MuJoCo export after 1,024 PPO steps (one update), with ``policy.pt``."""
    out = tmp_path_factory.mktemp("franka") / "franka_reach"
    export(SCENARIO, out, sim="mujoco")
    proc = run_script(out, "runner.py", "train", "--steps", "1024", "--seed", "0", "--run-dir",
                      "run", "--no-progress", "--no-export-policy", sim=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_script(out, "runner.py", "export-policy", "--run-dir", "run", "-o", "policy.pt",
                      sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_evaluate_reports_the_success_rate(franka: Path) -> None:
    proc = run_script(franka, "runner.py", "evaluate", "--run-dir", "run", "--episodes", "3",
                      "--json", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = last_json(proc.stdout)
    assert out["task"] == "FrankaReach" and out["engine"] == "mujoco"
    assert out["lengths"] == [150, 150, 150]
    # One verdict per episode (within 5 cm at its last step): a multiple of 1/3.
    assert out["success_rate"] in (0.0, 1 / 3, 2 / 3, 1.0)


@pytest.mark.slow
def test_evaluate_text_names_the_success_rate(franka: Path) -> None:
    proc = run_script(franka, "runner.py", "evaluate", "--policy", "policy.pt", "--episodes",
                      "2", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FrankaReach on mujoco: mean return" in proc.stdout
    assert "success rate" in proc.stdout and "%" in proc.stdout


@pytest.mark.slow
def test_sim2sim_shows_the_success_rate(franka: Path) -> None:
    proc = run_script(franka, "runner.py", "sim2sim", "--run-dir", "run", "--episodes", "2",
                      sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, *rows = proc.stdout.strip().splitlines()
    assert "success" in header.split()
    mujoco = next(r for r in rows if r.split()[1] == "mujoco")
    assert mujoco.split()[5].endswith("%")
    # pybullet's physics is not in a --sim mujoco package: that row says so.
    assert any("pybullet" in r and "Re-export with --sim pybullet" in r for r in rows)

    proc = run_script(franka, "runner.py", "sim2sim", "--run-dir", "run", "--episodes", "2",
                      "--json", sim=True, timeout=120)
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    ran = [r for r in rows if not r["skipped"]]
    assert [r["engine"] for r in ran] == ["mujoco"] and 0 <= ran[0]["success_rate"] <= 1


def test_record_writes_a_gif_of_the_arm(franka: Path) -> None:
    imageio = pytest.importorskip("imageio.v3")
    proc = run_script(franka, "runner.py", "record", "--run-dir", "run", "--steps", "8", "-o",
                      "reach.gif", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "skipped" in proc.stdout:  # MuJoCo has no GL backend here: one line, no file
        assert "MuJoCo cannot render" in proc.stdout or "MUJOCO_GL" in proc.stdout
        pytest.skip(proc.stdout.strip())
    assert "wrote reach.gif" in proc.stdout
    frames = imageio.imread(franka / "reach.gif")
    assert frames.shape[0] == 9 and frames.shape[-1] == 3
    # The frames show a scene (not one flat colour) and the arm moves between them.
    assert frames[0].std() > 10
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).max() > 0


@pytest.mark.slow
def test_policy_deploys_over_udp_with_seven_finite_actions(franka: Path) -> None:
    server, port, _ = start_server(franka, "--duration", "30")
    try:
        proc = run_script(franka, "deploy.py", "--policy", "policy.pt", "--robot",
                          f"udp://127.0.0.1:{port}", "--duration", "3", "--json",
                          "--watchdog-periods", "60", timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["reason"] == "duration"
    # A busy machine misses some of the 60 Hz cycles (no new observation, no action): only
    # that actions flowed is checked here, not the rate (test_deploy.py checks the rate).
    assert stats["loop"]["cycles"] >= 60 and stats["counts"]["actions"] >= 30, stats
    for bad in ("bad_obs", "bad_actions", "policy_errors"):
        assert stats["counts"].get(bad, 0) == 0, stats

    robot = last_json(out.decode())
    assert robot["task"] == "FrankaReach" and robot["engine"] == "mujoco"
    assert robot["stopped_by"] == "SIGINT"
    # The simulator applied the controller's actions: 7 finite values each (anything else is
    # counted as a dropped "bad_action" and not applied), most of those deploy.py sent.
    assert robot["actions"] >= 30 and robot["steps"] >= robot["actions"], robot
    assert robot["actions"] >= 0.8 * stats["counts"]["actions"], (robot, stats)
    assert robot["dropped"].get("bad_action", 0) == 0, robot
