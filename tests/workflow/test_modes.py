"""Mute, bypass, reroutes, primitives and notes, as ComfyUI's "Save (API)" handles them."""

from __future__ import annotations

from dnne_robot.workflow import Link, load_workflow, read_workflow

from .catalog_stub import widgets
from .conftest import DATA
from .helpers import inp, node, out, ui


def _modes():
    return load_workflow(DATA / "modes_ui04.json", widgets=widgets)


def test_only_real_active_nodes_remain() -> None:
    wf = _modes()
    # reroutes 2,3; bypassed 4,11; primitive 6; muted 7 and 8 (fed only by 7); note 10
    assert list(wf.nodes) == ["1", "5", "9", "12"]


def test_reroute_chain_and_bypass_collapse_to_one_direct_link() -> None:
    wf = _modes()
    # 1 -> Reroute 2 -> Reroute 3 -> bypassed LinearLayer 4 -> 5.input
    assert wf.nodes["5"].inputs["input"] == Link("1", 1, "5", "input", "TENSOR", 4)
    notes = "\n".join(wf.notes)
    assert "collapsed reroute #2 (Reroute)" in notes
    assert "collapsed reroute #3 (Reroute)" in notes
    assert "bypassed #4 'Bypassed layer' (LinearLayerNode) (mode 4)" in notes


def test_primitive_value_becomes_the_literal() -> None:
    wf = _modes()
    hidden = wf.nodes["5"].inputs
    assert hidden["output_size"] == 128  # the primitive's value, not the widget's stale 32
    assert hidden["activation"] == "tanh"
    assert any("removed primitive #6 'Width'" in n for n in wf.notes)


def test_mute_drops_what_only_the_muted_node_feeds() -> None:
    wf = _modes()
    assert "7" not in wf.nodes and "8" not in wf.nodes
    # the OR node is also fed by a live node, so it stays with that input only
    assert wf.nodes["9"].inputs == {"input_b": Link("5", 0, "9", "input_b", "TENSOR", 9)}
    notes = "\n".join(wf.notes)
    assert "dropped #7 'Muted head' (LinearLayerNode): muted (mode 2)" in notes
    assert "dropped #8 'Only fed by muted' (ActivationNode): all its linked inputs" in notes
    assert "input 'input_a' of #9 'Mixed' (ORNode) was fed by dropped #8" in notes


def test_bypass_without_a_matching_input_leaves_the_consumer_unlinked() -> None:
    wf = _modes()
    assert wf.nodes["12"].inputs == {}
    assert any("'actions'" in n and "has no ACTION input" in n for n in wf.notes)


def test_note_nodes_and_groups_are_dropped() -> None:
    wf = _modes()
    assert all(n.class_type != "Note" for n in wf.nodes.values())
    assert any("dropped comment node #10 (Note)" in n for n in wf.notes)


def _bypass_graph(mode_b: int = 4, extra_links: bool = True):
    """A (MODEL, TENSOR out) feeds both inputs of B; B's outputs feed C."""
    a = node(1, "A", [], [out("m", "MODEL", [1]), out("t", "TENSOR", [2, 3])])
    b = node(
        2,
        "B",
        [inp("t1", "TENSOR", 2), inp("m", "MODEL", 1), inp("t2", "TENSOR", 3)],
        [out("o0", "TENSOR", [4]), out("o1", "MODEL", [5]), out("o2", "TENSOR", [6])],
        mode=mode_b,
    )
    c = node(3, "C", [inp("x0", "TENSOR", 4), inp("x1", "MODEL", 5), inp("x2", "TENSOR", 6)])
    links = [
        [1, 1, 0, 2, 1, "MODEL"],
        [2, 1, 1, 2, 0, "TENSOR"],
        [3, 1, 1, 2, 2, "TENSOR"],
        [4, 2, 0, 3, 0, "TENSOR"],
        [5, 2, 1, 3, 1, "MODEL"],
        [6, 2, 2, 3, 2, "TENSOR"],
    ]
    return ui([a, b, c], links)


def test_bypass_passes_through_the_same_type_preferring_the_same_index() -> None:
    wf = read_workflow(_bypass_graph())
    c = wf.nodes["3"].inputs
    assert (c["x0"].source, c["x0"].source_slot) == ("1", 1)  # via B.t1 (index 0)
    assert (c["x1"].source, c["x1"].source_slot) == ("1", 0)  # via B.m (index 1)
    assert (c["x2"].source, c["x2"].source_slot) == ("1", 1)  # via B.t2 (index 2)
    assert list(wf.nodes) == ["1", "3"]


def test_chained_bypass() -> None:
    a = node(1, "A", [], [out("t", "TENSOR", [1])])
    b1 = node(2, "B", [inp("t", "TENSOR", 1)], [out("t", "TENSOR", [2])], mode=4)
    b2 = node(3, "B", [inp("t", "TENSOR", 2)], [out("t", "TENSOR", [3])], mode=4)
    c = node(4, "C", [inp("t", "TENSOR", 3)])
    wf = read_workflow(
        ui(
            [a, b1, b2, c],
            [[1, 1, 0, 2, 0, "TENSOR"], [2, 2, 0, 3, 0, "TENSOR"], [3, 3, 0, 4, 0, "TENSOR"]],
        )
    )
    assert wf.nodes["4"].inputs["t"].source == "1"


