"""Unreadable input gives a WorkflowFormatError naming where, never another exception."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import pytest

from dnne_robot.workflow import (
    WorkflowError,
    WorkflowFormatError,
    load_workflow,
    read_workflow,
    to_api_prompt,
)

from .catalog_stub import widgets
from .conftest import DATA, FIXTURES, load_json
from .helpers import inp, node, out, ui

SUBGRAPH_ID = "9a3c1a52-6a4e-4d8b-9d55-1f2b3c4d5e6f"


def _write(tmp_path: Path, content: str | bytes, name: str = "wf.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  "1": {"class_type": "A",\n          "inputs": {} "x": 1}\n}')
    with pytest.raises(WorkflowFormatError) as err:
        load_workflow(path)
    e = err.value
    assert (e.line, e.column) == (3, 24)
    assert str(e) == f"{path}:3:24: invalid JSON: Expecting ',' delimiter"
    assert isinstance(e, WorkflowError)


def test_error_survives_pickling() -> None:
    e = WorkflowFormatError("bad", path="p.json", line=1, column=2, node_id="7", field="type")
    back = pickle.loads(pickle.dumps(e))
    assert str(back) == str(e) == "p.json:1:2: node 7: bad"
    assert back.field == "type"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("  \n\t ", "empty file"),
        ("[]", "got an array at the top level"),
        ('"workflow"', "got a string at the top level"),
        ("42", "got a number at the top level"),
        ("null", "got null at the top level"),
        ('{"nodes": {}}', "'nodes' must be a list, got an object"),
        ('{"nodes": [1]}', "nodes[0] must be an object"),
        ('{"nodes": [{"type": "A"}]}', "nodes[0] has no 'id'"),
        ('{"nodes": [{"id": [1], "type": "A"}]}', "nodes[0].id must be an integer"),
        ('{"nodes": [{"id": 3}]}', "node 3: node has no 'type'"),
        ('{"nodes": [{"id": 3, "type": 5}]}', "node 3: 'type' must be a non-empty string"),
        ('{"nodes": [{"id": 3, "type": "A", "inputs": {}}]}', "node 3: 'inputs' must be a list"),
        ('{"nodes": [{"id": 3, "type": "A", "inputs": [7]}]}', "node 3: inputs[0] must be an"),
        (
            '{"nodes": [{"id": 3, "type": "A", "inputs": [{"name": "x", "link": "1"}]}]}',
            "node 3: inputs[0].link must be an integer",
        ),
        (
            '{"nodes": [{"id": 3, "type": "A", "outputs": [{"links": 4}]}]}',
            "node 3: outputs[0].links must be a list or null",
        ),
        (
            '{"nodes": [{"id": 3, "type": "A", "widgets_values": 4}]}',
            "node 3: 'widgets_values' must be a list or an object",
        ),
        ('{"nodes": [{"id": 3, "type": "A", "mode": "bypass"}]}', "node 3: mode must be an"),
        ('{"nodes": [], "links": {}}', "'links' must be a list"),
        ('{"nodes": [], "links": [[1, 2, 3]]}', "links[0] must be [id, origin_id"),
        ('{"nodes": [], "links": [{"id": 1}]}', "links[0] has no 'origin_id'"),
        ('{"nodes": [], "links": [[1, 2, 0, 3, 0.5, "T"]]}', "links[0] target_slot must be"),
        ('{"nodes": [], "definitions": []}', "'definitions' must be an object"),
        ('{"nodes": [], "definitions": {"subgraphs": [{"name": "x"}]}}', "has no string 'id'"),
        ('{"1": 5}', "node 1: expected an object"),
        ('{"1": {"inputs": {}}}', "node 1: node has no 'class_type'"),
        ('{"1": {"class_type": ""}}', "node 1: 'class_type' must be a non-empty string"),
        ('{"1": {"class_type": "A", "inputs": []}}', "node 1: 'inputs' must be an object"),
        ('{"1": {"class_type": "A", "inputs": {"x": ["1", 0.5]}}}', "must be an integer"),
        (
            '{"1": {"class_type": "A"}, "2": {"class_type": "B", "inputs": {"x": ["1", NaN]}}}',
            "must be an integer",
        ),
        ("[" * 100_000, "nested too deeply"),
        ("1" * 5000, "invalid JSON"),  # longer than Python's int digit limit: a ValueError
    ],
)
def test_bad_input_raises_format_error(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(WorkflowFormatError) as err:
        load_workflow(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


def test_node_and_field_are_attributes() -> None:
    with pytest.raises(WorkflowFormatError) as err:
        read_workflow(ui([node(12, "A", [{"name": "x", "link": []}])], []))
    assert (err.value.node_id, err.value.field) == ("12", "inputs[0].link")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(WorkflowFormatError, match="file not found"):
        load_workflow(tmp_path / "nope.json")
    with pytest.raises(WorkflowFormatError, match="is a directory"):
        load_workflow(tmp_path)
    with pytest.raises(WorkflowFormatError, match="UTF-16"):
        load_workflow(_write(tmp_path, "{}".encode("utf-16")))
    bad = _write(tmp_path, b'{\n  "1": "\xff"\n}')
    with pytest.raises(WorkflowFormatError) as err:
        load_workflow(bad)
    assert (err.value.line, err.value.column) == (2, 9)
    assert "not UTF-8" in str(err.value)


def test_deeply_nested_value_inside_a_valid_workflow() -> None:
    deep: Any = 0
    for _ in range(50_000):
        deep = [deep]
    try:
        wf = read_workflow({"1": {"class_type": "A", "inputs": {"x": deep}}})
    except WorkflowFormatError:
        return
    assert wf.nodes["1"].inputs["x"] is deep


@pytest.mark.parametrize("name", FIXTURES)
def test_every_truncation_of_every_fixture(tmp_path: Path, name: str) -> None:
    raw = (DATA / name).read_bytes()
    path = tmp_path / name
    for cut in range(0, len(raw), 97):
        path.write_bytes(raw[:cut])
        with pytest.raises(WorkflowFormatError) as err:
            load_workflow(path, widgets=widgets)
        assert str(err.value).startswith(str(path))


# -- fuzzing ------------------------------------------------------------------------------


def _read_or_format_error(data: Any, **kwargs: Any) -> None:
    try:
        read_workflow(data, **kwargs)
    except WorkflowFormatError as e:
        str(e)  # the message itself must render


class _Json:
    """Random JSON values, biased toward the shapes a workflow reader looks at."""

    def __init__(self, seed: int) -> None:
        import random

        self.rng = random.Random(seed)

    def scalar(self) -> Any:
        r = self.rng
        return r.choice(
            [
                None,
                True,
                False,
                0,
                1,
                -1,
                2,
                7,
                10**30,
                1.5,
                -0.0,
                float("inf"),
                float("nan"),
                "",
                "0",
                "1",
                "-10",
                "-20",
                "x",
                "TENSOR",
                "*",
                "fixed",
                "Reroute",
                "PrimitiveNode",
                "Note",
                "9a3c1a52-6a4e-4d8b-9d55-1f2b3c4d5e6f",
                "__value__",
                "\n",
                "é🤖",
            ]
        )

    def value(self, depth: int = 0) -> Any:
        r = self.rng
        kind = r.random()
        if depth > 3 or kind < 0.5:
            return self.scalar()
        if kind < 0.75:
            return [self.value(depth + 1) for _ in range(r.randrange(7))]
        keys = [
            "id",
            "type",
            "class_type",
            "inputs",
            "outputs",
            "links",
            "link",
            "name",
            "widget",
            "widgets_values",
            "mode",
            "title",
            "_meta",
            "nodes",
            "__value__",
            "origin_id",
            "target_id",
            "origin_slot",
            "target_slot",
            "linkIds",
            "prompt",
        ]
        return {r.choice(keys): self.value(depth + 1) for _ in range(r.randrange(5))}

    def mutate(self, data: Any) -> Any:
        """Replace, delete or retype one randomly chosen sub-value of a copy of ``data``."""
        data = json.loads(json.dumps(data))
        parents: list[tuple[Any, Any]] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, dict):
                for k in obj:
                    parents.append((obj, k))
                    walk(obj[k])
            elif isinstance(obj, list):
                for i in range(len(obj)):
                    parents.append((obj, i))
                    walk(obj[i])

        walk(data)
        if not parents:
            return self.value()
        for _ in range(self.rng.randrange(1, 4)):
            parent, key = self.rng.choice(parents)
            try:
                current = parent[key]
            except (KeyError, IndexError):
                continue
            choice = self.rng.random()
            if choice < 0.15 and isinstance(parent, dict):
                del parent[key]
            elif (
                choice < 0.3 and isinstance(current, int | float) and not isinstance(current, bool)
            ):
                parent[key] = self.rng.choice([current + 1, current - 1, -current, str(current)])
            else:
                parent[key] = self.value(1)
        return data


def test_random_json_values() -> None:
    gen = _Json(1)
    for _ in range(1500):
        _read_or_format_error(gen.value())


@pytest.mark.parametrize("name", FIXTURES)
def test_random_mutations_of_each_fixture(name: str) -> None:
    base = load_json(name)
    gen = _Json(sum(map(ord, name)))
    for _ in range(400):
        _read_or_format_error(gen.mutate(base), widgets=widgets)


def test_random_mutations_of_the_reconciling_ui_workflow() -> None:
    api = load_json("dnne_stream_api.json")
    ui_data = load_json("dnne_stream_ui04.json")
    gen = _Json(7)
    for _ in range(300):
        _read_or_format_error(api, ui_data=gen.mutate(ui_data), widgets=widgets)


def test_structured_hostile_graphs() -> None:
    """Shapes that stress the passes: loops of reroutes and bypassed nodes, self links."""
    cases = [
        ui(
            [
                node(1, "Reroute", [inp("", "*", 2)], [out("", "*", [1])]),
                node(2, "Reroute", [inp("", "*", 1)], [out("", "*", [2, 3])]),
                node(3, "C", [inp("x", "*", 3)]),
            ],
            [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"], [3, 2, 0, 3, 0, "*"]],
        ),
        ui(
            [
                node(1, "B", [inp("x", "T", 2)], [out("o", "T", [1])], mode=4),
                node(2, "B", [inp("x", "T", 1)], [out("o", "T", [2, 3])], mode=4),
                node(3, "C", [inp("x", "T", 3)]),
            ],
            [[1, 1, 0, 2, 0, "T"], [2, 2, 0, 1, 0, "T"], [3, 2, 0, 3, 0, "T"]],
        ),
        ui([node(1, "A", [inp("x", "T", 1)], [out("o", "T", [1])])], [[1, 1, 0, 1, 0, "T"]]),
        ui(
            [node(1, "A", [inp("x", "T", 1)], [out("o", "T", [1])], mode=2)],
            [[1, 1, -1, 1, -5, "T"]],
        ),
    ]
    for data in cases:
        wf = read_workflow(data)
        assert all(isinstance(n.id, str) for n in wf.nodes.values())


def _semantic_mutation(data: Any, rng: random.Random) -> Any:
    """Small in-range edits: link ids, slots and node ids off by one, modes and types swapped."""
    data = json.loads(json.dumps(data))
    ints: list[tuple[Any, Any]] = []
    nodes: list[dict[str, Any]] = []

    def walk(obj: Any) -> None:
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        if isinstance(obj, dict) and "type" in obj and "id" in obj and "inputs" in obj:
            nodes.append(obj)
        for k, v in items:
            if isinstance(v, int) and not isinstance(v, bool):
                ints.append((obj, k))
            elif isinstance(v, dict | list):
                walk(v)

    walk(data)
    for _ in range(rng.randrange(1, 6)):
        if rng.random() < 0.5 and ints:
            obj, k = rng.choice(ints)
            obj[k] = rng.choice([obj[k] + 1, obj[k] - 1, 0, 1, -10, -20, 99])
        elif nodes:
            n = rng.choice(nodes)
            roll = rng.random()
            if roll < 0.4:
                n["mode"] = rng.choice([0, 1, 2, 4])
            elif roll < 0.6:
                n["type"] = rng.choice(["Reroute", "PrimitiveNode", "Note", SUBGRAPH_ID, "X"])
            elif roll < 0.8 and n["inputs"]:
                rng.choice(n["inputs"])["link"] = rng.randrange(15)
            elif n.get("outputs"):
                rng.choice(n["outputs"])["links"] = [rng.randrange(15) for _ in range(2)]
    return data


@pytest.mark.parametrize("name", FIXTURES)
def test_semantic_mutations_read_and_round_trip(name: str) -> None:
    base = load_json(name)
    rng = random.Random(name)
    for _ in range(150):
        data = _semantic_mutation(base, rng)
        try:
            wf = read_workflow(data, widgets=widgets)
        except WorkflowFormatError as e:
            str(e)
            continue
        for link in wf.links():  # no dangling link survives the reader
            assert link.source in wf.nodes
        prompt = to_api_prompt(wf)
        assert to_api_prompt(read_workflow(json.loads(json.dumps(prompt)))) == prompt
