"""DNNE's learning nodes, as its templates compute them: Neural Network, Cross Entropy Loss,
SGD Optimizer, Training Sequencer and Epoch Tracker."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from dnne_robot.nodes.data import BatchSamplerNode, GetBatchNode, MNISTDatasetNode
from dnne_robot.nodes.datasets import write_mnist
from dnne_robot.nodes.flow import BarrierNode
from dnne_robot.nodes.learning import (
    CrossEntropyLossNode,
    DNNENetworkNode,
    EpochTrackerNode,
    SGDOptimizerNode,
    TrainingSequencerNode,
)
from dnne_robot.runtime import NodeError, QueueNode, RunContext

from .helpers import GET_BATCH_STATS, Tap, configured, feed, graph, run, run_loaded

LINEAR = (3, True, "none", 0.0, "auto")


def network(*layers: tuple, **constants: Any) -> type:
    defaults = {"LAYERS": layers or (LINEAR,), "CHECKPOINT_ENABLED": False,
                "CHECKPOINT_TRIGGER_TYPE": "epoch", "CHECKPOINT_TRIGGER_VALUE": "50",
                "CHECKPOINT_LOAD_ON_START": False}
    return configured(DNNENetworkNode, **{**defaults, **constants})


def sgd(*models: str, **constants: Any) -> type:
    defaults = {"MODEL_IDS": models, "SEQUENCED": False, "LEARNING_RATE": 0.1,
                "MOMENTUM": 0.9, "WEIGHT_DECAY": 0.01, "BATCH_SIZE": 1,
                "ENABLE_BOOTSTRAP": True}
    return configured(SGDOptimizerNode, **{**defaults, **constants})


def net_state(module: nn.Sequential, in_features: int) -> dict[str, Any]:
    """A Network node's state holding ``module``'s weights (what a checkpoint restores)."""
    return {"in_features": in_features, "module": copy.deepcopy(module.state_dict()),
            "batches": 0}


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.allclose(p, q, atol=1e-6) for p, q in
               zip(a.parameters(), b.parameters(), strict=True))


def forward(x: torch.Tensor | list[torch.Tensor], *layers: tuple, command: str = "train",
            ) -> tuple[QueueNode, list[torch.Tensor], RunContext]:
    ctx, g = graph(command=command)
    source = g.add(feed([x] if isinstance(x, torch.Tensor) else x)("1", "inputs", ctx))
    net = g.add(network(*layers)("2", "net", ctx))
    tap = g.add(Tap("3", "tap", ctx))
    g.connect(source, "value", net, "input")
    g.connect(net, "output", tap, "x")
    assert run(g) == "done"
    return net, tap.seen, ctx


# ----------------------------------------------------------------------------- Network
def test_network_is_the_linear_layer_chain_as_one_sequential() -> None:
    x = torch.randn(2, 1, 4, 4)  # flattened to [2, 16]
    net, (out,), ctx = forward(x, (8, True, "relu", 0.0, "auto"), (6, False, "tanh", 0.25, "auto"),
                               (5, True, "sigmoid", 0.0, "auto"),
                               (3, True, "leaky_relu", 0.0, "auto"), (2, True, "none", 0.0, "auto"))
    module = net.module
    assert ctx.modules["2"] is module  # what the optimizers find by node id
    assert [type(m) for m in module] == [nn.Linear, nn.ReLU, nn.Linear, nn.Tanh, nn.Dropout,
                                        nn.Linear, nn.Sigmoid, nn.Linear, nn.LeakyReLU,
                                        nn.Linear]
    linears = [m for m in module if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 8), (8, 6), (6, 5),
                                                                  (5, 3), (3, 2)]
    assert [m.bias is not None for m in linears] == [True, False, True, True, True]
    assert module[4].p == 0.25
    assert out.shape == (2, 2) and out.requires_grad


def test_network_output_is_the_module_on_the_flattened_input() -> None:
    xs = [torch.randn(3, 2, 5), torch.randn(4, 10)]
    net, outs, _ = forward(xs, (7, True, "relu", 0.0, "auto"), LINEAR)
    for x, out in zip(xs, outs, strict=True):
        assert torch.equal(out, net.module(x.reshape(x.shape[0], -1)))
    assert net.batches == 2


def test_network_under_evaluate_runs_without_dropout() -> None:
    x = torch.randn(2, 6)
    net, outs, _ = forward([x, x], (64, True, "relu", 0.5, "auto"), LINEAR, command="evaluate")
    assert not net.module.training and net.batches == 0
    assert torch.equal(outs[0], outs[1])


def test_network_refuses_an_input_without_a_batch_axis() -> None:
    with pytest.raises(NodeError, match=r"node #2 'net' .*shape \(4,\) has no batch axis"):
        forward(torch.randn(4))


def test_network_state_round_trip_restores_the_weights() -> None:
    x = torch.randn(3, 5)
    net, (out,), _ = forward(x, (4, True, "tanh", 0.0, "auto"), LINEAR)
    state = net.state_dict()
    assert state["in_features"] == 5 and state["batches"] == 1
    ctx, g = graph()
    source = g.add(feed([x])("1", "inputs", ctx))
    again = g.add(network((4, True, "tanh", 0.0, "auto"), LINEAR)("2", "net", ctx))
    tap = g.add(Tap("3", "tap", ctx))
    g.connect(source, "value", again, "input")
    g.connect(again, "output", tap, "x")
    assert run_loaded(g, {"2": state}) == "done"
    assert same_weights(again.module, net.module)
    assert torch.equal(tap.seen[0], out) and again.batches == 2


class Checkpoints:
    def __init__(self) -> None:
        self.saved: list[str] = []

    def save(self, label: str) -> None:
        self.saved.append(label)


def test_network_checkpoints_every_n_training_batches() -> None:
    ctx, g = graph()
    ctx.checkpointer = Checkpoints()
    source = g.add(feed([torch.randn(1, 3)] * 5)("1", "inputs", ctx))
    net = g.add(network(CHECKPOINT_ENABLED=True, CHECKPOINT_TRIGGER_VALUE="2")("2", "net", ctx))
    g.connect(source, "value", net, "input")
    assert run(g) == "done"
    assert ctx.checkpointer.saved == ["network #2, batch 2", "network #2, batch 4"]


# ----------------------------------------------------------------------------- Cross Entropy
def test_cross_entropy_loss_and_accuracy_are_torch_s() -> None:
    predictions = [torch.randn(4, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)]
    labels = [torch.tensor([0, 2, 1, 1]), torch.tensor([2, 0])]
    ctx, g = graph()
    preds, labs = g.add(feed(predictions)("1", "p", ctx)), g.add(feed(labels)("2", "l", ctx))
    loss_node = g.add(CrossEntropyLossNode("3", "loss", ctx))
    losses, accuracies = g.add(Tap("4", "losses", ctx)), g.add(Tap("5", "accuracies", ctx))
    g.connect(preds, "value", loss_node, "predictions")
    g.connect(labs, "value", loss_node, "labels")
    g.connect(loss_node, "loss", losses, "x")
    g.connect(loss_node, "accuracy", accuracies, "x")
    assert run(g) == "done"
    for p, y, loss, accuracy in zip(predictions, labels, losses.seen, accuracies.seen,
                                    strict=True):
        assert torch.allclose(loss, F.cross_entropy(p, y)) and loss.requires_grad
        assert accuracy == (p.argmax(1) == y).float().mean().item()
        assert isinstance(accuracy, float)


# ----------------------------------------------------------------------------- SGD
def training_loop(xs: list[torch.Tensor], ys: list[torch.Tensor], initial: dict[str, Any],
                  optimizer: type, chain: tuple[tuple[str, tuple], ...], steps: int,
                  ) -> tuple[dict[str, QueueNode], list[dict], RunContext]:
    """xs -> Barrier -> networks (``chain``: node id, layers) -> cross entropy -> SGD, whose
    step_complete releases the next input, as DNNE's supervised loops run. Ends after
    ``steps`` optimizer steps."""
    ctx, g = graph(max_steps=steps)
    source = g.add(feed(xs)("x", "inputs", ctx))
    barrier = g.add(configured(BarrierNode, HOLD_MODE="FIFO")("gate", "gate", ctx))
    g.connect(source, "value", barrier, "input")
    nets: dict[str, QueueNode] = {}
    previous, port = barrier, "output"
    for node_id, layers in chain:
        nets[node_id] = g.add(network(*layers)(node_id, f"net {node_id}", ctx))
        g.connect(previous, port, nets[node_id], "input")
        previous, port = nets[node_id], "output"
    labels = g.add(feed(ys)("y", "labels", ctx))
    loss = g.add(CrossEntropyLossNode("loss", "loss", ctx))
    opt = g.add(optimizer("opt", "sgd", ctx))
    signals = g.add(Tap("tap", "signals", ctx))
    g.connect(previous, port, loss, "predictions")
    g.connect(labels, "value", loss, "labels")
    g.connect(loss, "loss", opt, "loss")
    g.connect(opt, "step_complete", barrier, "release")
    g.connect(opt, "step_complete", signals, "x")
    assert run_loaded(g, initial) == "done"
    return nets, signals.seen, ctx


def data(n: int, width: int = 4, classes: int = 3, seed: int = 0,
         ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return ([torch.randn(2, width, generator=gen) for _ in range(n)],
            [torch.randint(0, classes, (2,), generator=gen) for _ in range(n)])


@pytest.mark.parametrize(("lr", "momentum", "weight_decay"), [(0.1, 0.9, 0.01), (0.5, 0.0, 0.0)])
def test_sgd_steps_once_per_loss_as_torch_sgd(lr: float, momentum: float,
                                              weight_decay: float) -> None:
    torch.manual_seed(1)
    reference = nn.Sequential(nn.Linear(4, 3))
    xs, ys = data(3)
    nets, signals, ctx = training_loop(
        xs, ys, {"net": net_state(reference, 4)},
        sgd("net", LEARNING_RATE=lr, MOMENTUM=momentum, WEIGHT_DECAY=weight_decay),
        (("net", (LINEAR,)),), steps=3)
    opt = torch.optim.SGD(reference.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    losses = []
    for x, y in zip(xs, ys, strict=True):
        opt.zero_grad()
        loss = F.cross_entropy(reference(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    assert same_weights(nets["net"].module, reference)
    assert ctx.opt_steps == 3 and ctx.completed.endswith("3 optimizer steps (--steps)")
    # The bootstrap signal, then one per loss (the run ends at the third step).
    assert signals[0]["signal_type"] == "step_complete" and signals[0]["source_node"] == "opt"
    assert signals[0]["metadata"] == {"phase": "startup"}
    assert [s["metadata"]["loss_value"] for s in signals[1:]] == pytest.approx(losses[:2])


def test_sgd_accumulates_gradients_over_batch_size_losses() -> None:
    torch.manual_seed(2)
    reference = nn.Sequential(nn.Linear(4, 3))
    xs, ys = data(4)
    nets, signals, ctx = training_loop(xs, ys, {"net": net_state(reference, 4)},
                                       sgd("net", BATCH_SIZE=2), (("net", (LINEAR,)),), steps=2)
    opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    for i in (0, 2):  # DNNE: zero_grad at the first, (loss / batch_size).backward(), step
        opt.zero_grad()
        for x, y in zip(xs[i:i + 2], ys[i:i + 2], strict=True):
            (F.cross_entropy(reference(x), y) / 2).backward()
        opt.step()
    assert same_weights(nets["net"].module, reference)
    assert ctx.opt_steps == 2
    assert len(signals) == 4  # startup, then every loss asks for the next batch, stepped or not


def test_sgd_trains_every_network_linked_into_model_and_no_other() -> None:
    torch.manual_seed(3)
    first, second = nn.Sequential(nn.Linear(4, 5), nn.ReLU()), nn.Sequential(nn.Linear(5, 3))
    xs, ys = data(2)
    chain = (("a", ((5, True, "relu", 0.0, "auto"),)), ("b", (LINEAR,)))
    initial = {"a": net_state(first, 4), "b": net_state(second, 5)}
    for models in (("a", "b"), ("b",)):
        nets, _, _ = training_loop(xs, ys, initial, sgd(*models), chain, steps=2)
        a, b = copy.deepcopy(first), copy.deepcopy(second)
        trained = [p for name, m in (("a", a), ("b", b)) if name in models for p in m.parameters()]
        opt = torch.optim.SGD(trained, lr=0.1, momentum=0.9, weight_decay=0.01)
        for x, y in zip(xs, ys, strict=True):
            opt.zero_grad()
            F.cross_entropy(b(a(x)), y).backward()
            opt.step()
        assert same_weights(nets["a"].module, a) and same_weights(nets["b"].module, b)
        assert same_weights(nets["a"].module, first) == ("a" not in models)


@pytest.mark.parametrize("bootstrap", [True, False])
def test_sgd_bootstrap_sends_one_startup_signal(bootstrap: bool) -> None:
    ctx, g = graph()
    losses = g.add(feed([])("1", "no losses", ctx))
    opt = g.add(sgd(ENABLE_BOOTSTRAP=bootstrap)("2", "sgd", ctx))
    tap = g.add(Tap("3", "tap", ctx))
    g.connect(losses, "value", opt, "loss")
    g.connect(opt, "step_complete", tap, "x")
    assert run(g) == "done"
    assert [s["metadata"] for s in tap.seen] == ([{"phase": "startup"}] if bootstrap else [])


def test_sgd_under_evaluate_signals_without_stepping() -> None:
    torch.manual_seed(4)
    reference = nn.Sequential(nn.Linear(4, 3))
    xs, ys = data(3)
    ctx, g = graph(command="evaluate")
    inputs, labels = g.add(feed(xs)("1", "x", ctx)), g.add(feed(ys)("2", "y", ctx))
    net = g.add(network()("net", "net", ctx))
    loss = g.add(CrossEntropyLossNode("3", "loss", ctx))
    opt = g.add(sgd("net")("4", "sgd", ctx))
    tap = g.add(Tap("5", "tap", ctx))
    g.connect(inputs, "value", net, "input")
    g.connect(net, "output", loss, "predictions")
    g.connect(labels, "value", loss, "labels")
    g.connect(loss, "loss", opt, "loss")
    g.connect(opt, "step_complete", tap, "x")
    assert run_loaded(g, {"net": net_state(reference, 4)}) == "done"
    assert same_weights(net.module, reference) and ctx.opt_steps == 0
    expected = [F.cross_entropy(reference(x), y).item() for x, y in zip(xs, ys, strict=True)]
    assert [s["metadata"]["loss_value"] for s in tap.seen[1:]] == pytest.approx(expected)


def test_sgd_before_its_network_ran_names_the_network() -> None:
    ctx, g = graph()
    losses = g.add(feed([torch.tensor(1.0, requires_grad=True)])("1", "losses", ctx))
    opt = g.add(sgd("7")("2", "sgd", ctx))
    g.connect(losses, "value", opt, "loss")
    with pytest.raises(NodeError, match=r"network\(s\) #7 have not run yet"):
        run(g)


# ----------------------------------------------------------------------------- Sequencer
@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_training_sequencer_trains_each_network_on_its_own_loss_only(order: tuple) -> None:
    """Net A feeds net B. Loss 1 judges A's output, loss 2 B's, which depends on A as well:
    the sequencer must give A loss 1's gradient only, and B loss 2's."""
    torch.manual_seed(5)
    a0, b0 = nn.Sequential(nn.Linear(4, 3)), nn.Sequential(nn.Linear(3, 2))
    x, y1, y2 = torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0]), torch.tensor([1, 0, 1, 1, 0])
    ctx, g = graph()
    inputs = g.add(feed([x])("x", "x", ctx))
    labels1, labels2 = g.add(feed([y1])("y1", "y1", ctx)), g.add(feed([y2])("y2", "y2", ctx))
    a = g.add(network(LINEAR)("a", "net a", ctx))
    b = g.add(network((2, True, "none", 0.0, "auto"))("b", "net b", ctx))
    loss1, loss2 = (g.add(CrossEntropyLossNode(i, i, ctx)) for i in ("loss1", "loss2"))
    seq = g.add(configured(TrainingSequencerNode, ORDER_INDICES=order,
                           OPTIMIZER_MODELS={1: ("a",), 2: ("b",)}, ORDER=",".join(map(str, order)),
                           RETAIN_GRAPH=True)("seq", "sequencer", ctx))
    opt1 = g.add(sgd("a", SEQUENCED=True, MOMENTUM=0.0, ENABLE_BOOTSTRAP=False)("o1", "sgd a", ctx))
    opt2 = g.add(sgd("b", SEQUENCED=True, MOMENTUM=0.0, ENABLE_BOOTSTRAP=False)("o2", "sgd b", ctx))
    signals1, signals2 = g.add(Tap("t1", "t1", ctx)), g.add(Tap("t2", "t2", ctx))
    g.connect(inputs, "value", a, "input")
    g.connect(a, "output", b, "input")
    g.connect(a, "output", loss1, "predictions")
    g.connect(labels1, "value", loss1, "labels")
    g.connect(b, "output", loss2, "predictions")
    g.connect(labels2, "value", loss2, "labels")
    g.connect(loss1, "loss", seq, "loss1")
    g.connect(loss2, "loss", seq, "loss2")
    g.connect(seq, "to_opt1", opt1, "loss")
    g.connect(seq, "to_opt2", opt2, "loss")
    g.connect(opt1, "step_complete", signals1, "x")
    g.connect(opt2, "step_complete", signals2, "x")
    assert run_loaded(g, {"a": net_state(a0, 4), "b": net_state(b0, 3)}) == "done"

    out_a = a0(x)
    l1, l2 = F.cross_entropy(out_a, y1), F.cross_entropy(b0(out_a), y2)
    grads_a = torch.autograd.grad(l1, list(a0.parameters()), retain_graph=True)
    grads_b = torch.autograd.grad(l2, list(b0.parameters()), retain_graph=True)
    mixed = torch.autograd.grad(l2, list(a0.parameters()))  # what must not reach A
    assert any(float(m.abs().max()) > 1e-4 for m in mixed)
    for module, trained, grads in ((a0, a.module, grads_a), (b0, b.module, grads_b)):
        for p, q, grad in zip(module.parameters(), trained.parameters(), grads, strict=True):
            # SGD, lr 0.1, weight decay 0.01, no momentum: p - lr * (grad + wd * p)
            assert torch.allclose(q, p - 0.1 * (grad + 0.01 * p), atol=1e-6)
    assert [s["metadata"]["loss_value"] for s in signals1.seen] == pytest.approx([l1.item()])
    assert [s["metadata"]["loss_value"] for s in signals2.seen] == pytest.approx([l2.item()])
    assert ctx.opt_steps == 2  # one step for each optimizer
    assert all(p.grad is None for p in [*a.module.parameters(), *b.module.parameters()])


# ----------------------------------------------------------------------------- Epoch Tracker
#: Get Batch's epoch stats for three batches an epoch (test_data.py checks them), then one.
STATS = [*GET_BATCH_STATS,
         {"epoch": 2, "batch": 2, "total_batches": 3, "progress": 2 / 3, "completed": False}]


def track(stats: list[dict], losses: list[float], accuracies: list[float], max_epochs: int,
          command: str = "train") -> tuple[RunContext, QueueNode, list]:
    ctx, g = graph(command=command)
    reports: list = []
    ctx.progress = lambda steps, values: reports.append(values)
    s, lo, ac = (g.add(feed(items)(str(i), f"f{i}", ctx))
                 for i, items in enumerate((stats, [torch.tensor(v) for v in losses],
                                            accuracies)))
    tracker = g.add(configured(EpochTrackerNode, MAX_EPOCHS=max_epochs,
                               TELEMETRY_LEVEL="off")("9", "tracker", ctx))
    g.connect(s, "value", tracker, "epoch_stats")
    g.connect(lo, "value", tracker, "loss")
    g.connect(ac, "value", tracker, "accuracy")
    assert run(g) == "done"
    return ctx, tracker, reports


def test_epoch_tracker_reports_each_epoch_and_ends_the_run_after_max_epochs(
        capsys: pytest.CaptureFixture[str]) -> None:
    losses = [8.0, 6.0, 4.0, 2.0, 1.0, 1.0, 0.25, 0.5]
    accuracies = [0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.75, 1.0]
    ctx, tracker, reports = track(STATS, losses, accuracies, max_epochs=2)
    # As DNNE: the batch that brings completed=True is averaged into the finished epoch.
    assert reports == [{"loss": 5.0, "accuracy": 0.375}, {"loss": 0.75, "accuracy": 0.75}]
    assert ctx.summary["epoch"] == 2 and ctx.summary["epoch_loss"] == 0.75
    assert ctx.completed.endswith("2 epochs (max_epochs)") and tracker.epochs_done == 2
    printed = capsys.readouterr().out
    assert "epoch 1: loss 5.0000, accuracy 0.3750 (4 batches)" in printed
    assert "epoch 2: loss 0.7500, accuracy 0.7500 (3 batches)" in printed


def test_epoch_tracker_under_evaluate_reports_the_one_pass() -> None:
    ctx, _, reports = track(STATS[:3], [1.0, 2.0, 4.5], [1.0, 0.5, 0.0], max_epochs=10,
                            command="evaluate")
    assert reports == [{"loss": 2.5, "accuracy": 0.5}]
    assert (ctx.summary["test_loss"], ctx.summary["test_accuracy"],
            ctx.summary["test_batches"]) == (2.5, 0.5, 3)
    assert ctx.completed is None


# ----------------------------------------------------------------------------- a whole loop
def test_mnist_training_loop_runs_until_the_epoch_tracker_ends_it(tmp_path: Path) -> None:
    """DNNE's MNIST_Test graph: the optimizer's step_complete asks for each batch."""
    rng = np.random.default_rng(0)
    write_mnist(tmp_path, (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10),
                (rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), np.arange(2)))
    ctx, g = graph()
    data = g.add(configured(MNISTDatasetNode, DATA_PATH=str(tmp_path), TRAIN=True,
                            DOWNLOAD=False)("1", "mnist", ctx))
    sampler = g.add(configured(BatchSamplerNode, BATCH_SIZE=4, SHUFFLE=True, SEED=3,
                               SEED_CONTROL="fixed")("2", "sampler", ctx))
    getter = g.add(GetBatchNode("3", "get batch", ctx))
    net = g.add(network((16, True, "relu", 0.0, "auto"), (10, True, "none", 0.0, "auto"))(
        "4", "net", ctx))
    loss = g.add(CrossEntropyLossNode("5", "loss", ctx))
    opt = g.add(sgd("4", LEARNING_RATE=0.01)("6", "sgd", ctx))
    tracker = g.add(configured(EpochTrackerNode, MAX_EPOCHS=2, TELEMETRY_LEVEL="off")(
        "7", "tracker", ctx))
    batches = g.add(Tap("8", "batches", ctx))
    for source, output, target, port in [
        (data, "dataset", sampler, "dataset"), (data, "schema", sampler, "schema"),
        (sampler, "dataloader", getter, "dataloader"), (sampler, "schema", getter, "schema"),
        (opt, "step_complete", getter, "trigger"), (getter, "images", net, "input"),
        (getter, "labels", loss, "labels"), (net, "output", loss, "predictions"),
        (loss, "loss", opt, "loss"), (getter, "epoch_stats", tracker, "epoch_stats"),
        (loss, "loss", tracker, "loss"), (loss, "accuracy", tracker, "accuracy"),
        (getter, "images", batches, "x"),
    ]:
        g.connect(source, output, target, port)
    assert run(g) == "done"
    assert ctx.completed.endswith("2 epochs (max_epochs)")
    assert ctx.summary["epoch"] == 2 and math.isfinite(ctx.summary["epoch_loss"])
    # Three batches an epoch: the 7th batch brings the end of the second epoch.
    assert len(batches.seen) >= 7 and ctx.opt_steps in (6, 7)
    assert net.module[0].in_features == 784

