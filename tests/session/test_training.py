"""Training through exported graphs: learning smoke, exact resume, compact style."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dnne_robot.pipeline import export

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

# Runs the exported runner with dnne_robot made unimportable, as on a machine without it.
ISOLATED = (
    "import sys, runpy; sys.modules['dnne_robot'] = None; "
    "sys.argv = ['runner.py'] + sys.argv[1:]; runpy.run_path('runner.py', run_name='__main__')"
)


def run(export_dir: Path, *args: str, timeout: float = 240) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", ISOLATED, *args], cwd=export_dir, capture_output=True,
        text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("summary: "))
    return json.loads(line.removeprefix("summary: "))


def assert_same_policies(path_a: Path, path_b: Path) -> None:
    """Every policy tensor of two graph checkpoints is bit-identical."""
    a = torch.load(path_a, weights_only=True)
    b = torch.load(path_b, weights_only=True)
    compared = 0
    for node_id, state in a["nodes"].items():
        if state and "policy" in state:
            for key, tensor in state["policy"].items():
                assert torch.equal(tensor, b["nodes"][node_id]["policy"][key]), key
                compared += 1
    assert compared, "no policy in the checkpoints"


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium")
    return out


def test_cartpole_return_rises_well_above_random(cartpole: Path) -> None:
    # A random CartPole policy averages about 22; 25k steps of PPO take ~6 s here.
    summary = run(cartpole, "train", "--steps", "25600", "--seed", "3", "--run-dir", "smoke")
    assert summary["status"] == "done"
    assert summary["recent_return"] > 100, summary
    assert (cartpole / "smoke" / "metrics.csv").is_file()
    assert (cartpole / "smoke" / "hparams.json").is_file()
    assert (cartpole / "smoke" / "policy.pt").is_file()
    # The learning curve is drawn from finished episodes: they must reach episodes.csv.
    episodes = (cartpole / "smoke" / "episodes.csv").read_text().splitlines()
    assert len(episodes) > 50, episodes[:3]
    proc = subprocess.run(
        [sys.executable, "-c", ISOLATED, "evaluate", "--episodes", "3", "--json",
         "--run-dir", "smoke"], cwd=cartpole, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"mean_return", "std_return", "episodes"} <= result.keys()
    assert result["episodes"] == 3


def test_resume_gives_identical_weights(cartpole: Path) -> None:
    # The scenario checkpoints every 50 updates (8 envs x 32 steps = 256 steps per update).
    steps = str(256 * 60)
    run(cartpole, "train", "--steps", steps, "--run-dir", "full", "--no-export-policy")
    middle = cartpole / "full" / "checkpoints" / f"checkpoint_{256 * 50:012d}.pt"
    assert middle.is_file()
    run(cartpole, "train", "--steps", steps, "--run-dir", "resumed", "--resume", str(middle),
        "--no-export-policy")
    name = f"checkpoint_{256 * 60:012d}.pt"
    assert_same_policies(cartpole / "full" / "checkpoints" / name,
                         cartpole / "resumed" / "checkpoints" / name)


def _train(export_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ISOLATED, "train", "--no-export-policy",
                           "--no-progress", *args], cwd=export_dir, capture_output=True,
                          text=True, timeout=240)


def test_every_run_gets_its_own_folder_and_latest_points_at_the_newest(tmp_path: Path) -> None:
    out = tmp_path / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium")
    first = run(out, "train", "--steps", "2048", "--no-export-policy")
    second = run(out, "train", "--steps", "1024", "--seed", "1", "--no-export-policy")
    a, b = out / first["run_dir"], out / second["run_dir"]
    assert a != b and a.parent == b.parent == out / "runs"
    assert re.fullmatch(r"\d{8}-\d{6}-s1", b.name)
    assert (out / "runs" / "latest").resolve() == b.resolve()
    # Neither run touched the other's checkpoints, metrics or summary.
    assert first["checkpoint"] and (out / first["checkpoint"]).is_file()
    assert json.loads((a / "summary.json").read_text())["steps"] == 2048
    assert json.loads((a / "hparams.json").read_text())["seed"] == 0
    # The other commands read the newest run unless told otherwise.
    proc = subprocess.run([sys.executable, "-c", ISOLATED, "export-policy", "-o", "p.pt"],
                          cwd=out, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert b.name in proc.stdout + proc.stderr


def test_a_used_run_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium")
    run(out, "train", "--steps", "2048", "--run-dir", "runs/a", "--no-export-policy")
    before = {p.relative_to(out): p.read_bytes() for p in (out / "runs" / "a").rglob("*")
              if p.is_file()}
    proc = _train(out, "--steps", "1024", "--seed", "1", "--run-dir", "runs/a")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "already holds a run" in line and "--resume runs/a/checkpoints/" in line
    after = {p.relative_to(out): p.read_bytes() for p in (out / "runs" / "a").rglob("*")
             if p.is_file()}
    assert after == before


def _export_checkpointing_every_update(tmp_path: Path) -> Path:
    """cartpole_ppo with a checkpoint after every update, exported for gymnasium."""
    prompt = json.loads((SCENARIOS / "cartpole_ppo.api.json").read_text())
    trainer = next(n for n in prompt.values() if n["class_type"] == "PPOTrainerNode")
    trainer["inputs"]["checkpoint_trigger_value"] = "1"
    source = tmp_path / "every_update.api.json"
    source.write_text(json.dumps(prompt))
    out = tmp_path / "export"
    export(source, out, sim="gymnasium")
    return out


def test_resuming_an_older_checkpoint_starts_a_new_folder(tmp_path: Path) -> None:
    """Only a run's newest checkpoint continues it in place: from an older one the new
    checkpoints would be pruned against the old run's later ones."""
    out = _export_checkpointing_every_update(tmp_path)
    first = run(out, "train", "--steps", str(256 * 4), "--no-export-policy")
    checkpoints = sorted((out / first["run_dir"] / "checkpoints").glob("*.pt"))
    assert len(checkpoints) == 3
    older = checkpoints[0].relative_to(out)
    resumed = run(out, "train", "--steps", str(256 * 6), "--resume", str(older),
                  "--no-export-policy")
    assert resumed["run_dir"] != first["run_dir"]
    assert sorted((out / first["run_dir"] / "checkpoints").glob("*.pt")) == checkpoints
    refused = _train(out, "--steps", str(256 * 6), "--resume", str(older),
                     "--run-dir", first["run_dir"])
    assert refused.returncode == 1 and "already holds a run" in refused.stderr


