"""The nodes ``dnne-robot export --optimize`` makes from chains and loops of nodes.

:class:`FusedLayersNode` runs a chain of torch layer nodes as one ``nn.Sequential``;
:class:`InlinedNodes` runs the stateless nodes that fed a node as plain calls inside it;
:class:`FusedLoopNode` runs a control loop (merge, agent, step, trainer) as plain calls, one
iteration after another. Either way no queue sits between the fused nodes, and the results
are the same as unfused.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ..runtime import END, NodeError, QueueNode, RunComplete

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


#: One member input fed inside the loop: (member index, its input port, source member index,
#: the source's output, the input's mode: ``each`` or ``sticky``).
LoopLink = tuple[int, str, int, str, str]
#: One member input fed from outside: (member index, its input port, this node's input).
LoopInput = tuple[int, str, str]


def _member_error(member: QueueNode, exc: Exception) -> Exception:
    """A member's error as the runner reports a node's: naming the member, not the loop.
    A stop signal (``RunComplete``) passes as it is."""
    if isinstance(exc, RunComplete | NodeError):
        return exc
    return NodeError(member.node_id, type(member).__name__, member.title, exc)


class _Wired:
    """Stands in a member's ``consumers`` lists for a link the loop serves itself, so a
    member that asks whether an output is read (the agent's ``model``) gets its answer."""


WIRED = _Wired()


class FusedLoopNode(QueueNode):
    """A feedback loop of nodes (the OR merge, the agent, the action, the step, the reward,
    the trainer) run as plain calls in graph order, one iteration after another.

    The unfused graph runs these nodes in lock-step: the trainer releases the agent only
    after it has taken the step, so each iteration's order is fixed: merge, agent, ...,
    trainer. This node runs that same order without the queues between them, so every node
    computes what it computed unfused, bit for bit. Each member keeps its own generated
    class, id, settings (``--set``), checkpoint state and per-node profile row.

    ``MEMBERS`` are ``(class, workflow id, title)`` in the order they run; the first is the
    merge that starts each iteration. It takes ``START`` (this node's input) once, then
    ``BACK``'s value (a member's output) on every later iteration. ``LINKS`` and ``INPUTS_OF``
    feed the other members. Nothing outside the loop reads a member (the planner fuses no
    other loop), so it has no outputs.
    """

    MEMBERS: ClassVar[tuple[tuple[type[QueueNode], str, str], ...]]
    START: ClassVar[tuple[str, str]]  # (the merge's input port, this node's input)
    BACK: ClassVar[tuple[str, int, str]]  # (the merge's input port, member index, output)
    LINKS: ClassVar[tuple[LoopLink, ...]]
    INPUTS_OF: ClassVar[tuple[LoopInput, ...]]
    #: Iterations between yields to the event loop (signals, other nodes of the graph).
    YIELD_EVERY: ClassVar[int] = 64

    def __init__(self, node_id: str, title: str, ctx: Any) -> None:
        super().__init__(node_id, title, ctx)
        # Made here, not in setup: `runner.py train --set` changes a member's settings
        # between the graph's construction and its setup.
        self.members = [cls(member_id, member_title, ctx)
                        for cls, member_id, member_title in self.MEMBERS]
        for _, _, source, output, _ in self.LINKS:
            self.members[source].consumers[output].append((WIRED, None))  # type: ignore[arg-type]
        _, back_source, back_output = self.BACK
        self.members[back_source].consumers[back_output].append((WIRED, None))  # type: ignore

    def parts(self) -> tuple[QueueNode, ...]:
        return tuple(self.members)

    def setup(self) -> None:
        for member in self.members:
            try:
                member.setup()
            except Exception as exc:  # noqa: BLE001 - named after the member, as unfused
                raise _member_error(member, exc) from exc
        # Per member: (the member, its compute, whether that is a coroutine function, and
        # its inputs as (port, source index or -1 for this node's input, source output or
        # this node's input name, kept)), built once: the loop below runs every step.
        self._steps: list[tuple[QueueNode, Any, bool, tuple[tuple[str, int, str, bool], ...]]]
        feeds: list[list[tuple[str, int, str, bool]]] = [[] for _ in self.members]
        for index, port, name in self.INPUTS_OF:
            feeds[index].append((port, -1, name, True))
        for index, port, source, output, mode in self.LINKS:
            feeds[index].append((port, source, output, mode == "sticky"))
        self._steps = [(m, m.compute, m._compute_is_async, tuple(feeds[i]))  # noqa: SLF001
                       for i, m in enumerate(self.members)]
        # The members whose outputs an input keeps (``sticky``, the agent's model): only
        # theirs are remembered across iterations.
        self._kept_sources = {source for _, _, source, _, mode in self.LINKS if mode == "sticky"}

    async def compute(self, **inputs: Any) -> Any:
        ctx, count = self.ctx, len(self.members)
        start_port, start_input = self.START
        back_port, back_source, back_output = self.BACK
        tracer = ctx.tracer
        perf_counter = time.perf_counter
        args: dict[str, Any] = {start_port: inputs[start_input]}
        kept: list[dict[str, Any]] = [{} for _ in range(count)]  # kept sources' latest outputs
        kept_sources = self._kept_sources
        iteration = 0
        while not ctx.stopping:
            fresh: list[dict[str, Any]] = []
            for index, (member, compute, is_async, feeds) in enumerate(self._steps):
                if index:
                    args = {}
                    for name, source, output, sticky in feeds:
                        if source < 0:
                            args[name] = inputs[output]
                        else:
                            args[name] = (kept if sticky else fresh)[source][output]
                t0 = perf_counter()
                try:
                    out = compute(**args)
                    if is_async:
                        out = await out
                except Exception as exc:  # noqa: BLE001 - named after the member, as unfused
                    raise _member_error(member, exc) from exc
                dt = perf_counter() - t0
                stats = member.stats
                stats.compute_s += dt
                stats.iterations += 1
                if tracer is not None:
                    tracer.span(member, "compute", t0, dt)
                if out is END:  # the stream ends: the run's loop calls finish() as unfused
                    return END
                out = out or {}
                fresh.append(out)
                if index in kept_sources:
                    kept[index].update(out)
            args = {back_port: fresh[back_source][back_output]}
            iteration += 1
            if iteration % self.YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let signals and the other nodes in
        return END

    def finish(self) -> None:
        for member in self.members:
            member.finish()

    def close(self, reason: str) -> None:
        for member in self.members:
            member.close(reason)
