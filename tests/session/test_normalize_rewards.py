"""PPO Trainer's ``normalize_rewards`` through an exported package: the appended widget is
read (and its absence in older files means off), it scales the rewards the update sees,
episode returns stay raw, and a resumed run continues bit-identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dnne_robot.catalog import get_spec
from dnne_robot.pipeline import export

from .test_training import SCENARIOS, assert_same_policies, run

TRAINER = "7"
ROLLOUT = 8 * 32  # cartpole_ppo.json: 8 envs x 32 steps
STEPS = ROLLOUT * 6


def export_cartpole(tmp: Path, name: str, normalize: bool | None) -> Path:
    """cartpole_ppo.json (saved before the widget existed) checkpointing every 2 updates;
    ``normalize`` appended as the last widget value unless None."""
    ui = json.loads((SCENARIOS / "cartpole_ppo.json").read_text())
    trainer = next(n for n in ui["nodes"] if n["type"] == "PPOTrainerNode")
    names = [w.name for w in get_spec("PPOTrainerNode").widgets]
    values = trainer["widgets_values"]
    assert len(values) == names.index("normalize_rewards")  # the older layout
    values[names.index("checkpoint_trigger_value")] = "2"
    if normalize is not None:
        values.append(normalize)
    source = tmp / f"{name}.json"
    source.write_text(json.dumps(ui))
    out = tmp / name
    export(source, out, sim="gymnasium")
    return out


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The option on (trained ``STEPS`` steps in ``full``) and an older file without it."""
    tmp = tmp_path_factory.mktemp("normalize_rewards")
    on = export_cartpole(tmp, "on", True)
    run(on, "train", "--steps", str(STEPS), "--run-dir", "full", "--no-export-policy")
    return {"on": on, "old": export_cartpole(tmp, "old", None)}


def checkpoint(package: Path, run_dir: str, steps: int) -> dict:
    path = package / run_dir / "checkpoints" / f"checkpoint_{steps:012d}.pt"
    return torch.load(path, weights_only=True)["nodes"][TRAINER]


def test_the_option_scales_rewards_and_episode_returns_stay_raw(packages: dict[str, Path]) -> None:
    on, old = packages["on"], packages["old"]
    assert "NORMALIZE_REWARDS = True" in next(on.glob("generated_nodes/*trainer.py")).read_text()
    assert "NORMALIZE_REWARDS = False" in next(old.glob("generated_nodes/*trainer.py")).read_text()
    hparams = json.loads((on / "full" / "hparams.json").read_text())["hparams"]
    assert hparams["normalize_rewards"] is True
    state = checkpoint(on, "full", STEPS)["reward_normalizer"]
    # One statistic per env, one update per step: 192 steps each, after the initial 1e-4.
    assert torch.equal(state["count"], torch.full((8,), STEPS / 8 + 1e-4, dtype=torch.float64))
    # The return's std grows past 1 (CartPole pays 1 per step), so the stored rewards shrink.
    assert bool((state["var"] > 1.0).all())
    # Raw episode returns: CartPole's returns equal the episode lengths.
    rows = (on / "full" / "episodes.csv").read_text().splitlines()[1:]
    assert len(rows) > 20
    for row in rows:
        _step, ret, length = row.split(",")
        assert float(ret) == float(length)


def test_a_resumed_run_is_identical_to_an_uninterrupted_one(packages: dict[str, Path]) -> None:
    on = packages["on"]
    middle = on / "full" / "checkpoints" / f"checkpoint_{ROLLOUT * 2:012d}.pt"
    run(on, "train", "--steps", str(STEPS), "--run-dir", "resumed", "--resume", str(middle),
        "--no-export-policy")
    name = f"checkpoint_{STEPS:012d}.pt"
    assert_same_policies(on / "full" / "checkpoints" / name, on / "resumed" / "checkpoints" / name)
    full = checkpoint(on, "full", STEPS)["reward_normalizer"]
    resumed = checkpoint(on, "resumed", STEPS)["reward_normalizer"]
    for key in ("returns", "mean", "var", "count"):
        assert torch.equal(full[key], resumed[key]), key
