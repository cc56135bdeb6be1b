"""The generated pack: what ComfyUI sees when it imports it, and how it is written."""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.util
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dnne_robot.catalog import all_specs, get_spec, object_info
from dnne_robot.comfyui import EXPORT_NODE, PackError, pack, render_pack, write_pack

from .helpers import forget_pack, import_pack, is_widget

REPO = Path(__file__).resolve().parents[2]
INFO = object_info()
CLASS_TYPES = [spec.class_type for spec in all_specs()]


def as_catalog_shape(section: dict[str, Any]) -> dict[str, list[Any]]:
    """``INPUT_TYPES`` entries are ``(type, opts)`` tuples; ``object_info`` has lists."""
    assert all(isinstance(entry, tuple) and len(entry) == 2 for entry in section.values())
    return {name: [type_entry, opts] for name, (type_entry, opts) in section.items()}


# ---------------------------------------------------------------- what ComfyUI imports


def test_comfyui_finds_the_mappings(pack: ModuleType) -> None:
    assert set(pack.__all__) == {"NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"}
    assert set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    assert pack.NODE_CLASS_MAPPINGS[EXPORT_NODE].OUTPUT_NODE is True


def test_imports_without_submodule_search_locations(pack_dir: Path) -> None:
    """Older ComfyUI builds the spec from ``__init__.py`` alone; relative imports still work."""
    name = "dnne_robot_nodes_plain_spec"
    try:
        module = import_pack(pack_dir, name, search_locations=False)
        assert set(CLASS_TYPES) <= set(module.NODE_CLASS_MAPPINGS)
    finally:
        forget_pack(name)


def test_no_comfyui_or_dnne_robot_needed(pack_dir: Path) -> None:
    """The pack imports in a bare interpreter that cannot see dnne_robot or ComfyUI."""
    code = (
        "import importlib.util, sys\n"
        f"path = {str(pack_dir)!r}\n"
        "spec = importlib.util.spec_from_file_location('pack', path + '/__init__.py')\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['pack'] = module\n"
        "spec.loader.exec_module(module)\n"
        "assert 'dnne_robot' not in sys.modules and 'folder_paths' not in sys.modules\n"
        "print(len(module.NODE_CLASS_MAPPINGS))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                            text=True, cwd=pack_dir.parent, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= len(CLASS_TYPES) + 1


@pytest.mark.parametrize("class_type", CLASS_TYPES)
def test_node_class_matches_catalog(pack: ModuleType, class_type: str) -> None:
    cls = pack.NODE_CLASS_MAPPINGS[class_type]
    info = INFO[class_type]
    types = cls.INPUT_TYPES()
    assert set(types) == {"required", "optional"}
    for section in ("required", "optional"):
        assert as_catalog_shape(types[section]) == info["input"][section]
        assert list(types[section]) == info["input_order"][section]
    assert cls.RETURN_TYPES == tuple(info["output"])
    assert cls.RETURN_NAMES == tuple(info["output_name"])
    assert cls.CATEGORY == info["category"]
    assert cls.DESCRIPTION == (info["description"] or info["display_name"])
    assert cls.FUNCTION == "run"
    assert not getattr(cls, "OUTPUT_NODE", False)
    assert pack.NODE_DISPLAY_NAME_MAPPINGS[class_type] == info["display_name"]
    assert cls.__name__.isidentifier()


@pytest.mark.parametrize("class_type", CLASS_TYPES)
def test_run_returns_one_placeholder_per_output(pack: ModuleType, class_type: str) -> None:
    cls = pack.NODE_CLASS_MAPPINGS[class_type]
    types = cls.INPUT_TYPES()
    kwargs = {
        name: opts.get("default") if is_widget(type_entry) else object()
        for section in types.values()
        for name, (type_entry, opts) in section.items()
    }
    assert getattr(cls(), cls.FUNCTION)(**kwargs) == (None,) * len(cls.RETURN_TYPES)


def test_aliases_open_files_but_stay_out_of_the_menu(pack: ModuleType) -> None:
    """An alias is a DEPRECATED subclass of its type's class: ComfyUI opens files that use
    it with the same inputs and outputs, and its menu and search list one entry per type."""
    mappings = pack.NODE_CLASS_MAPPINGS
    checked = 0
    for spec in all_specs():
        for alias in spec.aliases:
            if get_spec(alias) is spec:
                cls, canonical = mappings[alias], mappings[spec.class_type]
                assert issubclass(cls, canonical) and cls.DEPRECATED is True, alias
                assert cls.INPUT_TYPES() == canonical.INPUT_TYPES()
                assert not getattr(canonical, "DEPRECATED", False)
                assert spec.display_name in pack.NODE_DISPLAY_NAME_MAPPINGS[alias]
                checked += 1
    assert checked > 0
    listed = [c for c in mappings.values() if not getattr(c, "DEPRECATED", False)]
    assert len(listed) == len(set(listed)) == len(CLASS_TYPES) + 1  # one per type + export


def test_every_input_and_output_has_a_one_line_tooltip(pack: ModuleType) -> None:
    for class_type in CLASS_TYPES:
        cls = pack.NODE_CLASS_MAPPINGS[class_type]
        for section in ("required", "optional"):
            for name, (_, opts) in cls.INPUT_TYPES().get(section, {}).items():
                tip = opts.get("tooltip", "")
                assert tip and "\n" not in tip and len(tip) <= 300, f"{class_type}.{name}"
        assert len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES), class_type
        assert all(t and "\n" not in t for t in cls.OUTPUT_TOOLTIPS), class_type
        assert cls.DESCRIPTION != pack.NODE_DISPLAY_NAME_MAPPINGS[class_type], class_type


