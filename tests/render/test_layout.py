"""py_block: literals broken over lines that still evaluate to the value they were given."""

from __future__ import annotations

import ast
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnne_robot.render.layout import py_block, split_string
from dnne_robot.render.literals import py_literal

WIDTH = 100

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=300),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.lists(inner, max_size=6).map(tuple),
        st.dictionaries(st.text(max_size=20), inner, max_size=6),
    ),
    max_leaves=25,
)


def render(value: Any, indent: int) -> str:
    """The block as it sits in a file: ``x = <block>`` at ``indent``."""
    return " " * indent + "x = " + py_block(value, indent, 4, 0, WIDTH)


@settings(max_examples=200, deadline=None)
@given(value=values, indent=st.sampled_from([0, 4, 8, 16]))
def test_block_evaluates_to_the_value(value: Any, indent: int) -> None:
    source = render(value, indent).strip()
    tree = ast.parse(source)
    assert ast.literal_eval(tree.body[0].value) == value  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=500), budget=st.integers(min_value=12, max_value=96))
def test_split_string_pieces_fit_and_join(text: str, budget: int) -> None:
    pieces = split_string(text, budget)
    assert "".join(pieces) == text
    assert all(len(py_literal(p)) <= budget for p in pieces)


def test_short_values_stay_on_one_line() -> None:
    value = {"default": 1, "min": 0}
    assert py_block(value, 8, 10) == py_literal(value)


def test_long_values_keep_to_the_width() -> None:
    value = {
        "required": {
            "tooltip_holder": ("STRING", {"tooltip": "word " * 60, "default": "x" * 150}),
            "choices": ([f"option_{i}" for i in range(30)], {}),
        },
        "optional": {},
    }
    text = render(value, 8)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert ast.literal_eval(text.split("=", 1)[1].strip()) == value


@pytest.mark.parametrize("value", [(), ("one",), [], {}])
def test_empty_and_single_containers(value: Any) -> None:
    assert ast.literal_eval(py_block(value, 0, 0, 0, 4)) == value


def test_an_assignment_that_does_not_fit_spreads_its_value_and_lifts_its_comment() -> None:
    from dnne_robot.render.layout import py_assignment

    value = {f"key_{i}": [f"value {i}" * 3, i] for i in range(8)}
    text = py_assignment("SETTINGS", value, "from node #3", indent=4)
    lines = text.splitlines()
    assert lines[0] == "# from node #3" and lines[1].startswith("    SETTINGS = {")
    assert all(len(line) <= 96 for line in lines)
    assert ast.literal_eval(text.split(" = ", 1)[1]) == value
    assert py_assignment("N", 3, "three") == "N = 3  # three"
