"""DNNE's Custom Computation: a user script's compute() on every input, as its template runs
it (``custom_computation_queue.tpl``, the 1-2 argument version)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from dnne_robot.nodes import custom
from dnne_robot.nodes.custom import CustomComputationNode
from dnne_robot.runtime import NodeError, QueueNode, RunContext

from .helpers import Tap, configured, feed, graph, run

#: Where a node's SCRIPT is relative to: the package root (an export's root folder).
PACKAGE_ROOT = Path(custom.__file__).resolve().parents[2]


def write_script(folder: Path, body: str, name: str = "script.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def custom_node(path: Path, config: dict[str, Any] | None = None) -> type:
    # The exporter writes SCRIPT relative to the package root; a relative path to tmp_path
    # resolves the same way.
    return configured(CustomComputationNode, SCRIPT=os.path.relpath(path, PACKAGE_ROOT),
                      CONFIG=config or {}, SRC_PATH=path.name)


def compute(path: Path, inputs: list[Any], extra: list[Any] | None = None,
            config: dict[str, Any] | None = None) -> tuple[list[Any], QueueNode, RunContext]:
    """Run inputs (and extra_args, when given) through a Custom Computation node."""
    ctx, g = graph()
    source = g.add(feed(inputs)("1", "inputs", ctx))
    node = g.add(custom_node(path, config)("2", "cc", ctx))
    tap = g.add(Tap("3", "tap", ctx))
    g.connect(source, "value", node, "input")
    if extra is not None:
        g.connect(g.add(feed(extra)("4", "extra", ctx)), "value", node, "extra_args")
    g.connect(node, "output", tap, "x")
    assert run(g) == "done"
    return tap.seen, node, ctx


TWO_ARGS = """
    def compute(input, extra_args=None):
        if extra_args is None:
            return input * 2
        return input + extra_args
"""


def test_compute_gets_extra_args_when_connected_and_none_otherwise(tmp_path: Path) -> None:
    path = write_script(tmp_path, TWO_ARGS)
    xs = [torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])]
    out, _, _ = compute(path, xs)
    assert [t.tolist() for t in out] == [[[2.0, 4.0]], [[6.0, -2.0]]]
    out, _, _ = compute(path, xs, extra=[torch.tensor([[10.0, 10.0]]), torch.tensor([[0.5, 0.5]])])
    assert [t.tolist() for t in out] == [[[11.0, 12.0]], [[3.5, -0.5]]]  # joined in order


def test_compute_with_one_parameter(tmp_path: Path) -> None:
    path = write_script(tmp_path, """
        def compute(x):
            return x.sum(dim=1, keepdim=True)
    """)
    out, _, _ = compute(path, [torch.ones(2, 3), torch.arange(4.0).reshape(1, 4)])
    assert [t.tolist() for t in out] == [[[3.0], [3.0]], [[6.0]]]


def test_compute_returning_none_sends_nothing(tmp_path: Path) -> None:
    path = write_script(tmp_path, """
        CALLS = 0

        def compute(input, extra_args=None):  # DNNE's example_filter.py
            global CALLS
            CALLS += 1
            return input if input.mean() > 0 else None
    """)
    xs = [torch.tensor([1.0]), torch.tensor([-1.0]), torch.tensor([2.0]), torch.tensor([-3.0])]
    out, node, _ = compute(path, xs)
    assert [t.tolist() for t in out] == [[1.0], [2.0]]
    assert node.script.CALLS == 4


def test_set_config_info_is_called_once_with_the_config(tmp_path: Path) -> None:
    path = write_script(tmp_path, """
        CONFIGS = []

        def set_config_info(config):
            CONFIGS.append(config)

        def compute(input, extra_args=None):
            return input[..., : CONFIGS[-1]["extra_args_len"]]
    """)
    config = {"DEBUG": True, "key_name": "debug_sphere_pos", "extra_args_len": 2}
    out, node, _ = compute(path, [torch.arange(4.0).reshape(1, 4)] * 3, config=config)
    assert node.script.CONFIGS == [config]
    assert [t.tolist() for t in out] == [[[0.0, 1.0]]] * 3


def test_each_node_loads_its_own_copy_of_the_script(tmp_path: Path) -> None:
    path = write_script(tmp_path, """
        COUNT = 0

        def compute(input, extra_args=None):
            global COUNT
            COUNT += 1
            return COUNT
    """)
    ctx, g = graph()
    taps = []
    for i, n in ((1, 3), (2, 2)):
        source = g.add(feed([0] * n)(f"f{i}", f"f{i}", ctx))
        node = g.add(custom_node(path)(f"c{i}", f"cc{i}", ctx))
        taps.append(g.add(Tap(f"t{i}", f"t{i}", ctx)))
        g.connect(source, "value", node, "input")
        g.connect(node, "output", taps[-1], "x")
    assert run(g) == "done"
    assert [tap.seen for tap in taps] == [[1, 2, 3], [1, 2]]  # separate module globals


@pytest.mark.parametrize("exit_code", [0, 3])
def test_cause_exit_exception_ends_the_run_as_complete(tmp_path: Path, exit_code: int) -> None:
    path = write_script(tmp_path, f"""
        from dnne_robot.runtime import CauseExitException

        CALLS = 0

        def compute(input, extra_args=None):  # DNNE's example_reshape.py
            global CALLS
            CALLS += 1
            if CALLS >= 5:
                raise CauseExitException("2", "Test complete - 5 iterations done",
                                         exit_code={exit_code})
            return input.reshape(input.shape[0] * 2, input.shape[1] // 2)
    """)
    out, node, ctx = compute(path, [torch.zeros(2, 4)] * 10)
    assert node.script.CALLS == 5  # of ten inputs: nothing ran after the exit
    assert len(out) <= 4 and all(t.shape == (4, 2) for t in out)  # in flight: may be dropped
    assert ctx.completed == ("node #2 'cc' (TestCustomComputationNode): "
                             "Test complete - 5 iterations done")
    assert ctx.exit_code == exit_code


def test_any_other_exception_stops_the_run_naming_the_node(tmp_path: Path) -> None:
    path = write_script(tmp_path, """
        def compute(input, extra_args=None):
            if input > 1:
                raise ValueError(f"cannot take {input}")
            return input
    """)
    with pytest.raises(NodeError, match=r"^node #2 'cc' \(TestCustomComputationNode\) failed: "
                                        r"ValueError: cannot take 2$") as error:
        compute(path, [1, 2, 3])
    assert error.value.node_id == "2" and isinstance(error.value.cause, ValueError)


def test_a_script_without_compute_is_refused_at_setup(tmp_path: Path) -> None:
    path = write_script(tmp_path, "def transform(x):\n    return x\n", name="nothing.py")
    with pytest.raises(NodeError, match=r"#2 'cc'.*nothing\.py has no compute\(input, "
                                        r"extra_args=None\) function"):
        compute(path, [1])
