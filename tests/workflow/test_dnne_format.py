"""DNNE's extensions of the UI format: Label nodes, several links into one input, link rows
with slot names, and structural problems reported all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnne_robot.workflow import WorkflowFormatErrors, load_workflow

SHARED = Path(__file__).resolve().parents[3] / "shared" / "dnne" / "workflows"


def node(nid: int, type_: str, inputs=(), outputs=(), widgets=None, **extra) -> dict:
    return {"id": nid, "type": type_, "pos": [0, 0], "size": [100, 50], "flags": {},
            "order": nid, "mode": 0, "inputs": list(inputs), "outputs": list(outputs),
            "properties": extra.pop("properties", {"Node name for S&R": type_}),
            **({"widgets_values": widgets} if widgets is not None else {}), **extra}


def sock(name: str, link=None, links=None) -> dict:
    entry = {"name": name, "type": "*", "link": link}
    if links is not None:
        entry["links"] = links
    return entry


def out(name: str, links=()) -> dict:
    return {"name": name, "type": "*", "links": list(links)}


def write(tmp_path: Path, nodes: list, links: list, name: str = "wf.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"last_node_id": 99, "last_link_id": 99, "nodes": nodes,
                                "links": links, "groups": [], "config": {}, "extra": {},
                                "version": 0.4}))
    return path


def label_out(nid: int, source: int, slot: int, name: str, link: int) -> dict:
    return node(nid, "Label", [sock("", link)], [], properties={
        "labelName": name, "labelDirection": "output", "sourceNodeId": source,
        "sourceSlotName": "x", "sourceSlotIndex": slot})


def label_in(nid: int, target: int, slot: int, name: str, links: list[int]) -> dict:
    return node(nid, "Label", [sock("")], [out("", links)], properties={
        "labelName": name, "labelDirection": "input", "targetNodeId": target,
        "targetSlotIndex": slot, "connectedToLabel": name})


def test_labels_become_links_with_fan_out(tmp_path: Path) -> None:
    nodes = [
        node(1, "Src", [], [out("a"), out("b", [10])]),
        label_out(2, 1, 1, "Src(1).b", 10),
        label_in(3, 5, 0, "Src(1).b", [11]),
        label_in(4, 6, 0, "Src(1).b", [12]),
        node(5, "Dst", [sock("x", 11)], []),
        node(6, "Dst", [sock("x", 12)], []),
    ]
    links = [[10, 1, 1, 2, 0, "*"], [11, 3, 0, 5, 0, "*"], [12, 4, 0, 6, 0, "*"]]
    wf = load_workflow(write(tmp_path, nodes, links))
    assert set(wf.nodes) == {"1", "5", "6"}  # the labels are gone
    for target in ("5", "6"):
        link = wf.nodes[target].inputs["x"]
        assert (link.source, link.source_slot) == ("1", 1)


def test_dangling_labels_are_all_reported_at_once(tmp_path: Path) -> None:
    nodes = [
        node(1, "Src", [], [out("a")]),
        label_in(3, 5, 0, "Nowhere(7).a", [11]),
        label_in(4, 6, 0, "Missing(8).b", [12]),
        node(5, "Dst", [sock("x", 11)], []),
        node(6, "Dst", [sock("x", 12)], []),
    ]
    links = [[11, 3, 0, 5, 0, "*"], [12, 4, 0, 6, 0, "*"]]
    with pytest.raises(WorkflowFormatErrors) as info:
        load_workflow(write(tmp_path, nodes, links))
    messages = [str(e) for e in info.value.errors]
    assert len(messages) == 2
    assert "Nowhere(7).a" in messages[0] and "#3" in messages[0]
    assert "Missing(8).b" in messages[1] and "#4" in messages[1]
    assert all(m.startswith(str(tmp_path / "wf.json")) for m in messages)


def test_several_links_into_one_input_are_all_kept(tmp_path: Path) -> None:
    # DNNE: the input's link holds the newest id, its links list every one (1 is stale).
    nodes = [
        node(1, "Src", [], [out("a", [20])]),
        node(2, "Src", [], [out("a", [21])]),
        node(3, "Dst", [sock("x", 21, links=[1, 20, 21])], []),
    ]
    links = [[20, 1, 0, 3, 0, "TRIGGER"], [21, 2, 0, 3, 0, "*"]]
    wf = load_workflow(write(tmp_path, nodes, links))
    dst = wf.nodes["3"]
    assert dst.inputs["x"].source == "2"
    assert [link.source for link in dst.more_links["x"]] == ["1"]
    assert sorted(link.source for link in wf.links()) == ["1", "2"]
    assert not wf.repairs


def test_a_second_link_an_input_does_not_list_is_still_ignored(tmp_path: Path) -> None:
    """ComfyUI's rule stands where DNNE's list does not claim the link."""
    nodes = [
        node(1, "Src", [], [out("a", [20])]),
        node(2, "Src", [], [out("a", [21])]),
        node(3, "Dst", [sock("x", 21)], []),
    ]
    links = [[20, 1, 0, 3, 0, "*"], [21, 2, 0, 3, 0, "*"]]
    wf = load_workflow(write(tmp_path, nodes, links))
    assert [link.source for link in wf.links()] == ["2"]
    assert any("link 20" in note or "entry 20" in note for note in wf.notes)


def test_named_slots_and_nodes_without_ports(tmp_path: Path) -> None:
    ports = {"Src": ([], ["tensor", "other"]), "Dst": (["input", "to_output"], ["output"])}
    nodes = [{"id": 1, "type": "Src", "widgets_values": []},
             {"id": 2, "type": "Dst", "widgets_values": []},
             {"id": 3, "type": "Dst", "widgets_values": []}]
    links = [[1, 1, "other", 2, 1, "to_output", "*TENSOR"],
             [2, 2, "output", 3, 0, "input", "*"],
             [3, 1, "tensor", 3, 0, "input", "*"]]
    path = tmp_path / "seq.json"
    path.write_text(json.dumps({"nodes": nodes, "links": links, "version": 1.0}))
    wf = load_workflow(path, ports=ports.get)
    to_output = wf.nodes["2"].inputs["to_output"]
    assert (to_output.source, to_output.source_slot) == ("1", 1)
    assert sorted(link.source for link in wf.nodes["3"].links()) == ["1", "2"]
    assert not wf.repairs


def test_bad_slot_names_are_reported_together(tmp_path: Path) -> None:
    ports = {"Src": ([], ["tensor"]), "Dst": (["input"], [])}
    nodes = [{"id": 1, "type": "Src"}, {"id": 2, "type": "Dst"}]
    links = [[1, 1, "tensr", 2, 0, "input", "*"], [2, 1, "tensor", 2, 0, "inptu", "*"],
             [3, 1, 0, 2]]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"nodes": nodes, "links": links}))
    with pytest.raises(WorkflowFormatErrors) as info:
        load_workflow(path, ports=ports.get)
    text = str(info.value)
    assert len(info.value.errors) == 3
    assert "'tensr'" in text and "'inptu'" in text and "links[2]" in text


@pytest.mark.skipif(not SHARED.is_dir(), reason="DNNE's workflows are not beside the repo")
@pytest.mark.parametrize("name", ["Franka_Coop_V2.json", "Shadow_Train.json"])
def test_dnne_files_with_labels_and_several_links_read(name: str) -> None:
    wf = load_workflow(SHARED / name)
    assert not any(n.class_type == "Label" for n in wf.nodes.values())
    several = {f"{n.id}.{k}": 1 + len(v) for n in wf.nodes.values()
               for k, v in n.more_links.items()}
    if name == "Franka_Coop_V2.json":
        assert several == {"74.release": 2, "75.release": 2, "76.release": 2, "40.model": 3}
    else:
        assert several == {"32.sync": 2}
    assert not wf.repairs
