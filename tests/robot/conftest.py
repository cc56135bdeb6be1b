"""An RL export with deploy.py, a briefly trained CartPole policy and an untrained one."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnne_robot.pipeline import export

from .helpers import run_script

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="session")
def cartpole_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CartPole export (gymnasium) with ``untrained.pt``: fast tests need no training."""
    import torch

    from dnne_robot.rl import ActionSpec, ActorCritic, export_policy

    out = tmp_path_factory.mktemp("deploy") / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium")
    torch.manual_seed(0)
    export_policy(ActorCritic(4, ActionSpec.discrete(2)), out / "untrained.pt",
                  metadata={"task": "Cartpole", "engine": "gymnasium", "control_rate_hz": 50.0,
                            "dt": 0.02})
    return out


@pytest.fixture(scope="session")
def trained(cartpole_export: Path) -> Path:
    """``policy.pt`` after 50k PPO steps (about 5 s; deterministic episodes last ~500)."""
    proc = run_script(cartpole_export, "runner.py", "train", "--steps", "50000", "--seed", "0",
                      "--run-dir", "run", "--no-progress", "--no-export-policy", sim=True,
                      timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_script(cartpole_export, "runner.py", "export-policy", "--run-dir", "run",
                      "-o", "policy.pt", sim=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cartpole_export
