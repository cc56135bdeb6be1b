"""``to_api_prompt`` writes what "Save (API)" writes, and reads back to the same workflow."""

from __future__ import annotations

import json

import pytest

from dnne_robot.workflow import Link, load_workflow, read_workflow, to_api_prompt

from .catalog_stub import widgets
from .conftest import DATA, FIXTURES, load_json, shape


@pytest.mark.parametrize("name", FIXTURES)
def test_round_trip_through_the_api_format(name: str) -> None:
    wf = load_workflow(DATA / name, widgets=widgets)
    prompt = to_api_prompt(wf)
    again = read_workflow(json.loads(json.dumps(prompt)))
    assert shape(again) == shape(wf)
    assert to_api_prompt(again) == prompt


def test_stream_ui_converts_to_the_checked_in_api_prompt() -> None:
    wf = load_workflow(DATA / "dnne_stream_ui04.json", widgets=widgets)
    assert to_api_prompt(wf) == load_json("dnne_stream_api.json")


def test_shape_of_a_converted_node() -> None:
    wf = load_workflow(DATA / "modes_ui04.json", widgets=widgets)
    assert to_api_prompt(wf)["5"] == {
        "inputs": {
            "output_size": 128,
            "bias": True,
            "activation": "tanh",
            "dropout": 0.1,
            "input": ["1", 1],
        },
        "class_type": "LinearLayerNode",
        "_meta": {"title": "Hidden"},
    }


def test_list_values_are_wrapped_so_they_cannot_pass_for_links() -> None:
    wf = read_workflow({"1": {"class_type": "X", "inputs": {}}})
    wf.nodes["1"].inputs.update(
        pair=["1", 0],
        sizes=[64, 64],
        boxed={"__value__": 3},
        plain={"a": 1},
        link=Link("1", 0, "1", "link"),
    )
    prompt = to_api_prompt(wf)
    assert prompt["1"]["inputs"] == {
        "pair": {"__value__": ["1", 0]},
        "sizes": {"__value__": [64, 64]},
        "boxed": {"__value__": {"__value__": 3}},
        "plain": {"a": 1},
        "link": ["1", 0],
    }
    assert shape(read_workflow(prompt)) == shape(wf)
