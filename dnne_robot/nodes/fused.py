"""The nodes ``dnne-robot export --optimize`` makes from chains of stateless nodes.

:class:`FusedLayersNode` runs a chain of torch layer nodes as one ``nn.Sequential``;
:class:`InlinedNodes` runs the stateless nodes that fed a node as plain calls inside it.
Either way no queue sits between the fused nodes, and the results are the same as unfused.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ..runtime import QueueNode

LayerBuilder = Callable[[int], list[nn.Module]]


class FusedLayersNode(QueueNode):
    """A chain of torch layers fused into one ``nn.Sequential``.

    ``LAYERS`` holds ``(workflow node id, builder)`` in graph order; a builder takes the input
    width and returns that node's layers. They are built on the first batch in graph order, one
    after the other, exactly as the separate nodes build theirs (the same random draws, the
    same parameters), and each node's layers are registered under its own id.
    """

    LAYERS: ClassVar[tuple[tuple[str, LayerBuilder], ...]]

    def setup(self) -> None:
        self.module: nn.Sequential | None = None
        self.widths: list[int] = []

    def build(self, widths: list[int]) -> None:
        """Build every layer for known input widths (restoring a checkpoint)."""
        layers: list[nn.Module] = []
        for (node_id, build), width in zip(self.LAYERS, widths, strict=True):
            layers += self._register(node_id, build(width))
        self.module = nn.Sequential(*layers)
        self.widths = list(widths)

    def _register(self, node_id: str, layers: list[nn.Module]) -> list[nn.Module]:
        """Make one workflow node's layers visible to the trainers, under that node's id."""
        self.ctx.register_module(node_id, nn.Sequential(*layers))
        return layers

    def compute(self, **inputs: torch.Tensor) -> dict[str, Any]:
        (x,) = inputs.values()
        if self.module is None:
            # First batch: build each node's layers when its input arrives, as the unfused
            # nodes do, so that layers and dropout draw random numbers in the same order.
            layers: list[nn.Module] = []
            widths: list[int] = []
            for node_id, build in self.LAYERS:
                widths.append(x.shape[-1])
                node_layers = self._register(node_id, build(widths[-1]))
                for layer in node_layers:
                    x = layer(x)
                layers += node_layers
            self.module = nn.Sequential(*layers)
            self.widths = widths
            return {self.OUTPUTS[0]: x}
        return {self.OUTPUTS[0]: self.module(x)}

    def state_dict(self) -> dict[str, Any] | None:
        if self.module is None:
            return None
        return {"widths": self.widths, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.module is None:
            self.build(state["widths"])
        assert self.module is not None
        self.module.load_state_dict(state["module"])


#: One inlined node: (the input port of the node it feeds, its class, workflow id, title,
#: its own input port, the output it passes on).
Inlined = tuple[str, type[QueueNode], str, str, str, str]


class InlinedNodes:
    """Mixin, first among the bases of a generated node's class: before the node computes,
    the stateless nodes that fed it run on its inputs as plain calls.

    ``INLINED`` lists, in graph order, the nodes that fed each input port of this node. Each
    keeps its own class (and module); only the queue hops between them are gone.
    """

    INLINED: ClassVar[list[Inlined]]

    def __init__(self, node_id: str, title: str, ctx: Any) -> None:
        super().__init__(node_id, title, ctx)  # type: ignore[call-arg]
        # The host's compute decides: this one returns what it returns (a coroutine or not).
        host = next(c for c in type(self).__mro__[1:] if "compute" in vars(c) and c is not
                    InlinedNodes)
        self._compute_is_async = inspect.iscoroutinefunction(host.compute)

    def setup(self) -> None:
        # Set up in graph order: the inlined nodes come before the node they fed.
        self.inlined = [(port, cls(node_id, title, self.ctx), in_port, out_name)
                        for port, cls, node_id, title, in_port, out_name in self.INLINED]
        self.inlined_nodes = [node for _, node, _, _ in self.inlined]
        for node in self.inlined_nodes:
            node.setup()
        super().setup()  # type: ignore[misc]

    def compute(self, **inputs: Any) -> Any:
        for port, node, in_port, out_name in self.inlined:
            inputs[port] = node.compute(**{in_port: inputs[port]})[out_name]
        return super().compute(**inputs)  # type: ignore[misc]

    def finish(self) -> None:
        for node in self.inlined_nodes:
            node.finish()
        super().finish()  # type: ignore[misc]

    def close(self, reason: str) -> None:
        for node in getattr(self, "inlined_nodes", ()):  # empty if setup never ran
            node.close(reason)
        super().close(reason)  # type: ignore[misc]
