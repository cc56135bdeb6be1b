"""Links resolve through the input that holds them, by name; every repair is reported."""

from __future__ import annotations

from dnne_robot.workflow import Link, Repair, load_workflow, read_workflow

from .conftest import DATA
from .helpers import inp, node, out, ui


def _repair(wf, link_id: int) -> Repair:
    (found,) = [r for r in wf.repairs if r.link_id == link_id]
    return found


def test_target_slot_is_never_trusted_the_input_name_is() -> None:
    """links[] says target_slot 2, but the input holding link 30 is ppo_config at index 1."""
    wf = load_workflow(DATA / "repairs_ui04.json")
    assert wf.nodes["26"].inputs["ppo_config"] == Link(
        "27", 0, "26", "ppo_config", "PPO_CONFIG_PYDICT", 30
    )
    r = _repair(wf, 30)
    assert (r.source, r.target, r.target_input) == ("27", "26", "ppo_config")
    assert (r.field, r.old, r.new) == ("target_slot", 2, 1)
    assert "index 1" in r.reason
    assert str(r).startswith("repaired link 30 (#27 -> #26.ppo_config): target_slot 2 -> 1")


def test_link_only_in_links_table_is_attached_to_a_free_input() -> None:
    wf = load_workflow(DATA / "repairs_ui04.json")
    assert wf.nodes["26"].inputs["balancing_config"].source == "28"
    r = _repair(wf, 29)
    assert (r.source, r.target, r.target_input) == ("28", "26", "balancing_config")
    assert (r.field, r.old, r.new) == ("link", None, 29)
    assert "slot 2" in r.reason and "attached" in r.reason


def test_link_missing_from_links_table_is_rebuilt_from_the_output() -> None:
    wf = load_workflow(DATA / "repairs_ui04.json")
    assert wf.nodes["26"].inputs["env_config"] == Link(
        "25", 0, "26", "env_config", "ISAAC_ENV_CONFIG_PYDICT", 31
    )
    r = _repair(wf, 31)
    assert (r.source, r.target, r.target_input, r.field, r.old, r.new) == (
        "25",
        "26",
        "env_config",
        "origin_slot",
        None,
        0,
    )
    assert "missing from links[]" in r.reason


def test_origin_slot_beyond_outputs_is_repaired_from_the_output_lists() -> None:
    wf = load_workflow(DATA / "repairs_ui04.json")
    assert wf.nodes["61"].inputs["done"] == Link("60", 1, "61", "done", "TENSOR", 41)
    r = _repair(wf, 41)
    assert (r.source, r.target, r.target_input, r.field, r.old, r.new) == (
        "60",
        "61",
        "done",
        "origin_slot",
        7,
        1,
    )
    assert "beyond the 3 outputs" in r.reason


def test_unresolvable_links_are_left_out_and_noted() -> None:
    wf = load_workflow(DATA / "repairs_ui04.json")
    assert "reward" not in wf.nodes["61"].inputs
    assert any("link 42" in n and "left unlinked" in n for n in wf.notes)
    assert any("links[] entry 43" in n and "missing node #99" in n for n in wf.notes)
    assert len(wf.repairs) == 4


def _pair(**overrides):
    """#1 (two TENSOR outputs) feeds #2's second input through link 5."""
    src = node(
        1,
        "Src",
        [],
        [out("a", "TENSOR", [5] if overrides.get("listed", True) else None), out("b", "MODEL")],
    )
    dst = node(2, "Dst", [inp("first", "TENSOR"), inp("second", "TENSOR", 5)])
    link = overrides.get("link", [5, 1, 0, 2, 1, "TENSOR"])
    return ui([src, dst], [link] if link else [])


def test_consistent_file_has_no_repairs() -> None:
    wf = read_workflow(_pair())
    assert wf.nodes["2"].inputs == {"second": Link("1", 0, "2", "second", "TENSOR", 5)}
    assert wf.repairs == [] and wf.notes == []


def test_wrong_target_node_in_links_table_follows_the_input() -> None:
    wf = read_workflow(_pair(link=[5, 1, 0, 3, 0, "TENSOR"]))
    assert wf.nodes["2"].inputs["second"].source == "1"
    (r,) = wf.repairs
    assert (r.field, r.old, r.new, r.target_input) == ("target", "3", "2", "second")


