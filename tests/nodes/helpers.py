"""Running framework node classes on small graphs, in this process."""

from __future__ import annotations

from typing import Any

from runtime.threaded import in_thread, run_graph  # tests/ is on sys.path (rootdir conftest)

from dnne_robot.runtime import Graph, GraphRunner, In, QueueNode, RunContext

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


class Script(QueueNode):
    """Sends ``STEPS`` one by one, each a dict of outputs by name, then ends: several
    outputs into one ``any`` queue keep this order."""

    OUTPUTS: tuple[str, ...] = ()
    REPEAT = True
    STEPS: list[dict[str, Any]] = []

    def setup(self) -> None:
        self.steps = list(self.STEPS)

    def compute(self) -> dict[str, Any] | None:
        return self.steps.pop(0) if self.steps else None


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


def script(steps: list[dict[str, Any]], outputs: tuple[str, ...]) -> type[QueueNode]:
    return configured(Script, OUTPUTS=tuple(outputs), STEPS=list(steps))


def run(graph: Graph) -> str:
    return run_graph(graph, timeout=TIMEOUT)


def graph(**ctx: Any) -> tuple[RunContext, Graph]:
    context = RunContext(**ctx)
    return context, Graph(context)


def run_loaded(graph: Graph, states: dict[str, Any]) -> str:
    """Run ``graph`` as a resumed run does: set up, load ``states`` (node id -> state), run."""

    def resumed() -> str:
        runner = GraphRunner(graph)
        runner.setup()
        graph.load_state_dict(states)
        return runner.run_loop()

    return in_thread(resumed, TIMEOUT)


#: Get Batch's ``epoch_stats`` over two epochs of three batches: DNNE reports an epoch's end
#: with the next epoch's first batch.
GET_BATCH_STATS = [
    {"epoch": 0, "batch": 1, "total_batches": 3, "progress": 1 / 3, "completed": False},
    {"epoch": 0, "batch": 2, "total_batches": 3, "progress": 2 / 3, "completed": False},
    {"epoch": 0, "batch": 3, "total_batches": 3, "progress": 1.0, "completed": False},
    {"epoch": 0, "total_batches": 3, "completed": True},
    {"epoch": 1, "batch": 2, "total_batches": 3, "progress": 2 / 3, "completed": False},
    {"epoch": 1, "batch": 3, "total_batches": 3, "progress": 1.0, "completed": False},
    {"epoch": 1, "total_batches": 3, "completed": True},
]
