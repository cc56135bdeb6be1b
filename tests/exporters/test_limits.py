"""``validate`` accepts exactly what ``train`` accepts: PPO's ranges and the networks'
parameter memory are checked at validate time against the table a run applies
(``rl/limits.py``), so a workflow that validates is never refused when it trains.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from dnne_robot.catalog import get_spec
from dnne_robot.cli.app import app
from dnne_robot.cli.errors import DEBUG
from dnne_robot.exporters.base import constant_name
from dnne_robot.exporters.rl import PPO_CONFIG_FIELDS, TRAINER_FIELDS
from dnne_robot.nodes.rl import PPOTrainerNode, dnne_ppo_config
from dnne_robot.pipeline import check

REPO = Path(__file__).resolve().parents[2]
CARTPOLE = json.loads((REPO / "tests/corpus/workflows/plain_cartpole.json").read_text())
COMPACT = REPO / "scenarios" / "cartpole_compact.json"
TRAINER, AGENT = "7", "3"


def validate(tmp_path: Path, graph: dict, **options: str) -> dict[tuple[str, str], str]:
    """``{(node, field): message}`` of the errors ``dnne-robot validate`` finds."""
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(graph))
    return {(p.node_id, p.field): p.message for p in check(path, **options).errors}


def cartpole(node: str = TRAINER, **values: object) -> dict:
    graph = json.loads(json.dumps(CARTPOLE))
    graph[node]["inputs"].update(values)
    return graph


def edge_values(spec_name: str, widget: str) -> list[float]:
    """The catalog's ends of the widget's range, 0 and a value just above 0."""
    spec = next(w for w in get_spec(spec_name).widgets if w.name == widget)
    values = {spec.min, spec.max, 0, 1e-9, spec.default}
    return sorted(v for v in values if v is not None and spec.min <= v <= spec.max)


def trainer_config_error(values: dict) -> str | None:
    """What ``PPOTrainerNode.config`` (the run's own mapping) raises for these widgets."""
    trainer = CARTPOLE[TRAINER]["inputs"]
    consts = {constant_name(k): v for k, v in trainer.items() if not isinstance(v, list)}
    consts |= {constant_name(k): v for k, v in values.items()}
    consts |= {"ANNEAL_LR": True, "TARGET_KL": 0.0, "CLIP_VLOSS": False,
               "NORMALIZE_REWARDS": False}
    try:
        PPOTrainerNode.config(SimpleNamespace(**consts))  # type: ignore[arg-type]
    except ValueError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("widget", sorted(TRAINER_FIELDS))
def test_validate_refuses_a_trainer_value_iff_train_refuses_it(tmp_path: Path,
                                                               widget: str) -> None:
    for value in edge_values("PPOTrainerNode", widget):
        if widget in ("horizon_length", "num_epochs", "minibatch_size"):
            value = int(value)
        refused = validate(tmp_path, cartpole(**{widget: value})).get((TRAINER, widget))
        train_error = trainer_config_error({widget: value})
        assert (refused is None) == (train_error is None), (widget, value, refused, train_error)
        if refused:
            assert TRAINER_FIELDS[widget] in train_error and "must be" in refused


def test_clip_param_zero_is_refused_by_validate(tmp_path: Path) -> None:
    """Issue 18.6: `validate` accepted clip_param 0.0, which `train` refuses."""
    errors = validate(tmp_path, cartpole(clip_param=0.0, learning_rate=0.0))
    assert errors[(TRAINER, "clip_param")] == ("must be > 0, got 0.0 "
                                               "(PPO refuses it when training)")
    assert (TRAINER, "learning_rate") in errors


@pytest.mark.parametrize("widget", sorted(PPO_CONFIG_FIELDS))
def test_every_ppo_config_value_the_catalog_allows_trains(widget: str) -> None:
    """DNNE's PPO Config: the catalog's ranges lie inside PPO's, so its values train."""
    spec = get_spec("PPOConfig")
    defaults = {w.name: w.default for w in spec.widgets}
    for value in edge_values("PPOConfig", widget):
        schedule = "adaptive" if widget == "lr_schedule_kl_threshold" else "constant"
        dnne_ppo_config({**defaults, "lr_schedule": schedule, widget: value}, batch_size=64)


def set_widget(graph: dict, class_type: str, name: str, value: object) -> str:
    """Set widget ``name`` of the UI file's ``class_type`` node; returns the node's id."""
    node = next(n for n in graph["nodes"] if n["type"] == class_type)
    widgets = [w.name for w in get_spec(class_type).widgets]
    assert len(node["widgets_values"]) == len(widgets)  # no hidden values in between
    node["widgets_values"][widgets.index(name)] = value
    return str(node["id"])


def test_a_compact_graph_checks_its_ppo_config(tmp_path: Path) -> None:
    graph = json.loads(COMPACT.read_text())
    config = set_widget(graph, "PPOConfig", "clip_param", 0.0)  # below the catalog's 0.01 too
    assert (config, "clip_param") in validate(tmp_path, graph)


def test_a_network_too_big_for_memory_is_refused_by_validate(tmp_path: Path) -> None:
    """Issue 18.6: hidden_sizes "65536,65536" validated, then tried to allocate 17 GB."""
    errors = validate(tmp_path, cartpole(AGENT, hidden_sizes="65536,65536"))
    message = errors[(AGENT, "hidden_sizes")]
    assert "at least 8,590,524,419 parameters" in message, message
    assert "over the limit of 4 GiB" in message
    assert "--max-param-memory" in message and "DNNE_ROBOT_MAX_PARAM_MEMORY" in message


def test_the_memory_limit_can_be_raised_by_option_or_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = cartpole(AGENT, hidden_sizes="65536,65536")
    assert validate(tmp_path, graph, max_param_memory="200GiB") == {}
    assert validate(tmp_path, graph, max_param_memory="none") == {}
    monkeypatch.setenv("DNNE_ROBOT_MAX_PARAM_MEMORY", "200GiB")
    assert validate(tmp_path, graph) == {}
    monkeypatch.setenv("DNNE_ROBOT_MAX_PARAM_MEMORY", "1MiB")
    assert (AGENT, "hidden_sizes") in validate(tmp_path, cartpole(AGENT, hidden_sizes="1024,1024"))


def test_an_mlp_too_big_for_memory_is_refused_by_validate(tmp_path: Path) -> None:
    graph = json.loads((REPO / "tests/corpus/workflows/"
                        "payload_cr__refused_network_hidden_sizes.json").read_text())
    graph["2"]["inputs"]["hidden_sizes"] = "64,64"
    assert validate(tmp_path, graph) == {}
    graph["2"]["inputs"]["hidden_sizes"] = "65536,65536,65536"
    assert "at least" in validate(tmp_path, graph)[("2", "hidden_sizes")]


def test_the_cli_refuses_and_names_the_limit(tmp_path: Path) -> None:
    DEBUG["on"] = False
    path = tmp_path / "big.json"
    path.write_text(json.dumps(cartpole(AGENT, hidden_sizes="65536,65536")))
    cli = CliRunner()
    refused = cli.invoke(app, ["validate", str(path)])
    assert refused.exit_code == 1 and "field 'hidden_sizes'" in refused.output
    accepted = cli.invoke(app, ["validate", str(path), "--max-param-memory", "160GiB"])
    assert accepted.exit_code == 0, accepted.output
    bad = cli.invoke(app, ["validate", str(path), "--max-param-memory", "lots"])
    assert bad.exit_code == 2 and "16GiB" in bad.output


def test_validating_imports_no_torch() -> None:
    """The limits are read from rl/limits.py's file, without the torch-importing package."""
    code = ("import sys, pathlib; from dnne_robot.pipeline import check; "
            f"check(pathlib.Path({str(COMPACT)!r})); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m == 'dnne_robot.rl'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120, check=True).stdout
    assert out.strip() == "[]"
