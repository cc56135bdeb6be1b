"""The modules ``--optimize`` writes: golden trees, traceability, safety."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import regen_golden

from dnne_robot.catalog import get_spec
from dnne_robot.exporters import fused as fused_exporters
from dnne_robot.pipeline import export

from .optimize_graphs import EVERY_LAYER, cartpole, linear, regression, write

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("scenario", regen_golden.scenarios())
def test_optimized_export_matches_golden(scenario: str) -> None:
    golden = regen_golden.GOLDEN_DIR / regen_golden.golden_name(scenario, regen_golden.OPTIMIZED)
    expected = regen_golden.tree(golden)
    actual = regen_golden.export_files(scenario, regen_golden.optimized_sim(scenario),
                                       optimize=True)
    assert sorted(actual) == sorted(expected), "run: python tests/regen_golden.py"
    for rel, data in actual.items():
        assert data == expected[rel], f"{rel} changed; run: python tests/regen_golden.py"


def test_fused_module_names_every_node_it_came_from(tmp_path: Path) -> None:
    out = export(ROOT / "scenarios/mlp_regression.json", tmp_path / "x", optimize=True)
    assert out.plan is not None
    code = (tmp_path / "x/generated_nodes/node_2_to_4_fused.py").read_text()
    doc = ast.get_docstring(ast.parse(code)) or ""
    for line in ("#2 Hidden 1 (LinearLayerNode)", "#3 Hidden 2 (LinearLayerNode)",
                 "#4 Output (LinearLayerNode)"):
        assert line in doc
    assert "class Node2To4Fused(FusedLayersNode):" in code
    assert 'LAYERS = (\n        ("2", layer_2_hidden_1),' in code
    manifest = json.loads((tmp_path / "x/manifest.json").read_text())
    assert manifest["optimized"] is True
    assert manifest["nodes"]["2+3+4"]["fused_from"] == ["2", "3", "4"]
    assert set(manifest["nodes"]) == {"1", "2+3+4", "5"}
    # The separate layer modules are not written: the fused module builds every layer.
    assert not (tmp_path / "x/generated_nodes/node_2_hidden_1.py").exists()


def test_inlined_module_extends_its_host(tmp_path: Path) -> None:
    export(ROOT / "scenarios/cartpole_ppo.json", tmp_path / "x", optimize=True, backend="ray")
    nodes = tmp_path / "x/generated_nodes"
    code = (nodes / "node_5_sim_step_fused.py").read_text()
    assert "class Node5SimStepFused(InlinedNodes, Node5SimStep):" in code
    assert '("actions", Node4PushCart, "4", "Push Cart", "policy", "action"),' in code
    assert "#4 Push Cart (CartpoleActionNode)" in code
    # The host and the inlined node keep their own modules, which the fused one imports.
    assert (nodes / "node_4_push_cart.py").is_file() and (nodes / "node_5_sim_step.py").is_file()
    runner = (tmp_path / "x/runner.py").read_text()
    assert "Node4PushCart(" not in runner and "Node5SimStepFused(" in runner
    manifest = json.loads((tmp_path / "x/manifest.json").read_text())
    assert manifest["nodes"]["5"]["fused_from"] == ["4", "5"]
    assert "4" not in manifest["nodes"]


def test_fused_loop_module_runs_its_members_by_their_own_classes(tmp_path: Path) -> None:
    export(ROOT / "scenarios/cartpole_ppo.json", tmp_path / "x", optimize=True)
    nodes = tmp_path / "x/generated_nodes"
    code = (nodes / "node_2_to_7_loop_fused.py").read_text()
    assert "class Node2To7LoopFused(FusedLoopNode):" in code
    assert '(Node3PpoAgent, "3", "PPO Agent"),' in code
    assert "#7 PPO Trainer (PPOTrainerNode)" in code
    for member in ("node_2_observation_merge", "node_3_ppo_agent", "node_4_push_cart",
                   "node_5_sim_step", "node_6_cartpole_reward", "node_7_ppo_trainer"):
        assert (nodes / f"{member}.py").is_file()
    manifest = json.loads((tmp_path / "x/manifest.json").read_text())
    assert set(manifest["nodes"]) == {"1", "2+3+4+5+6+7"}
    # `runner.py train --set` still reaches every member by its own id.
    parameters = json.loads((tmp_path / "x/parameters.json").read_text())
    assert [n["id"] for n in parameters["nodes"]] == ["1", "2", "3", "4", "5", "6", "7"]


def test_every_activation_choice_has_a_fused_spelling() -> None:
    tables = {"LinearLayerNode": fused_exporters.LINEAR_ACTIVATIONS,
              "ActivationNode": fused_exporters.ACTIVATIONS,
              "NetworkNode": fused_exporters.NETWORK_ACTIVATIONS}
    for class_type, table in tables.items():
        spec = get_spec(class_type)
        assert spec is not None
        choices = spec.input("activation").choices  # type: ignore[union-attr]
        assert set(choices) == set(table), class_type


def test_every_stateless_layer_kind_renders(tmp_path: Path) -> None:
    path = write(regression(EVERY_LAYER), tmp_path / "every.json")
    export(path, tmp_path / "x", optimize=True)
    (module,) = [p for p in (tmp_path / "x/generated_nodes").glob("*_fused.py")]
    code = module.read_text()
    ast.parse(code)
    for name in ("nn.BatchNorm1d", "nn.Dropout(0.2)", "nn.GELU()", "nn.LeakyReLU()",
                 "for size in (4, 4, 4):"):
        assert name in code


def test_hostile_titles_stay_in_their_docstrings_and_comments(tmp_path: Path) -> None:
    prompt = regression([linear(4), linear(1, "none")])
    prompt["2"]["_meta"]["title"] = 'evil """\nimport os; os.system("x")\n# \\'
    prompt["3"]["_meta"]["title"] = "line\nbreak'''"
    export(write(prompt, tmp_path / "evil.json"), tmp_path / "x", optimize=True)
    for path in [tmp_path / "x/runner.py", *(tmp_path / "x/generated_nodes").glob("*.py")]:
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.Import) and n.names[0].name == "os"
                       for n in ast.walk(tree)), path


