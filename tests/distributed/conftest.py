"""Fixtures for the Ray backend: one CartPole export imported in-process, one Ray session.

The export's ``framework`` and ``generated_nodes`` packages are put on ``sys.path`` and
imported here, in the test process, so that tests can drive the learner step by step; Ray
workers import the same packages (Ray hands the driver's ``sys.path`` to its workers).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dnne_robot.pipeline import export

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
_EXPORT_PACKAGES = ("framework", "generated_nodes", "runner")


@pytest.fixture(scope="session")
def cartpole_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``scenarios/cartpole_ppo.json`` exported for gymnasium with the Ray backend, once per
    session (read-only)."""
    out = tmp_path_factory.mktemp("ray-export") / "cartpole"
    export(SCENARIOS / "cartpole_ppo.json", out, sim="gymnasium", backend="ray")
    return out


@pytest.fixture(scope="session")
def runner(cartpole_export: Path) -> Iterator[ModuleType]:
    """The export's ``runner`` module (``build_graph``, ``META``), imported in this process."""
    clashes = [m for m in sys.modules if m.split(".")[0] in _EXPORT_PACKAGES]
    if clashes:
        pytest.skip(f"another export's packages are already imported: {clashes[:3]}")
    sys.path.insert(0, str(cartpole_export))
    try:
        yield importlib.import_module("runner")
    finally:
        sys.path.remove(str(cartpole_export))
        for name in [m for m in sys.modules if m.split(".")[0] in _EXPORT_PACKAGES]:
            del sys.modules[name]


@pytest.fixture(scope="session")
def ray_session(runner: ModuleType) -> Iterator[ModuleType]:
    """Ray started once for the session, after the export is importable."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def checkpoint_every(runner: ModuleType, monkeypatch: pytest.MonkeyPatch):
    """``checkpoint_every(n)``: the export's trainer node checkpoints every n updates."""
    from framework.runtime import RunContext

    graph = runner.build_graph(RunContext())
    trainer = next(n for n in graph.nodes if hasattr(n, "CHECKPOINT_TRIGGER_VALUE"))

    def every(updates: int) -> None:
        monkeypatch.setattr(type(trainer), "CHECKPOINT_TRIGGER_TYPE", "epoch")
        monkeypatch.setattr(type(trainer), "CHECKPOINT_TRIGGER_VALUE", str(updates))

    return every
