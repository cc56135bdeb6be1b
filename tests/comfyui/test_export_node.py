"""The pack's output node: a graph built from the pack's own definitions, saved and read back."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from dnne_robot.comfyui import EXPORT_NODE
from dnne_robot.validate import check_workflow
from dnne_robot.workflow import Link, load_workflow

from .helpers import PromptBuilder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def export_cls(pack: ModuleType) -> type:
    return pack.NODE_CLASS_MAPPINGS[EXPORT_NODE]


@pytest.fixture
def output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ComfyUI's ``folder_paths`` module, faked to point at a temporary output folder."""
    out = tmp_path / "ComfyUI" / "output"
    fake = SimpleNamespace(get_output_directory=lambda: str(out))
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    return out


def regression_graph(pack: ModuleType) -> PromptBuilder:
    """Data -> Linear -> Activation -> Linear -> Trainer, the trainer gating the next batch."""
    g = PromptBuilder(pack.NODE_CLASS_MAPPINGS)
    data = g.add("1", "RegressionDataNode", "Data")
    hidden = g.add("2", "LinearLayerNode", "Hidden")
    act = g.add("3", "ActivationNode", "Act")
    head = g.add("4", "LinearLayerNode", "Head", output_size=1)
    trainer = g.add("5", "SupervisedTrainerNode", "Trainer")
    g.link(data, "features", hidden, "input")
    g.link(hidden, "output", act, "input")
    g.link(act, "output", head, "input")
    g.link(head, "output", trainer, "predictions")
    g.link(data, "targets", trainer, "targets")
    g.link(trainer, "step_done", data, "trigger")
    return g


def link_end(value: Any) -> tuple[str, int]:
    assert isinstance(value, Link), value
    return value.source, value.source_slot


def add_export_node(g: PromptBuilder, filename: str, *, connect: bool) -> str:
    node_id = g.add("6", EXPORT_NODE, "Export", filename=filename)
    if connect:
        g.link("5", "loss", node_id, "after")
    return node_id


def queue(export_cls: type, g: PromptBuilder, node_id: str, *, with_ui: bool) -> Path:
    """Call the node as ComfyUI's executor would: widgets, links, then hidden inputs."""
    inputs = dict(g.prompt[node_id]["inputs"])
    if "after" in inputs:
        inputs["after"] = None  # the upstream node's placeholder output
    hidden: dict[str, Any] = {"prompt": json.loads(json.dumps(g.prompt))}
    if with_ui:
        hidden["extra_pnginfo"] = {"workflow": g.ui_workflow()}
    result = getattr(export_cls(), export_cls.FUNCTION)(**inputs, **hidden)
    (path,) = result["ui"]["text"]
    return Path(path)


