"""``runner.py export-policy --format c`` on a trained CartPole, and its ``example_loop.c``
built with one cc command and run as the controller of ``runner.py serve-robot`` on loopback.

They need a C compiler and fail (not skip) without one: CI has Debian's gcc.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnne_robot.rl import DeployPolicy
from dnne_robot.rl.c_export import find_compiler
from dnne_robot.session.policy import load_policy

from .helpers import last_json, run_script, script_env, start_server

#: The build command README.md gives, word for word.
BUILD = "cc -std=c99 -O2 -o example_loop example_loop.c policy.c -lm"


@pytest.fixture(scope="module")
def policy_c(trained: Path) -> Path:
    """``export-policy --format c`` of the trained checkpoint, and example_loop built."""
    assert find_compiler() is not None, "the C policy tests need a C compiler (apt install gcc)"
    proc = run_script(trained, "runner.py", "export-policy", "--run-dir", "run", "--format", "c",
                      "-o", "policy_c", sim=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = trained / "policy_c"
    folder.joinpath("stdout.txt").write_text(proc.stdout)
    build = subprocess.run([shutil.which("cc") or "cc", *BUILD.split()[1:]], cwd=folder,
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0 and build.stderr == "", build.stderr
    return folder


def test_export_writes_a_checked_library_of_the_checkpoint(trained: Path, policy_c: Path) -> None:
    out = (policy_c / "stdout.txt").read_text()
    checkpoint = max((trained / "run" / "checkpoints").glob("checkpoint_*.pt"))
    assert out.startswith("wrote policy_c/ (c: policy.h, policy.c, example_loop.c, README.md, "
                          f"policy.json) from {checkpoint.relative_to(trained)}; parity max "
                          "abs diff "), out
    assert "over 10011 observations" in out and "SKIPPED" not in out
    info = json.loads((policy_c / "policy.json").read_text())
    assert max(info["parity"]["max_abs_diff"].values()) < 1e-5
    assert info["sha256"] == hashlib.sha256((policy_c / "policy.c").read_bytes()).hexdigest()
    source = info["c"]["source_checkpoint"]
    assert source == {"name": checkpoint.name,
                      "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}
    assert info["metadata"]["task"] == "Cartpole" and info["metadata"]["control_rate_hz"] == 50.0
    header = (policy_c / "policy.h").read_text()
    assert "#define POLICY_CONTROL_RATE_HZ 50.0 " in header
    assert "#define POLICY_OBS_DIM 4\n" in header and "#define POLICY_NUM_ACTIONS 2\n" in header
    readme = (policy_c / "README.md").read_text()
    assert BUILD in readme and checkpoint.name in readme and "| random | 10000 |" in readme


def cartpole_observations(policy, steps: int = 2000) -> np.ndarray:
    """Observations of the real CartPole (gymnasium): the trained policy acting, with one
    action in four random so that episodes also fail and the states spread out."""
    from dnne_robot.envs import make_env

    env = make_env("Cartpole", "gymnasium", num_envs=1, seed=0)
    deploy = DeployPolicy(policy)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    rows = []
    for _ in range(steps):
        rows.append(obs[0].copy())
        with torch.no_grad():
            action = int(deploy(torch.as_tensor(obs, dtype=torch.float32)).reshape(-1)[0])
        if rng.random() < 0.25:
            action = int(rng.integers(2))
        obs, *_ = env.step(np.array([action]))
    env.close()
    return np.stack(rows).astype(np.float32)


def test_stdin_mode_gives_the_torch_actions_on_real_observations(trained: Path,
                                                                 policy_c: Path) -> None:
    checkpoint = max((trained / "run" / "checkpoints").glob("checkpoint_*.pt"))
    policy, _ = load_policy(checkpoint, {"agent_node": None})
    obs = cartpole_observations(policy)
    assert np.ptp(obs[:, 2]) > 0.3  # the pole swung: not only upright states
    lines = "\n".join(" ".join(repr(float(v)) for v in row) for row in obs)
    proc = subprocess.run(["./example_loop", "-"], input=lines + "\nnan 0 0 0\n1 2\n",
                          cwd=policy_c, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    with torch.no_grad():
        want = DeployPolicy(policy)(torch.from_numpy(obs)).reshape(-1).tolist()
    got = [float(v) for v in out[:len(obs)]]
    assert got == want and len(set(got)) == 2  # every action equal; both actions taken
    assert out[len(obs):] == ["error 1", "error length"]
    assert f"line {len(obs) + 2} has 2 values, the policy takes 4" in proc.stderr


def test_bad_arguments_get_one_error_line(policy_c: Path) -> None:
    for args, message in [
        ([], "error: no robot given: name it as udp://HOST:PORT, or - for stdin"),
        (["-", "--rate-hz", "fast"], "error: --rate-hz needs a number, got fast"),
        (["-", "--phase", "2"], "error: --phase 2: unknown option, or the value is out of "
                                "range (--help lists them)"),
        (["udp://127.0.0.1"], "error: udp://127.0.0.1 is not udp://HOST:PORT"),
    ]:
        proc = subprocess.run(["./example_loop", *args], cwd=policy_c, capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == (1 if args and args[0].startswith("udp") else 2), args
        assert proc.stderr.splitlines() == [message] and proc.stdout == "", proc.stderr


@pytest.mark.parametrize("seconds", [3, pytest.param(12, marks=pytest.mark.slow)])
def test_the_c_loop_keeps_the_pole_up_over_udp(trained: Path, policy_c: Path,
                                               seconds: int) -> None:
    """3 s is 150 CartPole steps; 12 s (slow) is 600, past the 500 of a full episode."""
    server, port, _ = start_server(trained, "--duration", str(seconds + 30))
    try:
        proc = subprocess.run(["./example_loop", f"udp://127.0.0.1:{port}", "--duration",
                               str(seconds), "--watchdog-periods", "50"], cwd=policy_c,
                              capture_output=True, text=True, timeout=seconds + 60)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    stats = last_json(proc.stdout)
    assert stats["reason"] == "duration" and stats["exit_code"] == 0
    assert abs(stats["achieved_hz"] - 50.0) <= 5.0, stats
    assert stats["actions"] >= 0.8 * stats["cycles"] and stats["bad_obs"] == 0, stats
    assert stats["missed"] <= max(3, 0.1 * stats["cycles"]), stats

    robot = last_json(out.decode())
    print(f"C loop: {stats}\nrobot: {robot}")  # the figures docs/c_policy.md quotes (-s)
    assert server.returncode == 0 and robot["stopped_by"] == "SIGINT"
    assert robot["steps"] >= 40 * seconds, robot
    # The pole stays up: no episode ends by the pole falling or the cart leaving the track.
    assert robot["terminated"] == 0, robot
    # Each action is applied on the step right after its observation, as in training.
    assert robot["action_age_steps"]["p50"] == 0, robot


def test_without_a_compiler_the_export_says_the_check_was_skipped(trained: Path,
                                                                  tmp_path: Path) -> None:
    env = {**script_env(), "PATH": str(tmp_path)}  # no cc, gcc or clang to be found
    env.pop("CC", None)
    proc = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; sys.modules['dnne_robot'] = None; "
         "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
         "runner.py", "export-policy", "--run-dir", "run", "--format", "c", "-o",
         str(tmp_path / "unchecked")], cwd=trained, env=env, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ("parity check SKIPPED: no C compiler found (looked for $CC, cc, gcc, clang)"
            in proc.stdout)
    assert (tmp_path / "unchecked" / "policy.c").is_file()


def test_a_file_as_the_output_folder_is_one_clear_line(trained: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    proc = run_script(trained, "runner.py", "export-policy", "--run-dir", "run", "--format", "c",
                      "-o", str(tmp_path / "taken"), sim=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: C export of {max((trained / 'run' / 'checkpoints').glob('*.pt')).name}: "
        f"{tmp_path / 'taken'} is a file; the C export writes a folder (-o DIR)"]
