"""envs/ is copied verbatim into exports: it must stand alone and import engines lazily."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dnne_robot.envs

ENVS_DIR = Path(dnne_robot.envs.__file__).parent
TOP_LEVEL_OK = {"numpy", "gymnasium"}
LAZY_ONLY = {"mujoco", "pybullet", "pybullet_data", "imageio"}


def _imports(tree: ast.AST) -> list[tuple[ast.AST, str, int]]:
    """(node, top-level module name, relative level) for every import statement."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, alias.name.split(".")[0], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node, (node.module or "").split(".")[0], node.level))
    return out


@pytest.mark.parametrize("module", sorted(p.name for p in ENVS_DIR.glob("*.py")))
def test_module_imports_are_standalone(module: str) -> None:
    tree = ast.parse((ENVS_DIR / module).read_text())
    module_level = {id(n) for n in tree.body}
    for node, name, level in _imports(tree):
        if level > 0:
            continue  # relative import inside envs
        assert name != "dnne_robot", f"{module} imports from dnne_robot: use a relative import"
        if name in LAZY_ONLY:
            assert id(node) not in module_level, f"{module} imports {name} at module level"
        else:
            assert name in TOP_LEVEL_OK or name in sys.stdlib_module_names, (module, name)


def _run(code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_pulls_in_no_engine() -> None:
    out = _run(
        """
        import sys
        import dnne_robot.envs as envs
        vec = envs.make_env("CartPole", num_envs=2, seed=0)
        vec.reset()
        vec.step(vec.action_space.sample())
        heavy = {"mujoco", "pybullet", "imageio", "torch"} & set(sys.modules)
        others = {m for m in sys.modules if m.startswith("dnne_robot.")
                  and not m.startswith("dnne_robot.envs")}
        print(sorted(heavy), sorted(others))
        """,
        cwd=ENVS_DIR.parents[1],
    )
    assert out.strip() == "[] []"


def test_copied_as_framework_envs(tmp_path: Path) -> None:
    """The export layout (framework/envs) registers and makes envs under its own name."""
    pytest.importorskip("pybullet")
    pkg = tmp_path / "framework"
    shutil.copytree(ENVS_DIR, pkg / "envs", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = _run(
        """
        import sys
        import gymnasium as gym
        import framework.envs as envs
        vec = envs.make_env("Reach", "pybullet", seed=0)
        vec.reset()
        vec.step(vec.action_space.sample())
        print(gym.spec("dnne/Reach-pybullet-v0").entry_point)
        print(any(m.startswith("dnne_robot") for m in sys.modules))
        """,
        cwd=tmp_path,
        env=env,
    )
    assert out.split()[-2:] == ["framework.envs.pybullet_envs:ReachPyBullet", "False"]
