"""Which framework modules an export carries, and why.

An export copies the framework modules its plan names (the node classes its nodes subclass,
the runner's commands and backends, the chosen engine's physics) and every module those
import, read from their code. So an export has no Ray code without ``--backend ray``, no
pybullet adapter under ``--sim mujoco`` and no ML trainer in an RL-only graph.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: The packages of ``dnne_robot`` that exports copy from (``framework/<package>/...``).
FRAMEWORK_PACKAGES = ("runtime", "envs", "rl", "robot", "nodes", "session", "distributed")


@dataclass(frozen=True)
class RunnerPart:
    """Something ``runner.py`` (or ``deploy.py``) imports, with the modules it needs.

    Attributes:
        modules: framework modules it needs (``"session.commands"``).
        imports: the import lines ``runner.py`` gets.
        commands: expressions for ``main(..., commands=[...])``.
        backends: expressions for ``main(..., backends=[...])``.
        why: what it is for, as the manifest says it.
    """

    modules: tuple[str, ...]
    imports: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    why: str = ""


RUNNER = RunnerPart(("session",), ("from framework.runtime import Graph, RunContext",
                                   "from framework.session import main"),
                    why="runner.py: train")
POLICY_COMMANDS = RunnerPart(
    ("session.commands", "robot.server"),
    ("from framework.robot.server import COMMAND as SERVE_ROBOT",
     "from framework.session.commands import POLICY_COMMANDS"),
    commands=("*POLICY_COMMANDS", "SERVE_ROBOT"),
    why="runner.py of an RL graph: evaluate, export-policy, sim2sim, record, serve-robot",
)
GRAPH_COMMANDS = RunnerPart(
    ("session.evaluation",), ("from framework.session.evaluation import EVALUATE_GRAPH",),
    commands=("EVALUATE_GRAPH",),
    why="runner.py of a graph without a policy: evaluate (the trained graph on test data)",
)
DEPLOY = RunnerPart(("robot.deploy",), why="deploy.py: the policy on a robot")
RAY = RunnerPart(("distributed",), ("from framework.distributed import RayBackend",),
                 backends=("RayBackend()",), why="--backend ray: rollouts on Ray workers")


def module_file(module: str) -> Path | None:
    """``"nodes.rl"`` -> ``nodes/rl.py``, ``"runtime"`` -> ``runtime/__init__.py``."""
    base = PACKAGE_ROOT.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _module_of(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(PACKAGE_ROOT).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imported_modules(path: Path) -> list[str]:
    """The framework modules ``path`` imports (relative imports, anywhere in the file)."""
    module, is_package = _module_of(path)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = package[: len(package) - (node.level - 1)]
        prefix = [*base, *(node.module.split(".") if node.module else [])]
        for alias in node.names:
            for candidate in (".".join([*prefix, alias.name]), ".".join(prefix)):
                if candidate and module_file(candidate) is not None:
                    found.append(candidate)
                    break
    return found


def closure(roots: dict[str, str]) -> dict[str, str]:
    """Every file the root modules need, with why: ``{"nodes/rl.py": "...", ...}``.

    A root's reason is the one given; a file pulled in by an import says which file imported
    it, and a package's ``__init__.py`` is there because a module inside it is.
    """
    why: dict[str, str] = {}
    queue: deque[tuple[str, str]] = deque(roots.items())
    while queue:
        module, reason = queue.popleft()
        path = module_file(module)
        if path is None:
            raise ValueError(f"framework module {module!r} does not exist")
        rel = path.relative_to(PACKAGE_ROOT).as_posix()
        if rel in why:
            continue
        why[rel] = reason
        parts = module.split(".")
        for i in range(1, len(parts)):
            queue.append((".".join(parts[:i]), f"package of {rel}"))
        for imported in imported_modules(path):
            queue.append((imported, f"imported by {rel}"))
    return dict(sorted(why.items()))


def data_files(python_files: dict[str, str]) -> dict[str, str]:
    """Non-Python files next to the copied packages (model assets), with why."""
    found = {}
    for rel in python_files:
        if not rel.endswith("/__init__.py"):
            continue
        package = (PACKAGE_ROOT / rel).parent
        for path in sorted(package.rglob("*")):
            if (path.is_dir() or path.suffix in (".py", ".pyc", ".pyo")
                    or "__pycache__" in path.parts):
                continue
            # Not inside a sub-package: a copied sub-package has its own __init__ entry.
            folders = path.relative_to(package).parent.parts
            if any((package.joinpath(*folders[: i + 1]) / "__init__.py").is_file()
                   for i in range(len(folders))):
                continue
            found[path.relative_to(PACKAGE_ROOT).as_posix()] = f"data of {rel}"
    return found
