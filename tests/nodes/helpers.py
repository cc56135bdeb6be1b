"""Running framework node classes on small graphs, in this process."""

from __future__ import annotations

from typing import Any

from runtime.threaded import run_graph  # tests/ is on sys.path (rootdir conftest)

from dnne_robot.runtime import Graph, In, QueueNode, RunContext

TIMEOUT = 30.0


def configured(base: type[QueueNode], **constants: Any) -> type[QueueNode]:
    """A subclass of ``base`` with ``constants``, as a generated node module would be."""
    return type(f"Test{base.__name__}", (base,), constants)


class Feed(QueueNode):
    """Sends ``ITEMS`` one by one, then ends."""

    OUTPUTS = ("value",)
    REPEAT = True
    ITEMS: list[Any] = []

    def setup(self) -> None:
        self.items = list(self.ITEMS)

    def compute(self) -> dict[str, Any] | None:
        return {"value": self.items.pop(0)} if self.items else None


class Tap(QueueNode):
    """Records what arrives."""

    INPUTS = (In("x"),)
    OUTPUTS = ()

    def setup(self) -> None:
        self.seen: list[Any] = []

    def compute(self, x: Any) -> dict[str, Any]:
        self.seen.append(x)
        return {}


def feed(items: list[Any]) -> type[QueueNode]:
    return configured(Feed, ITEMS=list(items))


def run(graph: Graph) -> str:
    return run_graph(graph, timeout=TIMEOUT)


def graph(**ctx: Any) -> tuple[RunContext, Graph]:
    context = RunContext(**ctx)
    return context, Graph(context)
