"""deploy.py is rendered into every RL export (and only those): a short entry point over
framework/robot/deploy.py, which with everything it imports stays torch+numpy only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dnne_robot.pipeline import export

REPO = Path(__file__).resolve().parents[2]
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


def relative_imports(tree: ast.Module, top_level: bool) -> set[str]:
    """``from .x import y`` (``.x``) and ``from ..envs import y`` (``..envs``) imports."""
    nodes = tree.body if top_level else list(ast.walk(tree))
    return {"." * n.level + (n.module or "") for n in nodes
            if isinstance(n, ast.ImportFrom) and n.level}


def deploy_modules(export_dir: Path) -> dict[str, ast.Module]:
    """framework/robot/deploy.py and every robot module it imports, parsed."""
    robot = export_dir / "framework" / "robot"
    found: dict[str, ast.Module] = {}
    todo = ["deploy"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = ast.parse((robot / f"{name}.py").read_text())
        todo += [m[1:] for m in relative_imports(found[name], top_level=True)
                 if m.startswith(".") and not m.startswith("..")]
    return found


@pytest.mark.parametrize("scenario, sim", RL_SCENARIOS)
def test_rl_exports_get_deploy_py(tmp_path: Path, scenario: str, sim: str) -> None:
    out = tmp_path / "x"
    export(REPO / "scenarios" / scenario, out, sim=sim)
    tree = ast.parse((out / "deploy.py").read_text())
    assert top_level_roots(tree) <= set(sys.stdlib_module_names) | {"__future__", "framework"}
    assert "framework.robot.deploy" in {n.module for n in ast.walk(tree)
                                        if isinstance(n, ast.ImportFrom)}
    # torch (or onnxruntime for an ONNX policy), numpy and the stdlib; the simulator
    # (framework/envs) only inside SimRobot, for --robot sim:ENGINE.
    allowed = set(sys.stdlib_module_names) | {"numpy", "torch", "onnxruntime"}
    modules = deploy_modules(out)
    assert {"deploy", "control", "controller", "policy", "protocol", "transports"} <= set(modules)
    for name, module in modules.items():
        assert all_roots(module) <= allowed, (name, all_roots(module) - allowed)
        assert not {"torch", "onnxruntime"} & top_level_roots(module), name  # --help is instant
        assert not {m for m in relative_imports(module, top_level=True) if m.startswith("..")}
        deeper = {m for m in relative_imports(module, top_level=False) if m.startswith("..")}
        assert deeper <= {"..envs"}, (name, deeper)
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