def frontend_float_edit(value: float, opts: dict) -> float:
    """What ComfyUI's frontend stores when a user types ``value`` into a FLOAT widget
    (``useFloatWidget``: ``round: false`` counts as unset, and the grid is then 10^-precision
    with the precision taken from the step; ``onFloatValueChange`` snaps to the grid)."""
    round_ = opts.get("round") if isinstance(opts.get("round"), float | int) else None
    resolution = round_ if round_ else opts.get("step", 0.5)
    precision = max(0, -math.floor(math.log10(resolution)))
    grid = round_ if round_ else 10.0 ** -precision
    return round(round(value / grid) * grid, precision)


@pytest.mark.parametrize(("class_type", "field", "typed"), [
    ("PPOTrainerNode", "learning_rate", 3e-6),
    ("PPOTrainerNode", "learning_rate", 2.5e-4),
    ("PPOTrainerNode", "gamma", 0.9995),
    ("PPOTrainerNode", "entropy_coef", 0.0005),
    ("BatchNormNode", "eps", 1e-7),
])
def test_a_float_edit_survives_the_editor(pack: ModuleType, class_type: str, field: str,
                                          typed: float) -> None:
    cls = pack.NODE_CLASS_MAPPINGS[class_type]
    types = {**cls.INPUT_TYPES()["required"], **cls.INPUT_TYPES().get("optional", {})}
    _, opts = types[field]
    stored = frontend_float_edit(typed, opts)
    assert stored == pytest.approx(typed, rel=1e-6), (field, opts, stored)


def test_every_class_is_distinct_and_named_in_nodes_py(pack: ModuleType) -> None:
    classes = {pack.NODE_CLASS_MAPPINGS[ct] for ct in CLASS_TYPES}
    assert len(classes) == len(CLASS_TYPES)
    for cls in classes:
        assert getattr(pack.nodes, cls.__name__) is cls


# ---------------------------------------------------------------- the generated source


def test_render_is_deterministic_and_sorted() -> None:
    first, second = render_pack(), render_pack()
    assert first == second
    assert list(first) == sorted(first)
    assert set(first) == {"README.md", "__init__.py", "export_node.py", "nodes.py"}