def test_a_run_killed_after_a_checkpoint_resumes_to_identical_metrics(cartpole: Path) -> None:
    """As after kill -9: the run logged past its last checkpoint. Resumed in its own folder,
    it logs exactly what the uninterrupted run did: no row twice, episodes that straddle the
    resume with their whole return, and the summary counting every episode of the run."""
    import shutil

    steps = str(256 * 60)
    whole = run(cartpole, "train", "--steps", steps, "--run-dir", "whole", "--no-export-policy")
    shutil.copytree(cartpole / "whole", cartpole / "killed")
    (cartpole / "killed" / "checkpoints" / f"checkpoint_{256 * 60:012d}.pt").unlink()
    (cartpole / "killed" / "summary.json").unlink()
    last = cartpole / "killed" / "checkpoints" / f"checkpoint_{256 * 50:012d}.pt"
    resumed = run(cartpole, "train", "--steps", steps, "--resume", str(last.relative_to(cartpole)),
                  "--no-export-policy")
    assert resumed["run_dir"] == "killed"  # --resume alone continues the checkpoint's folder
    for name in ("metrics.csv", "episodes.csv"):
        assert (cartpole / "killed" / name).read_text() == (cartpole / "whole" / name).read_text()
    assert resumed["episodes"] == whole["episodes"]
    assert resumed["recent_return"] == whole["recent_return"]


@pytest.mark.parametrize("sim", ["mujoco", "pybullet"])
def test_compact_style_trains_on_other_engines(tmp_path: Path, sim: str) -> None:
    out = tmp_path / f"compact_{sim}"
    export(SCENARIOS / "cartpole_compact.json", out, sim=sim)
    summary = run(out, "train", "--steps", "4096", "--run-dir", "r", "--no-export-policy")
    assert summary["status"] == "done" and summary["updates"] == 16


def test_keep_checkpoints(tmp_path: Path) -> None:
    out = _export_checkpointing_every_update(tmp_path)
    steps = str(256 * 5)
    run(out, "train", "--steps", steps, "--run-dir", "all", "--keep-checkpoints", "0",
        "--no-export-policy")
    run(out, "train", "--steps", steps, "--run-dir", "newest", "--no-export-policy")
    assert len(list((out / "all" / "checkpoints").glob("checkpoint_*.pt"))) == 5
    assert len(list((out / "newest" / "checkpoints").glob("checkpoint_*.pt"))) == 3
    proc = subprocess.run(
        [sys.executable, "-c", ISOLATED, "train", "--keep-checkpoints", "-1"], cwd=out,
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--keep-checkpoints must be >= 0" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_resumes_to_identical_weights(cartpole: Path, sig: signal.Signals) -> None:
    """Ctrl-C stops after the current rollout's update, so the resume is exact."""
    steps = str(256 * 120)
    straight, cut, final = f"straight_{sig.name}", f"cut_{sig.name}", f"{256 * 120:012d}"
    run(cartpole, "train", "--steps", steps, "--run-dir", straight, "--no-export-policy")
    proc = subprocess.Popen(
        [sys.executable, "-c", ISOLATED, "train", "--steps", steps, "--run-dir", cut,
         "--no-export-policy", "--no-progress"], cwd=cartpole, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # The scenario checkpoints every 50 updates: interrupt just after the first one.
        while not list((cartpole / cut / "checkpoints").glob("checkpoint_*.pt")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.02)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "stopping after the current rollout" in stderr
    written = re.search(r"interrupted: checkpoint written to (\S+)", stderr)
    assert written, stderr[-2000:]
    assert not (cartpole / cut / "checkpoints" / f"checkpoint_{final}.pt").exists()
    run(cartpole, "train", "--steps", steps, "--run-dir", cut, "--resume", written.group(1),
        "--no-export-policy")
    assert_same_policies(cartpole / straight / "checkpoints" / f"checkpoint_{final}.pt",
                         cartpole / cut / "checkpoints" / f"checkpoint_{final}.pt")
