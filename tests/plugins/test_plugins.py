"""Third-party node types through the ``dnne_robot.exporters`` entry points, and --templates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from regen_golden import REPO, SCENARIOS_DIR
from typer.testing import CliRunner

from dnne_robot.cli.app import app

PLUGIN_SRC = Path(__file__).parent / "dnne_robot_demo_plugin"

#: Data -> Linear -> Scale (the plugin's node) -> Trainer, in the API format.
SCALED_REGRESSION = {
    "1": {"class_type": "RegressionDataNode", "_meta": {"title": "Data"},
          "inputs": {"function": "linear", "input_dim": 1, "num_samples": 256, "batch_size": 32,
                     "noise": 0.0, "seed": 0, "trigger": ["4", 1]}},
    "2": {"class_type": "LinearLayerNode", "_meta": {"title": "Layer"},
          "inputs": {"input": ["1", 0], "output_size": 1, "bias": True, "activation": "none",
                     "dropout": 0.0}},
    "3": {"class_type": "ScaleNode", "_meta": {"title": "Double it"},
          "inputs": {"input": ["2", 0], "factor": 2.0}},
    "4": {"class_type": "SupervisedTrainerNode", "_meta": {"title": "Trainer"},
          "inputs": {"predictions": ["3", 0], "targets": ["1", 1], "loss": "mse",
                     "optimizer": "adam", "learning_rate": 0.01, "log_interval": 10}},
}


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plugin installed with pip into a folder that only PYTHONPATH points at."""
    root = tmp_path_factory.mktemp("plugin")
    source = root / "src"
    shutil.copytree(PLUGIN_SRC, source)  # build in a copy: the repo stays clean
    target = root / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.skip(f"could not pip-install the demo plugin: {proc.stderr.strip()[-300:]}")
    return target


def dnne_robot(plugin_path: Path, *args: str, cwd: Path | None = None):
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([sys.executable, "-m", "dnne_robot.cli.app", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=cwd or REPO)


def test_nodes_lists_the_plugin_node(plugin_path: Path) -> None:
    proc = dnne_robot(plugin_path, "nodes", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)["ScaleNode"]
    assert info["input_order"]["required"] == ["input", "factor"]
    assert info["input"]["required"]["factor"][0] == "FLOAT"
    assert info["output_name"] == ["output"] and info["output"] == ["TENSOR"]
    assert info["category"] == "dnne-robot/ml"
    assert "PPOAgentNode" in json.loads(proc.stdout)  # built-ins are still there


def test_plugin_node_is_unknown_without_the_plugin(tmp_path: Path) -> None:
    wf = tmp_path / "scaled.json"
    wf.write_text(json.dumps(SCALED_REGRESSION))
    proc = subprocess.run([sys.executable, "-m", "dnne_robot.cli.app", "validate", str(wf)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "unknown node type 'ScaleNode'" in proc.stderr


def test_plugin_workflow_exports_and_runs(plugin_path: Path, tmp_path: Path,
                                          run_export: Callable) -> None:
    wf = tmp_path / "scaled.json"
    wf.write_text(json.dumps(SCALED_REGRESSION))
    out = tmp_path / "pkg"
    proc = dnne_robot(plugin_path, "export", wf, "-o", out)
    assert proc.returncode == 0, proc.stderr
    module = (out / "generated_nodes" / "node_3_double_it.py").read_text()
    assert "FACTOR = 2.0" in module and "Added by the dnne-robot-demo-plugin" in module
    assert "dnne_robot" not in module
    run = run_export(out, "train", "--steps", "20", "--run-dir", str(tmp_path / "run"),
                            "--no-progress")
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == 20


def test_template_override_changes_only_its_file(tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "nodes"
    overrides.mkdir(parents=True)
    original = (REPO / "templates" / "nodes" / "subclass.py.jinja").read_text()
    (overrides / "or_merge.py.jinja").write_text(
        original + "\n\n    # Overridden for this robot.\n")
    cli = CliRunner()
    plain = cli.invoke(app, ["export", str(SCENARIOS_DIR / "cartpole_ppo.json"), "-o",
                             str(tmp_path / "plain"), "-q"])
    custom = cli.invoke(app, ["export", str(SCENARIOS_DIR / "cartpole_ppo.json"), "-o",
                              str(tmp_path / "custom"), "-q", "--templates",
                              str(tmp_path / "templates")])
    assert plain.exit_code == 0 and custom.exit_code == 0, custom.stderr

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in root.rglob("*") if p.is_file()}

    a, b = files(tmp_path / "plain"), files(tmp_path / "custom")
    assert a.keys() == b.keys()
    changed = sorted(k for k in a if a[k] != b[k])
    assert changed == ["generated_nodes/node_2_observation_merge.py"]
    assert "# Overridden for this robot." in b[changed[0]].decode()