def test_bypassed_node_with_an_unlinked_matching_input() -> None:
    b = node(2, "B", [inp("t", "TENSOR")], [out("t", "TENSOR", [3])], mode=4)
    c = node(4, "C", [inp("t", "TENSOR", 3)])
    wf = read_workflow(ui([b, c], [[3, 2, 0, 4, 0, "TENSOR"]]))
    assert wf.nodes["4"].inputs == {}
    assert any("input 't' of bypassed #2 (B) is unlinked" in n for n in wf.notes)


def test_mute_propagates_transitively_and_spares_nodes_with_live_inputs() -> None:
    m = node(1, "M", [], [out("t", "TENSOR", [1])], mode=2)
    x = node(2, "X", [inp("t", "TENSOR", 1)], [out("t", "TENSOR", [2])])
    y = node(3, "Y", [inp("t", "TENSOR", 2)], [out("t", "TENSOR", [3])])
    z = node(4, "Z", [inp("t", "TENSOR", 3), inp("u", "TENSOR", 4)])
    live = node(5, "L", [], [out("t", "TENSOR", [4])])
    lone = node(6, "Lone")  # no linked inputs at all: not affected by anything muted
    links = [
        [1, 1, 0, 2, 0, "TENSOR"],
        [2, 2, 0, 3, 0, "TENSOR"],
        [3, 3, 0, 4, 0, "TENSOR"],
        [4, 5, 0, 4, 1, "TENSOR"],
    ]
    wf = read_workflow(ui([m, x, y, z, live, lone], links))
    assert list(wf.nodes) == ["4", "5", "6"]
    assert wf.nodes["4"].inputs == {"u": Link("5", 0, "4", "u", "TENSOR", 4)}


def test_mute_inside_a_cycle_keeps_the_cycle_when_it_has_another_source() -> None:
    m = node(1, "M", [], [out("t", "TENSOR", [1])], mode=2)
    a = node(2, "A", [inp("x", "TENSOR", 1), inp("y", "TENSOR", 3)], [out("t", "TENSOR", [2])])
    b = node(3, "B", [inp("x", "TENSOR", 2)], [out("t", "TENSOR", [3])])
    links = [[1, 1, 0, 2, 0, "TENSOR"], [2, 2, 0, 3, 0, "TENSOR"], [3, 3, 0, 2, 1, "TENSOR"]]
    wf = read_workflow(ui([m, a, b], links))
    assert list(wf.nodes) == ["2", "3"]


def test_reroute_without_input_unlinks_its_consumers() -> None:
    r = node(1, "Reroute", [inp("", "*")], [out("", "TENSOR", [1])])
    c = node(2, "C", [inp("t", "TENSOR", 1)])
    wf = read_workflow(ui([r, c], [[1, 1, 0, 2, 0, "TENSOR"]]))
    assert wf.nodes["2"].inputs == {}
    assert any("no input; left unlinked" in n for n in wf.notes)


def test_primitive_feeding_several_inputs_and_primitive_without_value() -> None:
    p = node(1, "PrimitiveNode", [], [out("INT", "INT", [1, 2])], [7, "fixed"])
    empty = node(2, "PrimitiveNode", [], [out("INT", "INT", [3])])
    c = node(
        3,
        "C",
        [
            inp("a", "INT", 1, widget=True),
            inp("b", "INT", 2, widget=True),
            inp("c", "INT", 3, widget=True),
        ],
        [],
        [0, 0, 0],
    )
    links = [[1, 1, 0, 3, 0, "INT"], [2, 1, 0, 3, 1, "INT"], [3, 2, 0, 3, 2, "INT"]]
    wf = read_workflow(ui([p, empty, c], links))
    assert list(wf.nodes) == ["3"]
    assert wf.nodes["3"].inputs == {"a": 7, "b": 7, "c": 0}
    assert any("stores no value" in n for n in wf.notes)


def test_bypass_into_a_wildcard_input_uses_the_bypassed_output_type() -> None:
    a = node(1, "A", [], [out("m", "MODEL", [1]), out("t", "TENSOR", [2])])
    b = node(
        2, "B", [inp("m", "MODEL", 1), inp("t", "TENSOR", 2)], [out("t", "TENSOR", [3])], mode=4
    )
    c = node(3, "PreviewAny", [inp("source", "*", 3)])
    links = [[1, 1, 0, 2, 0, "MODEL"], [2, 1, 1, 2, 1, "TENSOR"], [3, 2, 0, 3, 0, "*"]]
    wf = read_workflow(ui([a, b, c], links))
    assert (wf.nodes["3"].inputs["source"].source, wf.nodes["3"].inputs["source"].source_slot) == (
        "1",
        1,
    )
