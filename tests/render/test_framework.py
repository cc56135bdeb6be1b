"""An export carries exactly the framework modules its plan uses, verbatim, and says why."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import regen_golden
from regen_golden import REPO, SIMS

from dnne_robot.pipeline import export
from dnne_robot.render.framework import FRAMEWORK_PACKAGES, imported_modules, module_file

COMBOS = [(scenario, sim) for scenario in regen_golden.scenarios() for sim in SIMS]
PACKAGE = REPO / "dnne_robot"


def _framework(export_dir: Path) -> dict[str, bytes]:
    return {rel: data for rel, data in regen_golden.tree(export_dir).items()
            if rel.startswith("framework/")}


def _imports(path: Path) -> set[str]:
    """Top-level module names a file imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(("scenario", "sim"), COMBOS)
def test_framework_is_verbatim_closed_and_explained(
    scenario: str, sim: str, exported: Callable[[str, str], Path]
) -> None:
    if regen_golden.refusal(scenario, sim) is not None:
        pytest.skip("not exportable under this simulator")
    export_dir = exported(scenario, sim)
    files = _framework(export_dir)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    carried = {rel for rel in manifest.get("files", {}) if rel.startswith("framework/")}
    assert set(manifest["framework"]) == set(files) - {"framework/__init__.py"} - carried
    assert all(manifest["framework"].values()), "every copied file says why it is there"
    for rel, data in files.items():
        if rel == "framework/__init__.py" or rel in carried:
            continue
        source = PACKAGE / rel.removeprefix("framework/")
        assert rel.split("/")[1] in FRAMEWORK_PACKAGES, rel
        assert data == source.read_bytes(), f"{rel} is not a verbatim copy"
        if source.suffix == ".py":  # everything it imports is there too
            for module in imported_modules(source):
                needed = module_file(module).relative_to(PACKAGE).as_posix()
                assert f"framework/{needed}" in files, f"{rel} imports {module}, not copied"


@pytest.mark.parametrize("sim", SIMS)
def test_rl_export_has_only_its_engine_and_no_ray(sim: str,
                                                 exported: Callable[[str, str], Path]) -> None:
    export_dir = exported("cartpole_ppo.json", sim)
    files = _framework(export_dir)
    assert not any(rel.startswith("framework/distributed/") for rel in files)
    assert "framework/nodes/ml.py" not in files, "no ML trainer in an RL-only graph"
    imported = set().union(*(_imports(export_dir / rel) for rel in files if rel.endswith(".py")))
    assert "ray" not in imported
    other = {"mujoco", "pybullet"} - {sim}
    for engine in other:
        assert not any(engine in Path(rel).name for rel in files), f"{engine} adapter copied"
        assert engine not in imported, f"{engine} imported under --sim {sim}"


def test_cartpole_on_mujoco_generated_nodes_are_short(
    exported: Callable[[str, str], Path]
) -> None:
    export_dir = exported("cartpole_ppo.json", "mujoco")
    lines = [len(p.read_text().splitlines())
             for p in (export_dir / "generated_nodes").glob("node_*.py")]
    assert lines and sum(lines) / len(lines) < 40, lines


def test_ml_export_has_no_simulator_robot_or_rl_nodes(
    exported: Callable[[str, str], Path]
) -> None:
    files = _framework(exported("mlp_regression.json", "gymnasium"))
    for package in ("envs", "robot", "distributed"):
        assert not any(rel.startswith(f"framework/{package}/") for rel in files), package
    assert "framework/nodes/ml.py" in files
    assert "framework/nodes/rl.py" not in files


def test_ray_backend_brings_the_distributed_package(tmp_path: Path) -> None:
    out = tmp_path / "ray"
    export(REPO / "scenarios" / "cartpole_ppo.json", out, sim="gymnasium", backend="ray")
    files = _framework(out)
    assert "framework/distributed/backend.py" in files
    manifest = json.loads((out / "manifest.json").read_text())
    assert "--backend ray" in manifest["framework"]["framework/distributed/__init__.py"]
    runner = (out / "runner.py").read_text()
    assert "RayBackend()" in runner and "ray[default]" in (out / "requirements.txt").read_text()
