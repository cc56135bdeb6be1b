"""Machine-learning nodes: a synthetic data source, torch layers and a supervised trainer.

Layer nodes build their torch module on the first batch, when the input width is known, and
register it with the run context, where the trainer finds every trainable parameter.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..rl.limits import max_param_memory, memory_problem, mlp_parameters
from ..runtime import END, In, QueueNode

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "none": nn.Identity,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}
LOSSES: dict[str, type[nn.Module]] = {"mse": nn.MSELoss, "l1": nn.L1Loss, "huber": nn.HuberLoss}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}
TARGETS = {
    "sin": lambda x: torch.sin(x).sum(dim=1, keepdim=True),
    "poly": lambda x: (0.5 * x**3 - x**2 + 0.3 * x).sum(dim=1, keepdim=True),
    "linear": lambda x: (2.0 * x - 1.0).sum(dim=1, keepdim=True),
}


class RegressionDataNode(QueueNode):
    """A synthetic regression data set (``FUNCTION`` of ``INPUT_DIM`` inputs in
    [-pi, pi], plus Gaussian ``NOISE``), emitted as shuffled batches, reshuffled every epoch.

    Wire the trainer's ``step_done`` into ``trigger`` so each batch waits for the last
    update. The run ends after ``runner.py train --steps`` batches.
    """

    INPUTS = (In("trigger", mode="gate", optional=True),)
    OUTPUTS = ("features", "targets")
    FUNCTION: ClassVar[str]
    INPUT_DIM: ClassVar[int]
    NUM_SAMPLES: ClassVar[int]
    BATCH_SIZE: ClassVar[int]
    NOISE: ClassVar[float]
    SEED: ClassVar[int]

    def setup(self) -> None:
        gen = torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + self.SEED)
        x = (torch.rand(self.NUM_SAMPLES, self.INPUT_DIM, generator=gen) * 2 - 1) * math.pi
        y = TARGETS[self.FUNCTION](x)
        self.features = x
        self.targets = y + self.NOISE * torch.randn(y.shape, generator=gen)
        self.generator = gen
        self.order = torch.randperm(self.NUM_SAMPLES, generator=gen)
        self.cursor = 0
        self.batches = 0

    def compute(self, trigger: Any = None) -> Any:
        if self.ctx.max_steps is not None and self.batches >= self.ctx.max_steps:
            return END
        if self.cursor + self.BATCH_SIZE > self.NUM_SAMPLES:  # a new epoch, reshuffled
            self.order = torch.randperm(self.NUM_SAMPLES, generator=self.generator)
            self.cursor = 0
        idx = self.order[self.cursor : self.cursor + self.BATCH_SIZE]
        self.cursor += self.BATCH_SIZE
        self.batches += 1
        return {"features": self.features[idx], "targets": self.targets[idx]}

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "cursor": self.cursor,
            "batches": self.batches,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"]
        self.cursor = state["cursor"]
        self.batches = state["batches"]


class LayerNode(QueueNode):
    """A node that applies one torch module, built on the first batch (input width known)."""

    INPUTS = (In("input"),)
    OUTPUTS = ("output",)

    def setup(self) -> None:
        self.module: nn.Module | None = None
        self.in_features = 0

    def build(self, in_features: int) -> nn.Module:
        raise NotImplementedError

    def _build(self, in_features: int) -> None:
        self.in_features = in_features
        self.module = self.build(in_features)
        self.ctx.register_module(self.node_id, self.module)

    def compute(self, input: torch.Tensor) -> dict[str, Any]:  # noqa: A002 - the port's name
        if self.module is None:
            self._build(input.shape[-1])
        assert self.module is not None
        return {"output": self.module(input)}

    def state_dict(self) -> dict[str, Any] | None:
        if self.module is None:
            return None
        return {"in_features": self.in_features, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.module is None:
            self._build(state["in_features"])
        assert self.module is not None
        self.module.load_state_dict(state["module"])


class LinearLayerNode(LayerNode):
    """A fully connected layer, then its ``ACTIVATION`` and ``DROPOUT``."""

    OUTPUT_SIZE: ClassVar[int]
    BIAS: ClassVar[bool]
    ACTIVATION: ClassVar[str]
    DROPOUT: ClassVar[float]

    def build(self, in_features: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(in_features, self.OUTPUT_SIZE, bias=self.BIAS),
            ACTIVATIONS[self.ACTIVATION](),
            nn.Dropout(self.DROPOUT),
        )


class ActivationNode(LayerNode):
    """An activation function on its own."""

    ACTIVATION: ClassVar[str]

    def build(self, in_features: int) -> nn.Module:
        return ACTIVATIONS[self.ACTIVATION]()


class DropoutNode(LayerNode):
    """Dropout with probability ``P`` while training."""

    P: ClassVar[float]

    def build(self, in_features: int) -> nn.Module:
        return nn.Dropout(self.P)


class BatchNormNode(LayerNode):
    """1-d batch normalisation over the features."""

    MOMENTUM: ClassVar[float]
    EPS: ClassVar[float]

    def build(self, in_features: int) -> nn.Module:
        return nn.BatchNorm1d(in_features, eps=self.EPS, momentum=self.MOMENTUM)


class NetworkNode(LayerNode):
    """An MLP: a linear layer and ``ACTIVATION`` per width in ``LAYER_SIZES``, then a linear
    layer to ``OUTPUT_SIZE``."""

    LAYER_SIZES: ClassVar[tuple[int, ...]]
    OUTPUT_SIZE: ClassVar[int]
    ACTIVATION: ClassVar[str]

    def build(self, in_features: int) -> nn.Module:
        count = mlp_parameters(in_features, self.LAYER_SIZES, self.OUTPUT_SIZE)
        too_big = memory_problem(count, max_param_memory())
        if too_big:  # before any of it is allocated
            raise ValueError(f"hidden_sizes {self.LAYER_SIZES} on {in_features} inputs: {too_big}")
        layers: list[nn.Module] = []
        width = in_features
        for size in self.LAYER_SIZES:
            layers += [nn.Linear(width, size), ACTIVATIONS[self.ACTIVATION]()]
            width = size
        layers.append(nn.Linear(width, self.OUTPUT_SIZE))
        return nn.Sequential(*layers)


class SupervisedTrainerNode(QueueNode):
    """Minimises ``LOSS`` between the upstream layers' predictions and the targets with
    ``OPTIMIZER`` over every registered layer's parameters; one step per batch."""

    INPUTS = (In("predictions"), In("targets"))
    OUTPUTS = ("loss", "step_done")
    LOSS: ClassVar[str]
    OPTIMIZER: ClassVar[str]
    LEARNING_RATE: ClassVar[float]
    LOG_INTERVAL: ClassVar[int]

    def setup(self) -> None:
        self.loss_fn = LOSSES[self.LOSS]()
        self.optimizer: torch.optim.Optimizer | None = None
        self.pending_optimizer_state: dict[str, Any] | None = None
        self.recent: list[float] = []

    def compute(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
        if self.optimizer is None:  # the layers are built by now: their first batch passed
            optimizer = OPTIMIZERS[self.OPTIMIZER]
            self.optimizer = optimizer(self.ctx.parameters(), lr=self.LEARNING_RATE)
            if self.pending_optimizer_state is not None:
                self.optimizer.load_state_dict(self.pending_optimizer_state)
        loss = self.loss_fn(predictions, targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.ctx.opt_steps += 1
        value = float(loss.detach())
        self.recent = (self.recent + [value])[-self.LOG_INTERVAL :]
        if self.ctx.opt_steps % self.LOG_INTERVAL == 0:
            mean = sum(self.recent) / len(self.recent)
            self.log.info("step %d loss %.5f", self.ctx.opt_steps, mean)
            self.ctx.summary["loss"] = mean
        self.ctx.summary["final_loss"] = value
        self.ctx.summary.setdefault("first_loss", value)
        return {"loss": loss.detach(), "step_done": self.ctx.opt_steps}

    def state_dict(self) -> dict[str, Any]:
        state = self.optimizer.state_dict() if self.optimizer else self.pending_optimizer_state
        return {"optimizer": state, "opt_steps": self.ctx.opt_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending_optimizer_state = state["optimizer"]
        self.ctx.opt_steps = state["opt_steps"]
