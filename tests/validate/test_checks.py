"""The validator on small in-memory workflows: every problem names node, title, type and field."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from dnne_robot.catalog import get_spec
from dnne_robot.pipeline import widget_lookup
from dnne_robot.validate import Problem, check_value, check_workflow
from dnne_robot.workflow import Link, Node, Workflow, read_workflow
from dnne_robot.workflow.json_source import parse_json_text

DATA_DEFAULTS = {"function": "sin", "input_dim": 1, "num_samples": 64, "batch_size": 8,
                 "noise": 0.0, "seed": 0}
LINEAR_DEFAULTS = {"output_size": 4, "bias": True, "activation": "none", "dropout": 0.0}
TRAINER_DEFAULTS = {"loss": "mse", "optimizer": "adam", "learning_rate": 0.01,
                    "log_interval": 10}


def link(source: str, slot: int, target: str, name: str) -> Link:
    return Link(source, slot, target, name)


def node(nid: str, class_type: str, title: str | None = None, **inputs: Any) -> Node:
    return Node(nid, class_type, title or f"{class_type} {nid}", dict(inputs))


def regression_workflow() -> dict[str, Node]:
    """Data -> Linear -> Trainer, the smallest valid graph."""
    return {
        "1": node("1", "RegressionDataNode", "Data", **DATA_DEFAULTS),
        "2": node("2", "LinearLayerNode", "Layer", input=link("1", 0, "2", "input"),
                  **{**LINEAR_DEFAULTS, "output_size": 1}),
        "3": node("3", "SupervisedTrainerNode", "Trainer",
                  predictions=link("2", 0, "3", "predictions"),
                  targets=link("1", 1, "3", "targets"), **TRAINER_DEFAULTS),
    }


def errors(wf: Workflow) -> list[Problem]:
    return [p for p in check_workflow(wf) if p.severity == "error"]


def only_error(wf: Workflow) -> Problem:
    found = errors(wf)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def assert_pinned(problem: Problem, node_id: str, class_type: str, field: str | None) -> None:
    assert problem.node_id == node_id
    assert problem.title
    assert problem.class_type == class_type
    assert problem.field == field
    text = str(problem)
    assert f"#{node_id}" in text and class_type in text and problem.title in text
    if field:
        assert field in text


def test_valid_workflow_has_no_errors() -> None:
    assert errors(Workflow(regression_workflow())) == []


def test_unknown_type_suggests_the_closest() -> None:
    nodes = regression_workflow()
    nodes["2"].class_type = "LinearLayerNod"
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "2", "LinearLayerNod", "class_type")
    assert "did you mean 'LinearLayerNode'?" in problem.message


def test_unknown_type_without_a_close_match_points_to_the_list() -> None:
    nodes = regression_workflow()
    nodes["2"].class_type = "Qwertyuiop"
    problem = only_error(Workflow(nodes))
    assert "dnne-robot nodes" in problem.message


def test_missing_required_link() -> None:
    nodes = regression_workflow()
    del nodes["3"].inputs["targets"]
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "3", "SupervisedTrainerNode", "targets")
    assert "missing required input" in problem.message and "TENSOR" in problem.message


def test_missing_required_value() -> None:
    nodes = regression_workflow()
    del nodes["2"].inputs["output_size"]
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "2", "LinearLayerNode", "output_size")


def test_optional_inputs_may_be_absent() -> None:
    nodes = regression_workflow()
    assert "trigger" not in nodes["1"].inputs  # the optional SYNC input
    assert errors(Workflow(nodes)) == []


def test_link_to_missing_node() -> None:
    nodes = regression_workflow()
    nodes["2"].inputs["input"] = link("99", 0, "2", "input")
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "2", "LinearLayerNode", "input")
    assert "#99" in problem.message and "does not exist" in problem.message


def test_link_to_nonexistent_output_slot() -> None:
    nodes = regression_workflow()
    nodes["3"].inputs["targets"] = link("1", 7, "3", "targets")
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "3", "SupervisedTrainerNode", "targets")
    assert "slot 7" in problem.message and "#1" in problem.message


def test_link_to_itself() -> None:
    nodes = regression_workflow()
    nodes["2"].inputs["input"] = link("2", 0, "2", "input")
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "2", "LinearLayerNode", "input")


def test_type_mismatch() -> None:
    nodes = regression_workflow()
    nodes["2"].inputs["input"] = link("3", 1, "2", "input")  # SYNC into TENSOR
    found = [p for p in errors(Workflow(nodes)) if "type mismatch" in p.message]
    assert len(found) == 1
    assert_pinned(found[0], "2", "LinearLayerNode", "input")
    assert "SYNC" in found[0].message and "TENSOR" in found[0].message


def test_a_value_where_a_link_belongs() -> None:
    nodes = regression_workflow()
    nodes["2"].inputs["input"] = 3.0
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "2", "LinearLayerNode", "input")
    assert "must be a link" in problem.message


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("output_size", "four", "expected an integer"),
        ("output_size", 2.5, "expected an integer"),
        ("output_size", True, "expected an integer"),
        ("output_size", None, "expected an integer"),
        ("dropout", "0.1", "expected a number"),
        ("dropout", [0.1], "expected a number"),
        ("bias", 1, "expected true or false"),
        ("bias", "true", "expected true or false"),
        ("output_size", 0, "below the minimum 1"),
        ("dropout", 1.5, "above the maximum 1"),
        ("dropout", -0.1, "below the minimum 0"),
        ("dropout", math.nan, "finite"),
        ("dropout", math.inf, "finite"),
        ("dropout", -math.inf, "finite"),
        ("output_size", math.inf, "finite"),
        ("activation", "softplus", "not one of: none, relu, tanh, sigmoid"),
        ("activation", 3, "not one of"),
    ],
)
def test_bad_widget_values(name: str, value: Any, words: str) -> None:
    nodes = regression_workflow()
    nodes["2"].inputs[name] = value
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "2", "LinearLayerNode", name)
    assert words in problem.message


def test_string_values() -> None:
    spec = get_spec("NetworkNode").input("hidden_sizes")
    assert check_value(spec, "64,64") is None
    assert "NUL" in check_value(spec, "a\x00b")
    assert "longer" in check_value(spec, "1" * 200_000)
    assert "expected a string" in check_value(spec, 64)


def test_integral_float_is_accepted_for_int() -> None:
    nodes = regression_workflow()
    nodes["2"].inputs["output_size"] = 4.0
    assert errors(Workflow(nodes)) == []


def test_unknown_input_is_a_warning_pinned_to_its_field() -> None:
    nodes = regression_workflow()
    nodes["2"].inputs["colour"] = "red"
    found = check_workflow(Workflow(nodes))
    assert [p.severity for p in found] == ["warning"]
    assert_pinned(found[0], "2", "LinearLayerNode", "colour")


def test_duplicate_id_from_the_file() -> None:
    text = json.dumps({"1": {"class_type": "RegressionDataNode", "inputs": DATA_DEFAULTS}})
    text = text[:-1] + ', "1": ' + json.dumps({"class_type": "LinearLayerNode",
                                               "inputs": LINEAR_DEFAULTS}) + "}"
    wf = read_workflow(parse_json_text(text), widgets=widget_lookup)
    found = [p for p in errors(wf) if "duplicate" in p.message]
    assert len(found) == 1
    assert_pinned(found[0], "1", "RegressionDataNode", "id")


def test_duplicate_id_in_the_model() -> None:
    wf = Workflow(regression_workflow(), duplicate_ids=["2"])
    problem = only_error(wf)
    assert_pinned(problem, "2", "LinearLayerNode", "id")


def test_illegal_cycle_names_its_nodes() -> None:
    nodes = regression_workflow()
    nodes["4"] = node("4", "LinearLayerNode", "Loop A", input=link("5", 0, "4", "input"),
                      **LINEAR_DEFAULTS)
    nodes["5"] = node("5", "LinearLayerNode", "Loop B", input=link("4", 0, "5", "input"),
                      **LINEAR_DEFAULTS)
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "4", "LinearLayerNode", "input")
    assert "feedback loop" in problem.message
    assert "#4" in problem.message and "#5" in problem.message
    assert "#1" not in problem.message and "#2" not in problem.message


def test_cycle_through_an_or_merge_nobody_outside_feeds_is_illegal() -> None:
    nodes = {
        "1": node("1", "ORNode", "Merge", input_a=link("2", 0, "1", "input_a")),
        "2": node("2", "LinearLayerNode", "Layer", input=link("1", 0, "2", "input"),
                  **LINEAR_DEFAULTS),
    }
    problem = only_error(Workflow(nodes))
    assert_pinned(problem, "1", "ORNode", "input_a")
    assert "#1 ORNode" in problem.message and "#2 LinearLayerNode" in problem.message


def test_or_loop_fed_from_outside_is_legal() -> None:
    nodes = regression_workflow()
    nodes["4"] = node("4", "ORNode", "Merge", input_a=link("1", 0, "4", "input_a"),
                      input_b=link("5", 0, "4", "input_b"))
    nodes["5"] = node("5", "LinearLayerNode", "Loop", input=link("4", 0, "5", "input"),
                      **{**LINEAR_DEFAULTS, "output_size": 1})
    assert errors(Workflow(nodes)) == []


def test_data_source_loop_closed_by_the_trainer_is_legal() -> None:
    nodes = regression_workflow()
    nodes["1"].inputs["trigger"] = link("3", 1, "1", "trigger")
    assert errors(Workflow(nodes)) == []


def test_every_problem_is_reported_at_once() -> None:
    nodes = regression_workflow()
    nodes["1"].inputs["noise"] = math.nan
    nodes["2"].inputs["activation"] = "swish"
    del nodes["3"].inputs["targets"]
    found = errors(Workflow(nodes))
    assert {(p.node_id, p.field) for p in found} == {
        ("1", "noise"), ("2", "activation"), ("3", "targets")}


def test_errors_sort_before_warnings() -> None:
    nodes = regression_workflow()
    nodes["1"].inputs["colour"] = "red"
    nodes["3"].inputs["loss"] = "hinge"
    severities = [p.severity for p in check_workflow(Workflow(nodes))]
    assert severities == sorted(severities, key=lambda s: s != "error")
    assert severities[0] == "error"


def test_api_prompt_problems_through_the_reader() -> None:
    prompt = {
        "1": {"class_type": "IsaacGymEnvNode", "_meta": {"title": "Env"},
              "inputs": {"env_name": "Cartpole", "num_envs": 0, "isaac_gym_path": "",
                         "isaac_gym_envs_path": "", "headless": True, "device": "gpu",
                         "physics_engine": "physx"}},
        "2": {"class_type": "PPOAgentNode", "_meta": {"title": "Agent"},
              "inputs": {"observations": ["1", 5], "hidden_sizes": "64,64",
                         "activation": "tanh", "action_space": "discrete", "action_dim": 2,
                         "learning_rate": math.inf}},
    }
    found = errors(read_workflow(prompt, widgets=widget_lookup))
    assert {(p.node_id, p.title, p.class_type, p.field) for p in found} == {
        ("1", "Env", "IsaacGymEnvNode", "num_envs"),
        ("1", "Env", "IsaacGymEnvNode", "device"),
        ("2", "Agent", "PPOAgentNode", "observations"),
        ("2", "Agent", "PPOAgentNode", "learning_rate"),
    }


def test_problem_text_keeps_a_hostile_title_on_one_line() -> None:
    nodes = regression_workflow()
    nodes["2"].title = "evil\ntitle\r" + "x" * 200
    nodes["2"].inputs["output_size"] = -1
    text = str(only_error(Workflow(nodes)))
    assert "\n" not in text and "\r" not in text