def test_render_is_stable_across_processes() -> None:
    """Hash seeds differ between processes; the bytes must not."""
    code = (
        "import hashlib\n"
        "from dnne_robot.comfyui import render_pack\n"
        "h = hashlib.sha256()\n"
        "for rel, data in render_pack().items():\n"
        "    h.update(rel.encode() + b'\\0' + data + b'\\0')\n"
        "print(h.hexdigest())\n"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=REPO, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        digests.add(result.stdout.strip())
    here = hashlib.sha256()
    for rel, data in render_pack().items():
        here.update(rel.encode() + b"\0" + data + b"\0")
    assert digests == {here.hexdigest()}


def test_generated_python_parses_and_is_plain_text() -> None:
    for rel, data in render_pack().items():
        text = data.decode("utf-8")
        assert text.endswith("\n") and "\r" not in text and "\t" not in text, rel
        assert str(REPO) not in text, rel  # no absolute paths
        if rel.endswith(".py"):
            ast.parse(text, filename=rel)
            assert max(len(line) for line in text.splitlines()) <= 100, rel


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_generated_code_is_ruff_clean(pack_dir: Path) -> None:
    result = subprocess.run(
        ["ruff", "check", "--no-cache", "--config", str(REPO / "pyproject.toml"), str(pack_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_explains_install_and_export() -> None:
    readme = render_pack()["README.md"].decode()
    assert "custom_nodes" in readme
    assert "dnne-robot export" in readme
    assert EXPORT_NODE in readme
    for class_type in CLASS_TYPES:
        assert f"`{class_type}`" in readme


# ---------------------------------------------------------------- hostile catalog text


def test_hostile_catalog_text_stays_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Names and help text from a plugin reach the pack as data, never as code."""
    evil = ('x"""; import builtins; builtins.PWNED = 1 #\n\'\'\'{{ 7*7 }}\\\')"; '
            "builtins.PWNED = 2 #")
    base = INFO["LinearLayerNode"]
    entry = {
        **base,
        "display_name": "Evil " + evil,
        "description": evil * 3,
        "category": "dnne-robot/" + evil,
        "input": {
            "required": {"in put": ["TENSOR", {"tooltip": evil}],
                         "class": [["a" * 150, evil], {"default": evil}]},
            "optional": {"n": ["INT", {"default": 1, "min": 0, "max": 10 ** 30}]},
        },
        "output": ["TENSOR" + evil],
        "output_name": ["out" + evil],
        "aliases": ["EvilAlias" + evil],
    }
    hostile_type = 'Node"); import os #'
    fake_info = {**INFO, hostile_type: entry, "class": {**base, "aliases": []}}

    def fake_get_spec(name: str) -> Any:
        if name == "EvilAlias" + evil:
            return type("Spec", (), {"class_type": hostile_type})()
        return get_spec(name)

    monkeypatch.setattr(pack, "object_info", lambda: fake_info)
    monkeypatch.setattr(pack, "get_spec", fake_get_spec)
    out = tmp_path / "evil_pack"
    write_pack(out)
    for path in out.glob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    name = "dnne_robot_evil_pack"
    try:
        module = import_pack(out, name)
        cls = module.NODE_CLASS_MAPPINGS[hostile_type]
        assert cls.__name__.isidentifier()
        assert issubclass(module.NODE_CLASS_MAPPINGS["EvilAlias" + evil], cls)
        assert module.NODE_DISPLAY_NAME_MAPPINGS[hostile_type] == "Evil " + evil
        assert cls.DESCRIPTION == evil * 3
        assert cls.CATEGORY == "dnne-robot/" + evil
        assert cls.RETURN_NAMES == ("out" + evil,)
        types = cls.INPUT_TYPES()
        assert as_catalog_shape(types["required"]) == entry["input"]["required"]
        assert as_catalog_shape(types["optional"]) == entry["input"]["optional"]
        # A catalog type named like a builtin still gets a usable, distinct class.
        assert module.NODE_CLASS_MAPPINGS["class"] is not module.NODE_CLASS_MAPPINGS[
            "LinearLayerNode"]
        assert not hasattr(builtins, "PWNED")
    finally:
        forget_pack(name)


def test_catalog_may_not_claim_the_export_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pack, "object_info", lambda: {**INFO, EXPORT_NODE: INFO["ORNode"]})
    with pytest.raises(PackError, match=EXPORT_NODE):
        render_pack()


# ---------------------------------------------------------------- write_pack


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_write_pack_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "dnne_robot_nodes"
    written = write_pack(out)
    files = render_pack()
    assert written == sorted(out / rel for rel in files)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data
    assert _siblings(out) == ["dnne_robot_nodes"]  # no temporary folder left
    assert (out.stat().st_mode & 0o755) == 0o755  # readable by a ComfyUI running as another user


def test_write_pack_into_an_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    out.mkdir()
    write_pack(out)
    assert (out / "__init__.py").is_file()


def test_write_pack_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        write_pack(out)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert _siblings(out) == ["pack"]


def test_write_pack_refuses_a_file(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    out.write_text("a file")
    with pytest.raises(FileExistsError):
        write_pack(out)
    assert out.read_text() == "a file"


def test_force_replaces_a_previous_pack_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "pack"
    write_pack(out)
    (out / "nodes.py").write_text("old")
    (out / "notes.txt").write_text("mine")
    write_pack(out, force=True)
    assert (out / "nodes.py").read_bytes() == render_pack()["nodes.py"]
    assert (out / "notes.txt").read_text() == "mine"
    assert _siblings(out) == ["pack"]


def test_force_never_replaces_a_folder_that_is_not_a_pack(tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="not a node pack dnne-robot wrote"):
        write_pack(out, force=True)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_a_render_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, bytes]:
        raise PackError("template comfyui/nodes.py.jinja failed")

    monkeypatch.setattr(pack, "render_pack", broken)
    out = tmp_path / "pack"
    with pytest.raises(PackError):
        write_pack(out)
    assert list(tmp_path.iterdir()) == []


def test_a_write_failure_leaves_nothing_behind(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = Path.write_bytes
    calls = []

    def failing_write(self: Path, data: bytes) -> int:
        calls.append(self)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    out = tmp_path / "pack"
    with pytest.raises(OSError, match="disk full"):
        write_pack(out)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_swap_keeps_the_old_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename of the new pack into place fails after the user's files were moved into
    it: they go back, with the old pack, and nothing else is left."""
    from dnne_robot.render import output

    out = tmp_path / "pack"
    write_pack(out)
    (out / "nodes.py").write_text("old")
    (out / "notes.txt").write_text("mine")
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst) == out and Path(src).name.startswith(".pack.") and ".old" not in str(src):
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_pack(out, force=True)
    assert (out / "nodes.py").read_text() == "old"
    assert (out / "notes.txt").read_text() == "mine"
    assert _siblings(out) == ["pack"]


def test_comfyui_is_not_installed_here() -> None:
    """The import tests above prove the pack loads without ComfyUI only if it is absent."""
    assert importlib.util.find_spec("folder_paths") is None
    assert importlib.util.find_spec("comfy") is None
