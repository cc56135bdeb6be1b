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


MODULES = sorted(p.relative_to(ENVS_DIR).as_posix() for p in ENVS_DIR.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
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
        entry = gym.spec("dnne/Reach-pybullet-v0").entry_point
        print(f"{entry.__module__}:{entry.__name__}")
        print(any(m.startswith("dnne_robot") for m in sys.modules))
        """,
        cwd=tmp_path,
        env=env,
    )
    assert out.split()[-2:] == ["framework.envs.env:TaskEnv", "False"]


def _module_name(rel: str) -> str:
    """``physics/mujoco.py`` -> ``physics.mujoco``; ``tasks/__init__.py`` -> ``tasks``."""
    parts = rel[: -len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _relative_imports(rel: str) -> list[tuple[ast.AST, str]]:
    """(node, envs module it names) for every relative import in ``rel``, at any depth."""
    tree = ast.parse((ENVS_DIR / rel).read_text())
    here = _module_name(rel).split(".") if rel != "__init__.py" else []
    package = here if rel.endswith("__init__.py") else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [".".join(target)] if node.module else []
            # "from . import x" / "from .physics import mujoco" may name submodules.
            names += [".".join([*target, a.name]) for a in node.names]
            out += [(node, n) for n in names if n in {_module_name(m) for m in MODULES}]
    return out


def test_no_import_cycles_between_envs_modules() -> None:
    """Module-level and function-level relative imports alike form a DAG."""
    graph = {_module_name(m): {t for _, t in _relative_imports(m)} for m in MODULES}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError(f"import cycle: {' -> '.join([*path[path.index(node) :], node])}")
        if node in done:
            return
        for target in graph.get(node, ()):
            if target != node:
                visit(target, [*path, node])
        done.add(node)

    for module in graph:
        visit(module, [])


@pytest.mark.parametrize("engine", ["mujoco", "pybullet"])
def test_only_the_physics_module_uses_its_engine(engine: str) -> None:
    """``physics/<engine>.py`` alone imports the engine, through ``engines``' lazy helpers."""
    helpers = {"mujoco": {"import_mujoco"}, "pybullet": {"import_pybullet", "pybullet_data_path"}}
    owner = f"physics/{engine}.py"
    for module in MODULES:
        tree = ast.parse((ENVS_DIR / module).read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        imported = {name for _, name, level in _imports(tree) if level == 0}
        if module in (owner, "engines.py"):
            continue
        assert engine not in imported, f"{module} imports {engine}"
        assert not names & helpers[engine], f"{module} uses {names & helpers[engine]}"


def test_physics_modules_are_never_imported_at_module_level() -> None:
    """An export without an engine's physics module must still import and register."""
    physics_modules = {"physics.mujoco", "physics.pybullet"}
    for module in MODULES:
        if _module_name(module) in physics_modules:
            continue
        tree = ast.parse((ENVS_DIR / module).read_text())
        top = {id(n) for n in tree.body}
        for node, target in _relative_imports(module):
            assert not (target in physics_modules and id(node) in top), (module, target)


def test_export_without_pybullet_physics(tmp_path: Path) -> None:
    """A package exported for mujoco has no physics/pybullet.py: pybullet fails clearly."""
    pytest.importorskip("mujoco")
    pkg = tmp_path / "framework"
    shutil.copytree(ENVS_DIR, pkg / "envs", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "envs" / "physics" / "pybullet.py").unlink()
    (pkg / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = _run(
        """
        import sys
        import gymnasium as gym
        import framework.envs as envs
        from framework.envs import EngineNotExportedError, EnvError

        print(envs.physics_available("mujoco"), envs.physics_available("pybullet"))
        attempts = {
            "make_env": lambda: envs.make_env("CartPole", "pybullet"),
            "model file": lambda: envs.make_env("robot.urdf", "pybullet"),
            "gym.make": lambda: gym.make("dnne/Reach-pybullet-v0"),
        }
        for what, attempt in attempts.items():
            try:
                attempt()
            except EngineNotExportedError as err:
                assert isinstance(err, EnvError)
                print(what, "|", err)
        # Even with pybullet missing too, the missing physics module is what gets reported.
        sys.modules["pybullet"] = None
        try:
            envs.make_env("Pendulum", "pybullet")
        except EngineNotExportedError as err:
            print("not installed either |", err)
        # The engine the package was exported for still runs, and sim2sim skips the other.
        vec = envs.make_env("CartPole", "mujoco", seed=0)
        vec.reset()
        vec.step(vec.action_space.sample())
        rows = envs.sim_to_sim_table(lambda o: (o[:, 2] > 0).astype(int), "CartPole", episodes=1)
        print("sim2sim", [(r["engine"], (r["skipped"] or "ran").split(":")[0]) for r in rows])
        """,
        cwd=tmp_path,
        env=env,
    )
    lines = out.strip().splitlines()
    assert lines[0] == "True False"
    reported = lines[1:5]
    assert [line.split(" | ")[0] for line in reported] == [
        "make_env",
        "model file",
        "gym.make",
        "not installed either",
    ]
    for line in reported:
        message = line.split(" | ")[1]
        assert "'pybullet' engine is not in this package" in message
        assert "envs/physics/pybullet.py" in message
        assert "re-export with --sim pybullet" in message.lower()
    assert lines[5] == (
        "sim2sim [('gymnasium', 'ran'), ('mujoco', 'ran'), "
        "('pybullet', \"the 'pybullet' engine is not in this package\")]"
    )
