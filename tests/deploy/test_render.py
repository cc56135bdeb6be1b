"""deploy.py is rendered into every RL export (and only those), and stays torch+numpy only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dnne_robot.pipeline import export

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "dnne_robot" / "runtime"
RL_SCENARIOS = [("cartpole_ppo.json", "gymnasium"), ("cartpole_compact.json", "mujoco"),
                ("reach_ppo.json", "pybullet")]


def top_level_roots(tree: ast.Module) -> set[str]:
    roots = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").split(".")[0])
    return roots


def all_roots(tree: ast.Module) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize("scenario, sim", RL_SCENARIOS)
def test_rl_exports_get_deploy_py(tmp_path: Path, scenario: str, sim: str) -> None:
    out = tmp_path / "x"
    export(REPO / "scenarios" / scenario, out, sim=sim)
    code = (out / "deploy.py").read_text()
    tree = ast.parse(code)
    # torch (or onnxruntime for an ONNX policy), numpy and the stdlib; framework.envs (the
    # simulator) only inside SimRobot.
    allowed = set(sys.stdlib_module_names) | {"numpy", "torch", "onnxruntime", "framework"}
    assert all_roots(tree) <= allowed, all_roots(tree) - allowed
    assert not {"torch", "onnxruntime"} & top_level_roots(tree)  # --help stays instant
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("framework."):
            assert node.module in ("framework.runtime.control", "framework.runtime.protocol",
                                   "framework.envs")
    readme = (out / "README.md").read_text()
    assert "| `deploy.py` |" in readme and "| 24 | 8 | f64 | stamp |" in readme
    help_ = subprocess.run([sys.executable, "deploy.py", "--help"], cwd=out, capture_output=True,
                           text=True, timeout=60)
    assert help_.returncode == 0 and "--watchdog-periods" in help_.stdout
    assert "--rt-priority" in help_.stdout
    help_ = subprocess.run([sys.executable, "runner.py", "serve-robot", "--help"], cwd=out,
                           capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and "--rate-hz" in help_.stdout


def test_ml_exports_have_no_deploy_py(tmp_path: Path) -> None:
    export(REPO / "scenarios" / "mlp_regression.json", tmp_path / "x", sim="gymnasium")
    assert not (tmp_path / "x" / "deploy.py").exists()
    assert "deploy.py" not in (tmp_path / "x" / "README.md").read_text()


def runtime_modules_deploy_loads() -> list[str]:
    """runtime/__init__.py, control.py, protocol.py and what they import, transitively."""
    todo, seen = ["__init__", "control", "protocol"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((RUNTIME / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                todo.append(node.module.split(".")[0])
    return sorted(seen)


@pytest.mark.parametrize("module", runtime_modules_deploy_loads())
def test_what_deploy_imports_from_the_runtime_is_stdlib_and_numpy(module: str) -> None:
    tree = ast.parse((RUNTIME / f"{module}.py").read_text())
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    assert all_roots(tree) <= allowed, all_roots(tree) - allowed


def test_robot_command_module_imports_only_the_stdlib_at_import_time() -> None:
    tree = ast.parse((RUNTIME / "robot.py").read_text())
    assert top_level_roots(tree) <= set(sys.stdlib_module_names)
