"""The exported runner's options as a user meets them: progress in logs, --set, --device,
what a run records, and arguments that are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnne_robot.pipeline import export

from .test_training import ISOLATED, SCENARIOS, run


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium")
    return out


def runner(export_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ISOLATED, *args], cwd=export_dir,
                          capture_output=True, text=True, timeout=240)


def test_training_prints_progress_lines_when_stderr_is_a_log(cartpole: Path) -> None:
    """Under nohup, CI or a batch system stderr is a file: lines, not a silent bar."""
    proc = runner(cartpole, "train", "--steps", "8192", "--run-dir", "logged",
                  "--progress-every", "0.05", "--no-export-policy")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("step ")]
    assert lines, proc.stderr
    assert "/8,192" in lines[-1] and "steps/s" in lines[-1] and "recent return" in lines[-1]
    quiet = runner(cartpole, "train", "--steps", "1024", "--run-dir", "quiet",
                   "--progress-every", "0.0", "--no-progress", "--no-export-policy")
    assert not [ln for ln in quiet.stderr.splitlines() if ln.startswith("step ")]


def test_set_changes_a_setting_for_one_run_and_records_it(cartpole: Path) -> None:
    summary = run(cartpole, "train", "--steps", "1024", "--run-dir", "lr",
                  "--set", "PPO Trainer.learning_rate=3e-4", "--set", "7.num_epochs=2",
                  "--no-export-policy")
    record = json.loads((cartpole / summary["run_dir"] / "hparams.json").read_text())
    assert record["hparams"]["learning_rate"] == 3e-4
    assert record["hparams"]["num_epochs"] == 2
    assert record["run"]["overrides"] == ["#7 PPO Trainer.learning_rate=0.0003",
                                          "#7 PPO Trainer.num_epochs=2"]
    rows = (cartpole / "lr" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {int(r.split(",")[header.index("epochs_run")]) for r in rows[1:]} == {2}
    generated = (cartpole / "generated_nodes" / "node_7_ppo_trainer.py").read_text()
    assert "LEARNING_RATE = 0.001" in generated  # the export itself is unchanged


@pytest.mark.parametrize(("override", "words"), [
    ("PPO Trainr.learning_rate=1e-3", ["no node titled 'PPO Trainr'", "'PPO Trainer'"]),
    ("PPO Trainer.learnig_rate=1e-3", ["#7 'PPO Trainer'", "'learnig_rate'",
                                       "did you mean 'learning_rate'"]),
    ("PPO Trainer.learning_rate=fast", ["field 'learning_rate'", "'fast' is not a finite"]),
    ("PPO Trainer.learning_rate=-1", ["field 'learning_rate'", "below the minimum"]),
    ("PPO Trainer.anneal_lr=maybe", ["field 'anneal_lr'", "true or false"]),
    ("PPO Trainer.checkpoint_trigger_type=hourly", ["'hourly' is not one of", "epoch"]),
    ("learning_rate", ["NODE.FIELD=VALUE"]),
    ("PPO Agent.hidden_sizes=32", ["#3 'PPO Agent'", "field 'hidden_sizes' is read at export "
                                   "time", "export again"]),
])
def test_a_bad_override_is_one_line_and_starts_nothing(cartpole: Path, override: str,
                                                       words: list[str]) -> None:
    proc = runner(cartpole, "train", "--steps", "256", "--run-dir", "never", "--set", override)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: --set") and all(w in line for w in words), line
    assert not (cartpole / "never").exists()


def test_hparams_say_what_the_run_was(cartpole: Path) -> None:
    summary = run(cartpole, "train", "--steps", "512", "--run-dir", "what",
                  "--no-export-policy")
    record = json.loads((cartpole / summary["run_dir"] / "hparams.json").read_text())
    run_info = record["run"]
    assert run_info["engine"] == "gymnasium" and run_info["task"] == "Cartpole"
    assert run_info["num_envs"] == 8 and run_info["steps"] == 512
    assert run_info["workflow"] == "cartpole_ppo.json" and run_info["overrides"] == []
    assert run_info["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    rows = (cartpole / "what" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["256", "512"]  # whole numbers


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CPU-only torch")
def test_cuda_on_a_cpu_torch_names_the_fix(cartpole: Path) -> None:
    proc = runner(cartpole, "train", "--steps", "256", "--device", "cuda",
                  "--run-dir", "cuda")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "--device cuda" in line and "no CUDA" in line and "--device cpu" in line
    bogus = runner(cartpole, "train", "--steps", "256", "--device", "tpu9", "--run-dir", "t")
    assert bogus.returncode == 1 and "'tpu9' is not a torch device" in bogus.stderr
    assert not (cartpole / "cuda").exists() and not (cartpole / "t").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["train", "--num-envs", "0"], ["--num-envs", "at least 1"]),
    (["train", "--threads", "0"], ["--threads", "at least 1"]),
    (["record", "-o", "rollout.avi"], ["'rollout.avi'", ".gif or .mp4"]),
    (["evaluate", "--episodes", "-3"], ["--episodes", "at least 1"]),
])
def test_bad_numbers_and_suffixes_are_usage_errors(cartpole: Path, args: list[str],
                                                   words: list[str]) -> None:
    proc = runner(cartpole, *args)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert all(w in last for w in words), last
    assert not (cartpole / "rollout.avi").exists()


def test_help_shows_defaults(cartpole: Path) -> None:
    proc = runner(cartpole, "train", "--help")
    text = " ".join(proc.stdout.split())
    assert "(default: 3)" in text and "(default: auto)" in text and "(default: 1)" in text


def test_an_rl_export_installs_what_its_run_writes(cartpole: Path) -> None:
    """learning_curve.png needs matplotlib and `record` needs imageio: both are required."""
    lines = (cartpole / "requirements.txt").read_text().splitlines()
    assert "matplotlib>=3.7" in lines and "imageio>=2.31" in lines


def test_tensorboard_asked_for_but_missing_is_said(cartpole: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        summary = run(cartpole, "train", "--steps", "256", "--run-dir", "tb", "--tensorboard",
                      "--no-export-policy")
        assert list((cartpole / summary["run_dir"]).glob("events.out.tfevents.*"))
        return
    proc = runner(cartpole, "train", "--steps", "256", "--run-dir", "tb", "--tensorboard",
                  "--no-export-policy")
    assert proc.returncode == 0 and "pip install tensorboard" in proc.stderr
    plain = runner(cartpole, "train", "--steps", "256", "--run-dir", "tb2",
                   "--no-export-policy")
    assert "tensorboard" not in plain.stderr


def test_a_bad_checkpoint_trigger_set_stops_the_run_before_it_trains(cartpole: Path) -> None:
    """A string field --set passes as text; the trainer checks it in setup, before a step."""
    proc = runner(cartpole, "train", "--steps", "4096", "--run-dir", "bad-trigger",
                  "--set", "PPO Trainer.checkpoint_trigger_value=xyz", "--no-progress")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "node #7 'PPO Trainer'" in proc.stderr
    assert "field 'checkpoint_trigger_value': 'xyz' is not a positive number" in proc.stderr
    metrics = cartpole / "bad-trigger" / "metrics.csv"
    assert not metrics.exists() or len(metrics.read_text().splitlines()) <= 1
