"""The package's import graph, read from the code: every ``import`` and ``from ... import``
in every module of ``dnne_robot``, at module level or inside functions."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from dnne_robot.validate.checks import strongly_connected

PACKAGE = Path(__file__).resolve().parents[2] / "dnne_robot"

#: The folders of ``dnne_robot`` from the bottom up: a module may import its own folder and
#: the folders below it, never one above. The first seven are copied into exports.
LAYERS = (
    "runtime", "envs", "rl", "robot", "nodes", "session", "distributed",  # run side
    "workflow", "catalog", "validate", "plan", "exporters", "render", "pipeline", "comfyui",
    "cli", "__main__",  # build side; `python -m dnne_robot` on top
)
FRAMEWORK = LAYERS[:7]


@dataclass(frozen=True)
class Import:
    source: str  # dotted module name, e.g. "dnne_robot.session.training"
    target: str  # dotted module imported (the deepest module that exists)
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "__pycache__" not in p.parts}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports() -> list[Import]:
    known = modules()
    found = []
    for mod, path in known.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        functions = [n for n in ast.walk(tree)
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        nested = {id(c) for f in functions for c in ast.walk(f)}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".")
                    base = base if is_pkg else base[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [f"{prefix}.{a.name}" for a in node.names] + [prefix]
            for target in targets:
                if not target.startswith("dnne_robot"):
                    continue
                resolved = _resolve(target, known)
                if resolved and resolved != mod:
                    found.append(Import(mod, resolved, node.lineno, id(node) in nested))
    return sorted(set(found), key=lambda i: (i.source, i.line, i.target))


def folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports() -> list[Import]:
    """Imports from a folder into a folder above it in :data:`LAYERS`."""
    bad = []
    for imp in imports():
        src, dst = folder(imp.source), folder(imp.target)
        if src == dst or not dst:
            continue
        if src not in LAYERS or dst not in LAYERS or LAYERS.index(dst) > LAYERS.index(src):
            bad.append(imp)
    return bad


def cycles() -> list[list[str]]:
    """Strongly connected groups of modules (import circles), package __init__ edges aside.

    ``pkg/__init__.py`` re-exporting ``pkg.mod`` while ``pkg.mod`` imports a sibling
    through the package is not counted: the edge into a package's own ``__init__`` from
    inside the package is how relative imports resolve, not a dependency of design.
    """
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports():
        if imp.source.startswith(imp.target + "."):
            continue  # a module importing its own package
        graph[imp.source].add(imp.target)
    return sorted(sorted(group) for group in strongly_connected(graph) if len(group) > 1)

if __name__ == "__main__":
    for imp in upward_imports():
        print(f"upward: {imp.source}:{imp.line} -> {imp.target}")
    for group in cycles():
        print("cycle:", " <-> ".join(group))
    total = [i for i in imports() if i.in_function]
    print(f"{len(total)} imports inside functions")