def test_export_node_declaration(export_cls: type) -> None:
    types = export_cls.INPUT_TYPES()
    assert export_cls.OUTPUT_NODE is True
    assert export_cls.CATEGORY == "dnne-robot/export"
    assert export_cls.RETURN_TYPES == ()
    type_, opts = types["required"]["filename"]
    assert (type_, opts["default"]) == ("STRING", "dnne_robot_workflow.json")
    assert types["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    any_type, _ = types["optional"]["after"]
    assert any_type == "*"
    assert not any_type != "IMAGE"  # older ComfyUI checks link types with `!=`
    assert math.isnan(export_cls.IS_CHANGED(filename="x.json"))  # never cached


@pytest.mark.parametrize("connect", [False, True])
def test_saved_workflow_reads_back_without_errors(
    pack: ModuleType, export_cls: type, output_dir: Path, connect: bool
) -> None:
    g = regression_graph(pack)
    node_id = add_export_node(g, "regression.json", connect=connect)
    path = queue(export_cls, g, node_id, with_ui=True)
    assert path == output_dir / "regression.json"
    assert [p.name for p in output_dir.iterdir()] == ["regression.json"]  # no temp files

    payload = json.loads(path.read_text(encoding="utf-8"))
    assert set(payload) == {"prompt", "extra_data"}
    assert EXPORT_NODE not in {n["class_type"] for n in payload["prompt"].values()}
    assert payload["extra_data"]["extra_pnginfo"]["workflow"]["nodes"]

    wf = load_workflow(path)
    problems = check_workflow(wf)
    errors = [p for p in problems if p.severity == "error"]
    assert errors == [], "\n".join(map(str, errors))
    assert not wf.repairs  # the UI graph agrees with the prompt
    assert set(wf.nodes) == {"1", "2", "3", "4", "5"}
    assert link_end(wf.nodes["5"].inputs["predictions"]) == ("4", 0)
    assert link_end(wf.nodes["5"].inputs["targets"]) == ("1", 1)
    assert link_end(wf.nodes["1"].inputs["trigger"]) == ("5", 1)
    assert wf.nodes["4"].inputs["output_size"] == 1
    assert wf.nodes["2"].inputs["output_size"] == 64


def test_without_comfyui_it_writes_to_the_current_directory(
    pack: ModuleType, export_cls: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "folder_paths", None)  # `import folder_paths` fails
    monkeypatch.chdir(tmp_path)
    g = regression_graph(pack)
    node_id = add_export_node(g, "dnne_robot_workflow.json", connect=False)
    path = queue(export_cls, g, node_id, with_ui=False)
    assert path == tmp_path / "dnne_robot_workflow.json"
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload == {"prompt": {k: v for k, v in g.prompt.items() if k != node_id},
                       "extra_data": {}}
    wf = load_workflow(path)
    assert [p for p in check_workflow(wf) if p.severity == "error"] == []


@pytest.mark.parametrize("connect", [False, True])
@pytest.mark.parametrize("saved_as", ["ui", "api"])
def test_a_graph_saved_with_the_export_node_in_it_reads_as_drawn(
    pack: ModuleType, tmp_path: Path, connect: bool, saved_as: str
) -> None:
    """ComfyUI's own Save (a UI file) and Export (API) keep the pack's export node: the
    reader leaves it out with a note, and the rest of the graph exports."""
    g = regression_graph(pack)
    node_id = add_export_node(g, "regression.json", connect=connect)
    path = tmp_path / f"saved_{saved_as}.json"
    path.write_text(json.dumps(g.ui_workflow() if saved_as == "ui" else g.prompt))
    wf = load_workflow(path)
    assert set(wf.nodes) == {"1", "2", "3", "4", "5"}
    (note,) = [n for n in wf.notes if EXPORT_NODE in n]
    assert f"#{node_id}" in note and "ignored" in note
    errors = [p for p in check_workflow(wf) if p.severity == "error"]
    assert errors == [], "\n".join(map(str, errors))


def test_the_saved_file_has_a_normal_mode(export_cls: type, pack: ModuleType,
                                          output_dir: Path) -> None:
    """Not mkstemp's 0600: another user (a web server, a teammate) may read it."""
    import os

    g = regression_graph(pack)
    path = queue(export_cls, g, add_export_node(g, "mode.json", connect=False), with_ui=False)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_saved_path_is_printed_where_comfyui_runs(
        export_cls: type, pack: ModuleType, output_dir: Path,
        capsys: pytest.CaptureFixture) -> None:
    """The frontend draws no node text without an extension: the console says where."""
    g = regression_graph(pack)
    path = queue(export_cls, g, add_export_node(g, "said.json", connect=False), with_ui=False)
    assert f"dnne-robot: saved {path}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("my_graph.json", "my_graph.json"),
        ("my graph", "my_graph.json"),
        ("../../etc/passwd", "_._etc_passwd.json"),
        ("..", "dnne_robot_workflow.json"),
        ("", "dnne_robot_workflow.json"),
        ("  .hidden.json ", "hidden.json"),
        ("a/b\\c:d.json", "a_b_c_d.json"),
        ("x..json", "x.json"),
        ("graph.JSON", "graph.JSON.json"),
        ("día\n1.json", "d_a_1.json"),
        ("a" * 300 + ".json", "a" * 200 + ".json"),
    ],
)
def test_file_names_are_sanitised(pack: ModuleType, given: str, expected: str) -> None:
    safe = pack.export_node.safe_filename(given)
    assert safe == expected
    assert "/" not in safe and "\\" not in safe and ".." not in safe
    assert safe.endswith(".json") and not safe.startswith(".")


def test_a_hostile_file_name_stays_in_the_output_directory(
    pack: ModuleType, export_cls: type, output_dir: Path
) -> None:
    g = regression_graph(pack)
    node_id = add_export_node(g, "../../../outside", connect=False)
    path = queue(export_cls, g, node_id, with_ui=False)
    assert path.parent == output_dir
    assert not (output_dir.parent.parent / "outside.json").exists()


def test_an_empty_graph_is_an_error(export_cls: type, output_dir: Path) -> None:
    only_export = {"9": {"class_type": EXPORT_NODE, "inputs": {"filename": "x.json"}}}
    with pytest.raises(ValueError, match="no nodes to export"):
        export_cls().run(filename="x.json", prompt=only_export, extra_pnginfo=None)
    with pytest.raises(ValueError, match="no prompt"):
        export_cls().run(filename="x.json", prompt=None, extra_pnginfo=None)
    assert not output_dir.exists() or not any(output_dir.iterdir())


def _export_pipeline_missing() -> str | None:
    for module in ("dnne_robot.pipeline", "dnne_robot.cli.app"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet, so `dnne-robot export` cannot run"
    return None


def test_saved_workflow_exports(
    pack: ModuleType, export_cls: type, output_dir: Path, tmp_path: Path
) -> None:
    missing = _export_pipeline_missing()
    if missing:
        pytest.skip(missing)
    g = regression_graph(pack)
    node_id = add_export_node(g, "regression.json", connect=False)
    path = queue(export_cls, g, node_id, with_ui=True)
    result = subprocess.run(
        [sys.executable, "-m", "dnne_robot.cli.app", "export", str(path), "-o",
         str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert any((tmp_path / "out").iterdir())
