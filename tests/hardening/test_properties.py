"""Property-based tests (hypothesis), bounded to about half a minute together.

* Random valid ML graphs built from the catalog's ML nodes (data -> a random chain of Linear,
  Activation, Dropout, BatchNorm and Network layers -> trainer), with random titles and ids,
  export to code that parses and trains a few steps.
* Random mutations of the scenario files (keys deleted, values of other types, links swapped,
  numbers perturbed) either export or fail with ValidationError / WorkflowError: never any
  other exception.
* Random bytes and random JSON never make the reader raise anything but WorkflowError.

CI runs a fixed (derandomized) sample; the ``slow`` variants explore many more examples.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import math
import os
import runpy
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnne_robot.render.package import RenderError
from dnne_robot.validate import ValidationError
from dnne_robot.workflow import WorkflowError, read_workflow
from dnne_robot.workflow.json_source import parse_json_bytes

from .helpers import SCENARIOS

CI = settings(deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SCENARIO_DATA = {p.name: json.loads(p.read_text()) for p in sorted(SCENARIOS.glob("*.json"))}


# ------------------------------------------------------------------------------ ML graphs
def _run_export(out: Path, argv: list[str]) -> tuple[int, str]:
    """``runner.py ARGV`` in this process (the export's ``framework`` loaded fresh)."""
    import torch

    for name in [m for m in sys.modules if m.split(".")[0] in ("framework", "generated_nodes")]:
        del sys.modules[name]
    saved = (os.getcwd(), signal.getsignal(signal.SIGTERM), torch.get_num_threads())
    sys.path.insert(0, str(out))
    os.chdir(out)
    stream = io.StringIO()
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            ns = runpy.run_path(str(out / "runner.py"), run_name="exported_runner")
            code = ns["main"](ns["build_graph"], ns["META"], argv)
    finally:
        os.chdir(saved[0])
        signal.signal(signal.SIGTERM, saved[1])
        torch.set_num_threads(saved[2])
        sys.path.remove(str(out))
    return code, stream.getvalue()


titles = st.text(max_size=30)


def _layer(class_type: str, **widgets: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({"class_type": st.just(class_type),
                                  "inputs": st.fixed_dictionaries(widgets)})


layer = st.one_of(
    _layer("LinearLayerNode", output_size=st.integers(1, 16), bias=st.booleans(),
           activation=st.sampled_from(["none", "relu", "tanh", "sigmoid"]),
           dropout=st.floats(0.0, 1.0)),
    _layer("ActivationNode", activation=st.sampled_from(
        ["relu", "tanh", "sigmoid", "elu", "gelu", "leaky_relu"])),
    _layer("DropoutNode", p=st.floats(0.0, 1.0)),
    _layer("BatchNormNode", momentum=st.floats(0.0, 1.0), eps=st.floats(1e-6, 1.0)),
    _layer("NetworkNode", output_size=st.integers(1, 16),
           activation=st.sampled_from(["relu", "tanh", "elu"]),
           hidden_sizes=st.lists(st.integers(1, 16), min_size=1, max_size=3).map(
               lambda sizes: ", ".join(map(str, sizes)))),
)


@st.composite
def ml_graphs(draw: st.DrawFn) -> dict:
    """An API prompt: data -> 0-6 random layers -> a width-1 head -> supervised trainer."""
    chain = draw(st.lists(layer, max_size=6))
    chain.append({"class_type": "LinearLayerNode", "inputs": {
        "output_size": 1, "bias": True, "activation": "none", "dropout": 0.0}})
    ids = draw(st.lists(st.text(max_size=6), min_size=len(chain) + 2,
                        max_size=len(chain) + 2, unique=True))
    data_id, trainer_id, layer_ids = ids[0], ids[1], ids[2:]
    batch, samples = draw(st.integers(1, 16)), draw(st.integers(1, 64))
    if any(entry["class_type"] == "BatchNormNode" for entry in chain):
        batch, samples = max(batch, 2), max(samples, 2)  # batch norm trains on 2 or more
    graph = {data_id: {"class_type": "RegressionDataNode", "inputs": {
        "function": draw(st.sampled_from(["sin", "poly", "linear"])),
        "input_dim": draw(st.integers(1, 4)), "num_samples": samples,
        "batch_size": batch, "noise": draw(st.floats(0.0, 1.0)),
        "seed": draw(st.integers(0, 2**31 - 1)), "trigger": [trainer_id, 1]}}}
    previous = data_id
    for nid, entry in zip(layer_ids, chain, strict=True):
        entry = copy.deepcopy(entry)
        entry["inputs"]["input"] = [previous, 0]
        graph[nid] = entry
        previous = nid
    graph[trainer_id] = {"class_type": "SupervisedTrainerNode", "inputs": {
        "predictions": [previous, 0], "targets": [data_id, 1],
        "loss": draw(st.sampled_from(["mse", "l1", "huber"])),
        "optimizer": draw(st.sampled_from(["adam", "sgd"])),
        "learning_rate": draw(st.floats(1e-4, 0.1)), "log_interval": draw(st.integers(1, 5))}}
    for entry in graph.values():
        entry["_meta"] = {"title": draw(titles)}
    return graph


def _export_and_train(graph: dict) -> None:
    from dnne_robot.pipeline import export

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "wf.json"
        src.write_text(json.dumps(graph))
        export(src, Path(tmp) / "out")
        for path in (Path(tmp) / "out").rglob("*.py"):
            ast.parse(path.read_text(encoding="utf-8"), str(path))
        code, output = _run_export(Path(tmp) / "out", [
            "train", "--steps", "3", "--run-dir", str(Path(tmp) / "run"), "--no-progress"])
        assert code == 0, output[-3000:]
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
        assert summary["steps"] == 3 and summary["status"] == "done"


@settings(CI, max_examples=25)
@given(ml_graphs())
def test_random_ml_graphs_export_parse_and_train(graph: dict) -> None:
    _export_and_train(graph)


@pytest.mark.slow
@settings(deadline=None, max_examples=150, suppress_health_check=list(HealthCheck))
@given(ml_graphs())
def test_random_ml_graphs_many(graph: dict) -> None:
    _export_and_train(graph)


# ------------------------------------------------------------------------------ mutations
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20) | st.sampled_from(["", "1", "64,64", "Cartpole", "\x00", "{{ x }}"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _get(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(root: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _perturb(number: float | int) -> list[Any]:
    return [-number, number + 1, number * 10**6, 1e308, -1e308, 10**400, math.nan, math.inf,
            0, 0.5, str(number), [number], None, True]


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> tuple[Any, str]:
    name = draw(st.sampled_from(sorted(SCENARIO_DATA)))
    sim = draw(st.sampled_from(["gymnasium", "mujoco"]))
    data = copy.deepcopy(SCENARIO_DATA[name])
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        target = _get(data, path)
        op = draw(st.sampled_from(["delete", "replace", "swap", "perturb", "retype"]))
        if op == "delete" and path:
            parent = _get(data, path[:-1])
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif op == "replace":
            data = _set(data, path, draw(json_values))
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            if path[: len(other)] != other and other[: len(path)] != path:  # disjoint
                a, b = copy.deepcopy(_get(data, path)), copy.deepcopy(_get(data, other))
                data = _set(data, path, b)
                data = _set(data, other, a)
        elif op == "perturb" and isinstance(target, (int, float)) and not isinstance(target, bool):
            data = _set(data, path, draw(st.sampled_from(_perturb(target))))
        elif op == "retype":
            data = _set(data, path, draw(st.sampled_from(
                [str(target)[:50], [target], {"__value__": target}, None, len(str(target))])))
    return data, sim


def _export_or_refuse(case: tuple[Any, str]) -> str:
    data, sim = case
    from dnne_robot.pipeline import export

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "wf.json"
        src.write_text(json.dumps(data, allow_nan=True))
        try:
            export(src, Path(tmp) / "out", sim=sim)
        except (ValidationError, WorkflowError):
            return "refused"
        except RenderError as exc:  # the exporter made invalid Python: a bug, not a refusal
            raise AssertionError(f"render error: {exc}") from exc
        return "exported"


@settings(CI, max_examples=150)
@given(mutated_scenarios())
def test_mutated_scenarios_export_or_fail_with_a_workflow_error(case: tuple) -> None:
    _export_or_refuse(case)


@pytest.mark.slow
@settings(deadline=None, max_examples=3000, suppress_health_check=list(HealthCheck))
@given(mutated_scenarios())
def test_mutated_scenarios_many(case: tuple) -> None:
    _export_or_refuse(case)


# ------------------------------------------------------------------------------ the reader
@settings(CI, max_examples=300)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_reader_raises_only_workflow_errors(raw: bytes) -> None:
    try:
        read_workflow(parse_json_bytes(raw, path="fuzz.json"), path="fuzz.json")
    except WorkflowError:
        pass
