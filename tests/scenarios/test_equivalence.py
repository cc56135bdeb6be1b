"""The same graph in different file formats exports to the same code."""

from __future__ import annotations

import json
from pathlib import Path

from dnne_robot.pipeline import export, widget_lookup
from dnne_robot.workflow import load_workflow, to_api_prompt

ROOT = Path(__file__).resolve().parents[2]


def generated(out: Path, source_name: str) -> dict[str, str]:
    """Generated files with the source file's name (quoted in docstrings) blanked out."""
    files = {}
    for path in sorted(out.rglob("*.py")):
        if "framework" in path.parts:
            continue
        files[path.relative_to(out).as_posix()] = path.read_text().replace(source_name, "<wf>")
    return files


def test_ui_and_api_scenarios_export_the_same_code(tmp_path: Path) -> None:
    export(ROOT / "scenarios/cartpole_ppo.json", tmp_path / "ui", sim="mujoco")
    export(ROOT / "scenarios/cartpole_ppo.api.json", tmp_path / "api", sim="mujoco")
    assert generated(tmp_path / "ui", "cartpole_ppo.json") == generated(
        tmp_path / "api", "cartpole_ppo.api.json"
    )
    ui_manifest = json.loads((tmp_path / "ui/manifest.json").read_text())
    api_manifest = json.loads((tmp_path / "api/manifest.json").read_text())
    assert ui_manifest["workflow_sha256"] == api_manifest["workflow_sha256"]


def test_converted_prompt_exports_the_same_code(tmp_path: Path) -> None:
    for name in ("cartpole_compact", "reach_ppo", "mlp_regression"):
        original = ROOT / f"scenarios/{name}.json"
        converted = tmp_path / f"{name}.converted.json"
        prompt = to_api_prompt(load_workflow(original, widgets=widget_lookup))
        converted.write_text(json.dumps(prompt))
        export(original, tmp_path / name / "a", sim="pybullet")
        export(converted, tmp_path / name / "b", sim="pybullet")
        assert generated(tmp_path / name / "a", original.name) == generated(
            tmp_path / name / "b", converted.name
        )
