"""DNNE's learning nodes: the Network container, the cross-entropy loss, the SGD optimizer,
the training sequencer and the epoch tracker.

A DNNE optimizer finds its networks by node id (its ``model`` link is structure, not a
queue): each Network registers its module with the run context, and the optimizer reads
``ctx.modules``. Under ``runner.py evaluate`` nothing is backpropagated or stepped.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import torch
from torch import nn

from ..runtime import In, QueueNode, RunComplete
from .timing import parse_duration

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh,
                                           "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
#: (output size, bias, activation, dropout, weight init) of one Linear Layer node.
Layer = tuple[int, bool, str, float, str]


def init_weights(layer: nn.Linear, how: str) -> None:
    """A Linear Layer's ``weight_init`` ("auto" and "none" keep PyTorch's own)."""
    init = nn.init
    if how == "kaiming_normal":
        init.kaiming_normal_(layer.weight, nonlinearity="relu")
    elif how == "kaiming_uniform":
        init.kaiming_uniform_(layer.weight, nonlinearity="relu")
    elif how == "xavier_normal":
        init.xavier_normal_(layer.weight)
    elif how == "xavier_uniform":
        init.xavier_uniform_(layer.weight)
    elif how == "normal":
        init.normal_(layer.weight, 0.0, 0.01)
    elif how == "uniform":
        init.uniform_(layer.weight, -0.1, 0.1)


class DNNENetworkNode(QueueNode):
    """DNNE's Neural Network: the Linear Layer chain of the graph as one ``nn.Sequential``.

    The layers (``LAYERS``, read from the Linear Layer nodes by the exporter) are built on the
    first batch, when the input width is known; inputs with more than two axes are flattened
    to ``[batch, features]``. With ``CHECKPOINT_ENABLED`` the run checkpoints every
    ``CHECKPOINT_TRIGGER_VALUE`` training batches (epoch) or seconds (time).
    """

    INPUTS = (In("input"),)
    OUTPUTS = ("layers", "output", "model")
    LAYERS: ClassVar[tuple[Layer, ...]]
    CHECKPOINT_ENABLED: ClassVar[bool]
    CHECKPOINT_TRIGGER_TYPE: ClassVar[str]
    CHECKPOINT_TRIGGER_VALUE: ClassVar[str]
    CHECKPOINT_LOAD_ON_START: ClassVar[bool]

    def setup(self) -> None:
        self.module: nn.Sequential | None = None
        self.in_features = 0
        self.batches = 0
        self.last_checkpoint = time.monotonic()

    def build(self, in_features: int) -> None:
        layers: list[nn.Module] = []
        width = in_features
        for size, bias, activation, dropout, weight_init in self.LAYERS:
            linear = nn.Linear(width, size, bias=bias)
            init_weights(linear, weight_init)
            layers.append(linear)
            if activation in ACTIVATIONS:
                layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.in_features = in_features
        self.module = nn.Sequential(*layers).to(self.ctx.device)
        self.ctx.register_module(self.node_id, self.module)

    def compute(self, input: torch.Tensor) -> dict[str, Any]:  # noqa: A002 - DNNE's name
        x = input.to(self.ctx.device)
        if x.dim() == 1:
            raise ValueError(f"input of shape {tuple(x.shape)} has no batch axis: a network "
                             "takes [batch, features]")
        if x.dim() > 2:
            x = x.reshape(x.shape[0], -1)
        if self.module is None:
            self.build(x.shape[1])
        assert self.module is not None
        training = self.ctx.command == "train"
        self.module.train(training)
        if training:
            self.batches += 1
            self._maybe_checkpoint()
        return {"output": self.module(x)}

    def _maybe_checkpoint(self) -> None:
        if not self.CHECKPOINT_ENABLED or self.ctx.checkpointer is None:
            return
        kind, value = self.CHECKPOINT_TRIGGER_TYPE, self.CHECKPOINT_TRIGGER_VALUE
        if kind == "epoch" and value.strip().isdigit() and int(value) > 0:
            due = self.batches % int(value) == 0
        elif kind == "time" and (seconds := parse_duration(value)):
            due = time.monotonic() - self.last_checkpoint >= seconds
        else:  # "end" and "best_metric": the run's final checkpoint
            due = False
        if due:
            self.last_checkpoint = time.monotonic()
            self.ctx.checkpointer.save(f"network #{self.node_id}, batch {self.batches}")

    def state_dict(self) -> dict[str, Any] | None:
        if self.module is None:
            return None
        return {"in_features": self.in_features, "module": self.module.state_dict(),
                "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.module is None:
            self.build(state["in_features"])
        assert self.module is not None
        self.module.load_state_dict(state["module"])
        self.batches = state.get("batches", 0)


class CrossEntropyLossNode(QueueNode):
    """Mean cross-entropy of class scores against labels, and the batch accuracy."""

    INPUTS = (In("predictions"), In("labels"))
    OUTPUTS = ("loss", "accuracy")

    def setup(self) -> None:
        self.loss_fn = nn.CrossEntropyLoss()

    def compute(self, predictions: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
        labels = labels.to(predictions.device)
        loss = self.loss_fn(predictions, labels)
        accuracy = (predictions.argmax(1) == labels).sum().item() / max(1, labels.size(0))
        return {"loss": loss, "accuracy": accuracy}


class SGDOptimizerNode(QueueNode):
    """SGD over the networks ``MODEL_IDS`` (all of them, as one optimizer): each loss is
    backpropagated, divided by ``BATCH_SIZE``, and the optimizer steps every ``BATCH_SIZE``
    losses. Every loss (and, with ``ENABLE_BOOTSTRAP``, the start) sends ``step_complete``,
    the heartbeat that asks for the next batch. When a Training Sequencer feeds it
    (``SEQUENCED``), the gradients are already there: it only steps.

    Each step counts toward ``runner.py train --steps``; the run ends when they are spent.
    Every loss is logged to the run's ``losses.csv`` (``optimizer,loss_index,loss``).
    """

    INPUTS = (In("loss"),)
    OUTPUTS = ("step_complete",)
    MODEL_IDS: ClassVar[tuple[str, ...]]
    SEQUENCED: ClassVar[bool] = False
    #: Keep the forward graph after backward: other optimizers backpropagate through it.
    RETAIN_GRAPH: ClassVar[bool] = False
    LEARNING_RATE: ClassVar[float]
    MOMENTUM: ClassVar[float]
    WEIGHT_DECAY: ClassVar[float]
    BATCH_SIZE: ClassVar[int]
    ENABLE_BOOTSTRAP: ClassVar[bool]

    def setup(self) -> None:
        self.optimizer: torch.optim.SGD | None = None
        self.pending_state: dict[str, Any] | None = None
        self.accumulated = 0
        self.losses = 0

    def signal(self, phase: str, loss: float | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"phase": phase}
        if loss is not None:
            metadata["loss_value"] = loss
        return {"step_complete": {"signal_type": "step_complete", "timestamp": time.time(),
                                  "source_node": self.node_id, "metadata": metadata}}

    def startup_outputs(self) -> dict[str, Any] | None:
        return self.signal("startup") if self.ENABLE_BOOTSTRAP else None

    def parameters(self) -> list[nn.Parameter]:
        missing = [i for i in self.MODEL_IDS if i not in self.ctx.modules]
        if missing:
            raise RuntimeError(f"network(s) #{', #'.join(missing)} have not run yet: an "
                               "optimizer's networks compute its loss first")
        return [p for i in self.MODEL_IDS for p in self.ctx.modules[i].parameters()]

    def compute(self, loss: Any) -> dict[str, Any]:
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else None
        if self.ctx.command != "train":
            return self.signal("evaluate", value)
        if self.optimizer is None:
            self.params = self.parameters()
            # The weights step through ``.data`` (its own version counter): DNNE's graphs may
            # backpropagate a loss through a forward pass recorded before the last step (a
            # prediction scored one step later, optimizers sharing one graph), which an
            # in-place step on the parameters themselves would make fail. Such a backward
            # then reads the new weights; an ordinary forward-loss-step loop is unchanged.
            self.targets = [p.data for p in self.params]
            self.optimizer = torch.optim.SGD(self.targets, lr=self.LEARNING_RATE,
                                             momentum=self.MOMENTUM,
                                             weight_decay=self.WEIGHT_DECAY)
            if self.pending_state is not None:
                self.optimizer.load_state_dict(self.pending_state)
        if not self.SEQUENCED:
            if self.accumulated == 0:
                for p in self.params:
                    p.grad = None
            (loss / self.BATCH_SIZE).backward(retain_graph=self.RETAIN_GRAPH)
        self.accumulated += 1
        if self.accumulated >= self.BATCH_SIZE:
            for target, p in zip(self.targets, self.params, strict=True):
                target.grad = p.grad
            if self.SEQUENCED and self.BATCH_SIZE > 1:  # the sequencer summed whole losses
                for group in self.optimizer.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.div_(self.BATCH_SIZE)
            self.optimizer.step()
            if self.SEQUENCED:  # the sequencer adds into .grad: empty it for the next pass
                self.optimizer.zero_grad(set_to_none=True)
                for p in self.params:
                    p.grad = None
            self.accumulated = 0
            self.ctx.opt_steps += 1
        if value is not None:
            self.ctx.summary["loss"] = value
            self.log_loss(value)
        if self.ctx.max_steps is not None and self.ctx.opt_steps >= self.ctx.max_steps:
            raise RunComplete(f"{self.ctx.opt_steps} optimizer steps (--steps)")
        return self.signal("training", value)

    def log_loss(self, value: float) -> None:
        """One row of the run's ``losses.csv``, shared by every optimizer of the graph."""
        self.losses += 1
        path = self.ctx.run_dir / "losses.csv"
        if not path.parent.is_dir():  # a graph run outside a training session
            return
        new = not path.exists()
        with path.open("a", encoding="utf-8") as f:
            if new:
                f.write("optimizer,loss_index,loss\n")
            f.write(f"{self.node_id},{self.losses},{value:.6g}\n")

    def state_dict(self) -> dict[str, Any] | None:
        state = self.optimizer.state_dict() if self.optimizer else self.pending_state
        return {"optimizer": state, "accumulated": self.accumulated,
                "opt_steps": self.ctx.opt_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending_state = state["optimizer"]
        self.accumulated = state["accumulated"]
        self.ctx.opt_steps = state["opt_steps"]


class TrainingSequencerNode(QueueNode):
    """Backpropagates each connected loss into its own optimizer's networks only, in
    ``ORDER``, through one forward graph (``RETAIN_GRAPH`` between them); then hands each
    loss on to its optimizer (``to_opt<i>``), which steps.

    ``OPTIMIZER_MODELS[i]`` are the networks of the optimizer ``loss<i>`` trains.
    """

    INPUTS = tuple(In(f"loss{i}", optional=True) for i in range(1, 5))
    OUTPUTS = tuple(f"to_opt{i}" for i in range(1, 5))
    ORDER_INDICES: ClassVar[tuple[int, ...]]
    OPTIMIZER_MODELS: ClassVar[dict[int, tuple[str, ...]]]
    ORDER: ClassVar[str]
    RETAIN_GRAPH: ClassVar[bool]

    def compute(self, **losses: torch.Tensor) -> dict[str, Any]:
        if self.ctx.command != "train":
            return {f"to_opt{i}": losses[f"loss{i}"].detach() for i in self.ORDER_INDICES}
        for k, i in enumerate(self.ORDER_INDICES):
            params = [p for m in self.OPTIMIZER_MODELS[i] for p in self.ctx.modules[m].parameters()]
            retain = self.RETAIN_GRAPH and k < len(self.ORDER_INDICES) - 1
            grads = torch.autograd.grad(losses[f"loss{i}"], params, retain_graph=retain,
                                        allow_unused=True)
            for p, g in zip(params, grads, strict=True):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        return {f"to_opt{i}": losses[f"loss{i}"].detach() for i in self.ORDER_INDICES}


class EpochTrackerNode(QueueNode):
    """Averages loss and accuracy over each epoch and reports them; ends the run after
    ``MAX_EPOCHS`` epochs. Under ``runner.py evaluate`` it reports the one pass."""

    INPUTS = (In("epoch_stats"), In("loss"), In("accuracy"))
    OUTPUTS = ()
    MAX_EPOCHS: ClassVar[int]
    TELEMETRY_LEVEL: ClassVar[str]

    def setup(self) -> None:
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.epochs_done = 0

    def _report(self, epoch: int) -> None:
        if not self.losses:
            return
        loss = math.fsum(self.losses) / len(self.losses)
        accuracy = math.fsum(self.accuracies) / len(self.accuracies)
        if self.ctx.command == "train":
            self.ctx.summary.update(epoch=epoch + 1, epoch_loss=loss, accuracy=accuracy)
            what = f"epoch {epoch + 1}"
        else:  # evaluate: one pass over the test data
            self.ctx.summary.update(test_loss=loss, test_accuracy=accuracy,
                                    test_batches=len(self.losses))
            what = "test data"
        if self.ctx.progress is not None:
            self.ctx.progress(self.ctx.opt_steps, {"loss": loss, "accuracy": accuracy})
        print(f"{what}: loss {loss:.4f}, accuracy {accuracy:.4f} "
              f"({len(self.losses)} batches)", flush=True)
        self.losses, self.accuracies = [], []

    def compute(self, epoch_stats: dict[str, Any], loss: Any, accuracy: float) -> dict[str, Any]:
        self.losses.append(float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss))
        self.accuracies.append(float(accuracy))
        if epoch_stats.get("completed"):
            self._report(int(epoch_stats["epoch"]))
            self.epochs_done = int(epoch_stats["epoch"]) + 1
            if self.epochs_done >= self.MAX_EPOCHS:
                raise RunComplete(f"{self.epochs_done} epochs (max_epochs)")
        return {}

    def finish(self) -> None:
        self._report(self.epochs_done)  # evaluate's one pass, or a run that ran out of steps

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_done = state["epochs_done"]
