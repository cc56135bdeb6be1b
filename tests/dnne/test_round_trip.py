"""A workflow in DNNE's vocabulary, exported and run in a subprocess, gives what DNNE's node
templates compute: Tensor, Split, Concat, Network (its Linear Layer chain), Eat_N and Barrier.

Each node's output is recorded by DNNE's own Custom Computation node running a small script
that appends what it receives to ``<name>.jsonl``; the expected values are written here from
DNNE's templates (``tensor_queue.tpl``, ``split_node_queue.tpl``, ``concat_node_queue.tpl``,
``network_queue.tpl``, ``eat_n_node_queue.tpl``, ``barrier_node_queue.tpl``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from dnne_robot.catalog.builder import ui_workflow
from dnne_robot.cli.app import app

STEPS = 5

RECORD = '''"""Appends every input to <config name>.jsonl."""
import json

import torch

NAME = "record"


def set_config_info(config):
    global NAME
    NAME = config["name"]


def compute(input, extra_args=None):
    value = input.tolist() if isinstance(input, torch.Tensor) else input
    with open(f"{NAME}.jsonl", "a") as f:
        f.write(json.dumps(value) + "\\n")
    return input
'''

COUNTER = '''"""Emits 0, 1, 2, ... as [[n]], one per input."""
import torch

COUNT = 0


def compute(input, extra_args=None):
    global COUNT
    COUNT += 1
    return torch.tensor([[float(COUNT - 1)]])
'''


def recorder(nid: int, name: str) -> tuple[int, str, str, dict]:
    return (nid, "CustomComputation", f"Record {name}",
            {"src_path": "record.py", "config": json.dumps({"name": name})})


WORKFLOW = ui_workflow(
    [
        (1, "Tensor", "Source", {"tensor_dims": "2,6", "fill_mode": "normal", "seed": 7}),
        (2, "Split", "Split", {"split_mode": "by index", "split_pos": "2,4"}),
        (3, "Concat", "Concat", {}),
        recorder(4, "concat"),
        recorder(5, "tensor"),
        (6, "Network", "Net", {"checkpoint_trigger_type": "end"}),
        (7, "LinearLayer", "Hidden", {"output_size": 5, "activation": "relu"}),
        (8, "LinearLayer", "Out", {"output_size": 3, "activation": "none"}),
        recorder(9, "network"),
        (10, "CustomComputation", "Counter", {"src_path": "counter.py"}),
        (11, "Eat_N", "Eat two", {"num_to_eat": 2}),
        (12, "Barrier", "Hold", {}),
        recorder(13, "eat_n"),
        recorder(14, "barrier"),
        recorder(15, "split_b"),
    ],
    [
        (1, "tensor", 2, "input"), (2, "output_c", 3, "input_a"), (2, "output_a", 3, "input_b"),
        (3, "output", 4, "input"), (1, "tensor", 5, "input"), (2, "output_b", 15, "input"),
        # Network: layers -> Hidden -> Out -> back into to_output
        (1, "tensor", 6, "input"), (6, "layers", 7, "input"), (7, "output", 8, "input"),
        (8, "output", 6, "to_output"), (6, "output", 9, "input"),
        # a counter feeds Eat_N and a Barrier; each eaten item releases one held item
        (1, "tensor", 10, "input"), (10, "output", 11, "input"), (11, "output", 13, "input"),
        (10, "output", 12, "input"), (11, "trigger", 12, "release"), (12, "output", 14, "input"),
    ],
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, isolated_command) -> Path:
    root = tmp_path_factory.mktemp("round_trip")
    scripts = root / "custom_compute_funcs"
    scripts.mkdir()
    (scripts / "record.py").write_text(RECORD)
    (scripts / "counter.py").write_text(COUNTER)
    workflow = root / "flow.json"
    workflow.write_text(json.dumps(WORKFLOW, indent=2))
    out = root / "out"
    result = CliRunner().invoke(app, ["export", str(workflow), "-o", str(out),
                                      "--allow-custom-code", str(scripts)])
    assert result.exit_code == 0, result.output
    prefix, env = isolated_command
    proc = subprocess.run([*prefix, "runner.py", "train", "--steps", str(STEPS), "--no-progress"],
                          cwd=out, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def recorded(out: Path, name: str) -> list[torch.Tensor]:
    lines = (out / f"{name}.jsonl").read_text().splitlines()
    return [torch.tensor(json.loads(line)) for line in lines]


def dnne_tensor() -> torch.Tensor:
    """tensor_queue.tpl: re-seeded before every generation, so the same tensor each time."""
    torch.manual_seed(7)
    return torch.randn(2, 6)


def test_tensor_emits_the_same_seeded_tensor_each_step(run: Path) -> None:
    got = recorded(run, "tensor")
    assert len(got) == STEPS
    for tensor in got:
        assert torch.allclose(tensor, dnne_tensor())


def test_split_by_index_then_concat_in_input_name_order(run: Path) -> None:
    x = dnne_tensor()
    a, b, c = x[:, 0:2], x[:, 2:4], x[:, 4:6]  # cut points 2, 4 on the feature axis
    assert all(torch.allclose(t, b) for t in recorded(run, "split_b"))
    # Concat waits for input_a (Split's c) and input_b (Split's a): cat in name order, dim 1.
    expected = torch.cat([c, a], dim=1)
    got = recorded(run, "concat")
    assert len(got) == STEPS and all(torch.allclose(t, expected) for t in got)


def test_network_is_its_linear_layer_chain(run: Path) -> None:
    """network_queue.tpl: nn.Sequential(Linear(6, 5), ReLU(), Linear(5, 3)) on the input,
    with the weights the run saved in its final checkpoint."""
    (checkpoint,) = sorted((run / "runs" / "latest" / "checkpoints").glob("*.pt"))
    state = torch.load(checkpoint, weights_only=False)["nodes"]["6"]
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    net.load_state_dict(state["module"])
    expected = net(dnne_tensor()).detach()
    got = recorded(run, "network")
    assert len(got) == STEPS
    assert all(torch.allclose(t, expected, atol=1e-6) for t in got)


def test_eat_n_swallows_two_and_each_eaten_item_releases_one_held_item(run: Path) -> None:
    counts = [0.0, 1.0, 2.0, 3.0, 4.0]  # the counter's outputs, one per step
    assert [float(t) for t in recorded(run, "eat_n")] == counts[2:]
    # Barrier (FIFO): the two eat triggers release the first two items it holds.
    assert [float(t) for t in recorded(run, "barrier")] == counts[:2]
