"""Properties every export has: stable bytes, valid and lint-clean Python, standalone, atomic."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import regen_golden
from regen_golden import SCENARIOS_DIR, SIMS

from dnne_robot.pipeline import export
from dnne_robot.render.literals import py_literal
from dnne_robot.render.package import RenderError
from dnne_robot.validate import ValidationError

COMBOS = [(scenario, sim) for scenario in regen_golden.scenarios() for sim in SIMS]
ENGINE_PACKAGES = {"mujoco", "pybullet"}


@pytest.fixture(params=COMBOS, ids=[regen_golden.golden_name(*c) for c in COMBOS])
def export_dir(request: pytest.FixtureRequest, exported: Callable[[str, str], Path]) -> Path:
    scenario, sim = request.param
    if regen_golden.refusal(scenario, sim) is not None:
        pytest.skip(f"{scenario} has no task on {sim}")
    return exported(scenario, sim)


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_two_exports_are_byte_identical(export_dir: Path, tmp_path: Path,
                                         export_to: Callable[..., Path]) -> None:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    scenario, sim = manifest["workflow"], manifest["sim"]
    again = export_to(scenario, sim, tmp_path / "deeper" / "elsewhere")
    assert regen_golden.tree(again) == regen_golden.tree(export_dir)


def test_no_absolute_paths_or_timestamps(export_dir: Path) -> None:
    for rel, data in regen_golden.tree(export_dir).items():
        if rel.startswith("framework/"):
            continue
        text = data.decode()
        assert str(export_dir) not in text and str(SCENARIOS_DIR) not in text, rel
        assert str(Path.home()) not in text, rel


def test_every_python_file_parses(export_dir: Path) -> None:
    files = _python_files(export_dir)
    assert (export_dir / "runner.py") in files
    for path in files:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_generated_code_is_lint_clean(export_dir: Path) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    proc = subprocess.run(
        [ruff, "check", "--isolated", "--no-cache", "--select", "E,F,W,I,B,UP",
         "--line-length", "100", "--target-version", "py311", "."],
        cwd=export_dir, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nothing_imports_dnne_robot(export_dir: Path) -> None:
    for path in _python_files(export_dir):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "__import__" and node.args
                  and isinstance(node.args[0], ast.Constant)):
                names = [str(node.args[0].value)]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "dnne_robot", (
                    f"{path.relative_to(export_dir)}:{node.lineno} imports {name}")


def test_requirements_list_only_the_chosen_engine(export_dir: Path) -> None:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    lines = [line.strip() for line in (export_dir / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    names = {line.split(">")[0].split("=")[0].split("[")[0].strip().lower() for line in lines}
    assert lines == sorted(set(lines)), "requirements are sorted and unique"
    assert "dnne-robot" not in names and "dnne_robot" not in names
    engines = names & ENGINE_PACKAGES
    if "framework/envs/__init__.py" in manifest["framework"]:
        assert "gymnasium" in names
        expected = {manifest["sim"]} & ENGINE_PACKAGES
        assert engines == expected, f"{manifest['sim']} export lists {sorted(engines)}"
    else:
        assert engines == set()


def test_manifest_names_every_node_file(export_dir: Path) -> None:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        assert (export_dir / node["file"]).is_file()
    generated = {p.name for p in (export_dir / "generated_nodes").glob("node_*.py")}
    assert generated == {Path(n["file"]).name for n in manifest["nodes"].values()}


def test_export_folder_is_not_private(exported: Callable[[str, str], Path]) -> None:
    if os.name != "posix":
        pytest.skip("POSIX modes")
    mask = os.umask(0)
    os.umask(mask)
    mode = exported("mlp_regression.json", "gymnasium").stat().st_mode & 0o777
    assert mode == 0o777 & ~mask


# ----------------------------------------------------------------------------- atomic writes
def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_failing_template_override_writes_nothing(tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "nodes"
    overrides.mkdir(parents=True)
    (overrides / "linear.py.jinja").write_text("{{ raise_an_error_here }}\n")
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(RenderError, match=r"linear\.py\.jinja.*#2"):
        export(SCENARIOS_DIR / "mlp_regression.json", parent / "pkg",
               templates=[tmp_path / "templates"])
    assert _leftovers(parent) == []


def test_template_producing_invalid_python_is_refused(tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "nodes"
    overrides.mkdir(parents=True)
    (overrides / "or_merge.py.jinja").write_text("def broken(:\n")
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(RenderError, match="invalid Python"):
        export(SCENARIOS_DIR / "cartpole_ppo.json", parent / "pkg",
               templates=[tmp_path / "templates"])
    assert _leftovers(parent) == []


def test_workflow_with_errors_writes_nothing(tmp_path: Path) -> None:
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(ValidationError):
        export(Path(__file__).parents[1] / "cli" / "data" / "type_mismatch.json",
               parent / "pkg")
    assert _leftovers(parent) == []


def test_failure_while_writing_keeps_the_previous_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export_to: Callable[..., Path]) -> None:
    parent = tmp_path / "out"
    target = export_to("mlp_regression.json", "gymnasium", parent / "pkg")
    before = regen_golden.tree(target)
    written = []
    real_write = Path.write_bytes

    def flaky(self: Path, data: bytes) -> int:
        written.append(self)
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError, match="No space"):
        export(SCENARIOS_DIR / "cartpole_ppo.json", target, force=True)
    monkeypatch.undo()
    assert _leftovers(parent) == ["pkg"]
    assert regen_golden.tree(target) == before


def test_failure_during_the_swap_restores_the_previous_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export_to: Callable[..., Path]) -> None:
    parent = tmp_path / "out"
    target = export_to("mlp_regression.json", "gymnasium", parent / "pkg")
    before = regen_golden.tree(target)
    real_replace = os.replace
    calls = []

    def second_fails(src, dst) -> None:
        calls.append((src, dst))
        if len(calls) == 2:  # the old folder is moved aside, the new one fails to move in
            raise OSError(18, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(OSError):
        export(SCENARIOS_DIR / "cartpole_ppo.json", target, force=True)
    monkeypatch.undo()
    assert _leftovers(parent) == ["pkg"]
    assert regen_golden.tree(target) == before


def test_non_empty_target_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    export(SCENARIOS_DIR / "mlp_regression.json", target)
    with pytest.raises(FileExistsError, match="--force"):
        export(SCENARIOS_DIR / "mlp_regression.json", target)
    export(SCENARIOS_DIR / "mlp_regression.json", target, force=True)
    assert (target / "runner.py").is_file() and _leftovers(tmp_path) == ["pkg"]


def test_empty_target_needs_no_force(tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    target.mkdir()
    export(SCENARIOS_DIR / "mlp_regression.json", target)
    assert (target / "runner.py").is_file()


def test_force_never_replaces_a_folder_that_is_not_an_export(tmp_path: Path) -> None:
    target = tmp_path / "thesis"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="not an export dnne-robot wrote"):
        export(SCENARIOS_DIR / "mlp_regression.json", target, force=True)
    assert _leftovers(target) == ["thesis.tex"]
    assert (target / "thesis.tex").read_text() == "years of work"
    assert _leftovers(tmp_path) == ["thesis"]


def test_force_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    target.write_text("not a folder")
    for force in (False, True):
        with pytest.raises(FileExistsError, match="is not a folder"):
            export(SCENARIOS_DIR / "mlp_regression.json", target, force=force)
    assert target.read_text() == "not a folder" and _leftovers(tmp_path) == ["pkg"]


@pytest.mark.parametrize("where", [".", "..", "../..", "/"])
def test_force_never_replaces_the_working_folder_or_one_above_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    here = tmp_path / "cwdtest" / "sub"
    here.mkdir(parents=True)
    (here / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    with pytest.raises(FileExistsError, match="current folder or a folder above it"):
        export(SCENARIOS_DIR / "mlp_regression.json", Path(where), force=True)
    assert (here / "notes.txt").read_text() == "mine"


def test_force_keeps_the_runs_and_policies_of_the_previous_export(tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    export(SCENARIOS_DIR / "cartpole_ppo.json", target)
    (target / "runs" / "latest").mkdir(parents=True)
    (target / "runs" / "latest" / "metrics.csv").write_text("global_step\n1\n")
    (target / "policy.pt").write_bytes(b"trained")
    (target / "data").mkdir()
    (target / "data" / "set.bin").write_bytes(b"\x00")
    (target / "runner.py").write_text("# edited by hand")
    kept = export(SCENARIOS_DIR / "cartpole_ppo.json", target, force=True).kept
    assert kept == ["data", "policy.pt", "runs"]
    assert (target / "runs" / "latest" / "metrics.csv").read_text() == "global_step\n1\n"
    assert (target / "policy.pt").read_bytes() == b"trained"
    assert (target / "data" / "set.bin").read_bytes() == b"\x00"
    assert (target / "runner.py").read_text() != "# edited by hand"  # generated: replaced
    assert _leftovers(tmp_path) == ["pkg"]


# ----------------------------------------------------------------------------- hostile input
HOSTILE_TITLES = {
    "1": '"""); import os; os.system("echo pwned") #',
    "2": "line one\nline two\r\n# not a comment",
    "3": "{{ 7*7 }} {% raw %}",
    "4": "class",
    "5": "🤖 trainer\\",
}


