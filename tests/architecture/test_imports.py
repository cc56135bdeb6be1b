"""The package's shape, checked from its code: imports flow one way, no circles, short files."""

from __future__ import annotations

import ast

from .imports import FRAMEWORK, LAYERS, PACKAGE, cycles, folder, imports, modules, upward_imports

MAX_LINES = 600


def test_every_folder_has_a_layer() -> None:
    folders = {folder(m) for m in modules()} - {""}
    assert folders <= set(LAYERS), folders - set(LAYERS)


def test_no_import_runs_up_between_folders() -> None:
    bad = [f"{i.source}:{i.line} imports {i.target}" for i in upward_imports()]
    assert not bad, "\n".join(bad)


def test_no_import_circles() -> None:
    assert cycles() == []


def test_framework_imports_only_relatively() -> None:
    """Copied into exports as ``framework/``: an absolute ``dnne_robot`` import would break."""
    for mod, path in modules().items():
        if folder(mod) not in FRAMEWORK:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "dnne_robot" for n in names), (mod, node.lineno)


def test_framework_never_imports_the_build_side() -> None:
    for imp in imports():
        if folder(imp.source) in FRAMEWORK:
            assert folder(imp.target) in FRAMEWORK, f"{imp.source}:{imp.line} -> {imp.target}"


def test_no_file_is_longer_than_the_limit() -> None:
    long = {p.relative_to(PACKAGE.parent).as_posix(): n
            for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_no_private_name_is_imported_from_another_folder() -> None:
    """``_names`` are a folder's own: another folder that needs one needs a public API."""
    known = modules()
    bad = []
    for mod, path in known.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("dnne_robot") or folder(source) == folder(mod):
                continue
            bad += [f"{mod}:{node.lineno} imports {source}.{a.name}" for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "\n".join(bad)