def test_hostile_titles_stay_inside_a_fused_loop_module(tmp_path: Path) -> None:
    prompt = cartpole()
    prompt["2"]["_meta"]["title"] = 'evil """\nimport os; os.system("x")\n# \\'
    prompt["7"]["_meta"]["title"] = "line\nbreak''' " + "long " * 40
    export(write(prompt, tmp_path / "evil.json"), tmp_path / "x", optimize=True)
    loop = tmp_path / "x/generated_nodes/node_2_to_7_loop_fused.py"
    assert loop.is_file()
    for path in [tmp_path / "x/runner.py", *(tmp_path / "x/generated_nodes").glob("*.py")]:
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.Import) and n.names[0].name == "os"
                       for n in ast.walk(tree)), path
    # The member keeps its exact title, as a string, for its logs and errors.
    members = next(n for n in ast.walk(ast.parse(loop.read_text()))
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "MEMBERS")
    titles = [ast.literal_eval(elt.elts[2]) for elt in members.value.elts]  # type: ignore[attr-defined]
    assert titles[0] == prompt["2"]["_meta"]["title"]
    assert titles[-1] == prompt["7"]["_meta"]["title"]


def test_set_on_a_fused_layer_says_to_export_without_optimize(tmp_path: Path) -> None:
    """Hidden 1 is code of the fused nn.Sequential: --set names it and says what to do."""
    export(ROOT / "scenarios/mlp_regression.json", tmp_path / "x", optimize=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "runner.py", "train", "--steps", "8", "--set",
         "Hidden 1.output_size=32"], cwd=tmp_path / "x", env=env, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode != 0
    assert "node #2 'Hidden 1' runs fused" in proc.stderr
    assert "export without --optimize" in proc.stderr and "Traceback" not in proc.stderr