def test_hostile_titles_and_values_stay_data(tmp_path: Path) -> None:
    data = json.loads((SCENARIOS_DIR / "mlp_regression.json").read_text())
    for node in data["nodes"]:
        node["title"] = HOSTILE_TITLES[str(node["id"])]
    source = tmp_path / 'evil"\nname.json'
    source.write_text(json.dumps(data))
    out = tmp_path / "pkg"
    export(source, out)
    for path in _python_files(out):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr != "system", f"code injected into {path.name}"
    runner = (out / "runner.py").read_text()
    for title in HOSTILE_TITLES.values():
        assert py_literal(title) in runner
    assert "49" not in (out / "generated_nodes" / "__init__.py").read_text()
    proc = subprocess.run([sys.executable, "runner.py", "--help"], cwd=out,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_hostile_node_ids_give_lint_clean_modules(tmp_path: Path) -> None:
    """Ids that are not small integers in order: 10 before 9, subgraph ids, words, non-ASCII."""
    from dnne_robot.pipeline import widget_lookup
    from dnne_robot.workflow import load_workflow, to_api_prompt

    prompt = to_api_prompt(load_workflow(SCENARIOS_DIR / "cartpole_ppo.json",
                                         widgets=widget_lookup))
    renamed = {"1": "10", "2": "9", "3": "5:3", "4": "class", "5": "ü ö", "6": "../x",
               "7": "007"}
    data = {}
    for old_id, node in prompt.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                node["inputs"][name] = [renamed[value[0]], value[1]]
        node["_meta"] = {"title": "same title"}
        data[renamed[old_id]] = node
    source = tmp_path / "ids.json"
    source.write_text(json.dumps(data))
    out = tmp_path / "pkg"
    export(source, out)
    modules = sorted(p.name for p in (out / "generated_nodes").glob("node_*.py"))
    assert len(modules) == 7 and all(Path(m).stem.isidentifier() for m in modules)
    assert all((out / "generated_nodes").iterdir())
    test_generated_code_is_lint_clean(out)
    test_nothing_imports_dnne_robot(out)
    proc = subprocess.run([sys.executable, "runner.py", "--help"], cwd=out,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