def test_missing_origin_node_is_repaired_from_the_output_lists() -> None:
    wf = read_workflow(_pair(link=[5, 9, 0, 2, 1, "TENSOR"]))
    assert wf.nodes["2"].inputs["second"] == Link("1", 0, "2", "second", "TENSOR", 5)
    (r,) = wf.repairs
    assert (r.field, r.old, r.new) == ("origin", ["9", 0], ["1", 0])


def test_origin_slot_of_the_wrong_type_is_repaired() -> None:
    wf = read_workflow(_pair(link=[5, 1, 1, 2, 1, "TENSOR"]))  # slot 1 is MODEL
    assert wf.nodes["2"].inputs["second"].source_slot == 0
    (r,) = wf.repairs
    assert (r.field, r.old, r.new) == ("origin_slot", 1, 0)


def test_in_range_origin_disagreement_keeps_links_table_and_notes_it() -> None:
    data = _pair(link=[5, 1, 1, 2, 1, "*"])
    wf = read_workflow(data)
    assert wf.nodes["2"].inputs["second"].source_slot == 1
    assert wf.repairs == []
    assert any("kept links[]" in n for n in wf.notes)


def test_origin_slot_out_of_range_without_evidence_is_kept_for_the_validator() -> None:
    wf = read_workflow(_pair(link=[5, 1, 4, 2, 1, "TENSOR"], listed=False))
    assert wf.nodes["2"].inputs["second"].source_slot == 4
    assert any("has 2 outputs" in n for n in wf.notes)


def test_missing_origin_without_evidence_is_unresolvable() -> None:
    wf = read_workflow(_pair(link=[5, 9, 0, 2, 1, "TENSOR"], listed=False))
    assert wf.nodes["2"].inputs == {}
    assert any("missing node #9" in n for n in wf.notes)


def test_orphan_link_is_not_attached_over_another_link_or_a_wrong_type() -> None:
    src = node(1, "Src", [], [out("a", "TENSOR", [5, 6, 7])])
    dst = node(2, "Dst", [inp("x", "TENSOR", 5), inp("y", "MODEL")])
    wf = read_workflow(
        ui(
            [src, dst],
            [
                [5, 1, 0, 2, 0, "TENSOR"],
                [6, 1, 0, 2, 0, "TENSOR"],  # slot 0 already holds link 5
                [7, 1, 0, 2, 1, "TENSOR"],  # slot 1 is a MODEL input
            ],
        )
    )
    assert wf.nodes["2"].inputs == {"x": Link("1", 0, "2", "x", "TENSOR", 5)}
    assert wf.repairs == []
    assert any("links[] entry 6" in n for n in wf.notes)
    assert any("links[] entry 7" in n and "types differ" in n for n in wf.notes)


def test_one_link_claimed_by_two_inputs_goes_where_links_table_says() -> None:
    src = node(1, "Src", [], [out("a", "TENSOR", [5])])
    a = node(2, "Dst", [inp("x", "TENSOR", 5)])
    b = node(3, "Dst", [inp("x", "TENSOR", 5)])
    wf = read_workflow(ui([src, a, b], [[5, 1, 0, 3, 0, "TENSOR"]]))
    assert "x" not in wf.nodes["2"].inputs
    assert wf.nodes["3"].inputs["x"].source == "1"
    assert any("link 5 is held by" in n for n in wf.notes)


def test_links_table_null_entries_and_repeated_ids_are_noted() -> None:
    src = node(1, "Src", [], [out("a", "TENSOR", [5])])
    dst = node(2, "Dst", [inp("x", "TENSOR", 5)])
    wf = read_workflow(ui([src, dst], [None, [5, 1, 0, 2, 0, "TENSOR"], [5, 1, 0, 2, 0, "X"]]))
    assert wf.nodes["2"].inputs["x"].type == "TENSOR"
    assert any("links[0] is null" in n for n in wf.notes)
    assert any("repeats link id 5" in n for n in wf.notes)
