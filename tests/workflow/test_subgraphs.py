"""v1 subgraphs expand into their inner nodes with ``outer:inner`` ids."""

from __future__ import annotations

import copy

import pytest

from dnne_robot.workflow import Link, WorkflowFormatError, load_workflow, read_workflow

from .catalog_stub import widgets
from .conftest import DATA, load_json
from .helpers import inp, node, out

SID = "9a3c1a52-6a4e-4d8b-9d55-1f2b3c4d5e6f"


def test_subgraph_expands_and_rewires_both_boundaries() -> None:
    wf = load_workflow(DATA / "subgraph_ui1.json", widgets=widgets)
    assert list(wf.nodes) == ["1", "10:1", "10:2", "3"]
    assert wf.nodes["10:1"].title == "Encoder"
    assert wf.nodes["10:1"].inputs["input"] == Link("1", 1, "10:1", "input", "TENSOR", 1)
    assert wf.nodes["10:2"].inputs["observations"] == Link(
        "10:1", 0, "10:2", "observations", "TENSOR", 103
    )
    assert wf.nodes["3"].inputs["policy"] == Link("10:2", 0, "3", "policy", "POLICY", 2)
    assert wf.nodes["10:2"].inputs["hidden_sizes"] == "64,64"
    assert any("expanded subgraph 'Policy block'" in n for n in wf.notes)


def _two_instances() -> dict:
    data = load_json("subgraph_ui1.json")
    second = copy.deepcopy(data["nodes"][1])
    second.update(id=11, inputs=[inp("obs", "TENSOR", 3)], outputs=[out("policy", "POLICY", [4])])
    data["nodes"][0]["outputs"][1]["links"] = [1, 3]
    data["nodes"].append(second)
    data["nodes"].append(node(12, "CartpoleActionNode", [inp("policy", "POLICY", 4)]))
    data["links"] += [
        {"id": 3, "origin_id": 1, "origin_slot": 1, "target_id": 11, "target_slot": 0},
        {"id": 4, "origin_id": 11, "origin_slot": 0, "target_id": 12, "target_slot": 0},
    ]
    return data


def test_two_instances_of_one_definition() -> None:
    wf = read_workflow(_two_instances(), widgets=widgets)
    assert {"10:1", "10:2", "11:1", "11:2"} <= set(wf.nodes)
    assert wf.nodes["12"].inputs["policy"].source == "11:2"
    assert wf.nodes["11:1"].inputs["input"].source == "1"


def test_nested_subgraphs_get_nested_ids() -> None:
    data = load_json("subgraph_ui1.json")
    inner_id = "11111111-2222-3333-4444-555555555555"
    outer_def = data["definitions"]["subgraphs"][0]
    inner_def = copy.deepcopy(outer_def)
    inner_def.update(id=inner_id, name="Inner")
    # the outer definition's PPO agent becomes an instance of the inner definition
    outer_def["nodes"][1] = node(
        2, inner_id, [inp("obs", "TENSOR", 103)], [out("policy", "POLICY", [102])]
    )
    data["definitions"]["subgraphs"].append(inner_def)
    wf = read_workflow(data, widgets=widgets)
    assert list(wf.nodes) == ["1", "10:1", "10:2:1", "10:2:2", "3"]
    assert wf.nodes["10:2:1"].inputs["input"].source == "10:1"
    assert wf.nodes["3"].inputs["policy"].source == "10:2:2"


def test_recursive_subgraph_is_an_error() -> None:
    data = load_json("subgraph_ui1.json")
    sub = data["definitions"]["subgraphs"][0]
    sub["nodes"][1] = node(2, SID, [inp("obs", "TENSOR", 103)], [out("policy", "POLICY", [102])])
    with pytest.raises(WorkflowFormatError, match="contains itself"):
        read_workflow(data)


def test_missing_definition_is_a_clear_error() -> None:
    data = load_json("subgraph_ui1.json")
    del data["definitions"]
    with pytest.raises(WorkflowFormatError) as err:
        read_workflow(data, path="sg.json")
    assert err.value.node_id == "10"
    assert "subgraph id" in str(err.value) and str(err.value).startswith("sg.json: node 10: ")


def test_muted_instance_drops_its_inner_nodes_and_consumers() -> None:
    data = load_json("subgraph_ui1.json")
    data["nodes"][1]["mode"] = 2
    wf = read_workflow(data, widgets=widgets)
    assert list(wf.nodes) == ["1"]


def test_bypassed_instance_passes_through_by_type() -> None:
    data = load_json("subgraph_ui1.json")
    data["nodes"][1]["mode"] = 4
    wf = read_workflow(data, widgets=widgets)
    assert list(wf.nodes) == ["1", "3"]
    assert wf.nodes["3"].inputs.get("policy") is None  # no POLICY input to pass through


def test_unconnected_subgraph_input_leaves_inner_input_unlinked() -> None:
    data = load_json("subgraph_ui1.json")
    data["nodes"][1]["inputs"][0]["link"] = None
    data["links"] = data["links"][1:]
    data["nodes"][0]["outputs"][1]["links"] = []
    wf = read_workflow(data, widgets=widgets)
    assert "input" not in wf.nodes["10:1"].inputs


def test_promoted_widget_value_on_the_instance_reaches_the_inner_node() -> None:
    data = load_json("subgraph_ui1.json")
    sub = data["definitions"]["subgraphs"][0]
    sub["inputs"].append({"id": "a2", "name": "width", "type": "INT", "linkIds": [104]})
    sub["nodes"][0]["inputs"][1]["link"] = 104  # the inner layer's output_size widget
    sub["links"].append(
        {
            "id": 104,
            "origin_id": -10,
            "origin_slot": 1,
            "target_id": 1,
            "target_slot": 1,
            "type": "INT",
        }
    )
    instance = data["nodes"][1]
    instance["inputs"].append(
        {"name": "width", "type": "INT", "widget": {"name": "width"}, "link": None}
    )
    instance["widgets_values"] = [256]
    wf = read_workflow(data, widgets=widgets)
    assert wf.nodes["10:1"].inputs["output_size"] == 256
    assert not any("unnamed" in n for n in wf.notes)
