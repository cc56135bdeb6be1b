"""The queue runtime on toy graphs: modes, fan-out, joins, backpressure, draining and errors."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import pytest

from dnne_robot.runtime import END, Graph, In, NodeError, QueueNode, RunContext
from dnne_robot.runtime.errors import WiringError

from .threaded import run_graph


class Count(QueueNode):
    """Emits 0..N-1 on ``value`` (N from the class), then ends."""

    OUTPUTS = ("value",)
    REPEAT = True
    N: ClassVar[int] = 5

    def setup(self) -> None:
        self.i = 0
        self.closed: str | None = None

    def compute(self):
        if self.i >= self.N:
            return None
        self.i += 1
        return {"value": self.i - 1}

    def close(self, reason: str) -> None:
        self.closed = reason


class Once(QueueNode):
    OUTPUTS = ("value",)
    VALUE: ClassVar[Any] = "handle"

    def compute(self):
        return {"value": self.VALUE}


class Collect(QueueNode):
    """Records every iteration's inputs."""

    INPUTS = (In("x"),)
    OUTPUTS = ()

    def setup(self) -> None:
        self.seen: list[Any] = []
        self.finished = False
        self.closed: str | None = None

    def compute(self, **inputs):
        self.seen.append(inputs if len(inputs) > 1 or "x" not in inputs else inputs["x"])
        return {}

    def finish(self) -> None:
        self.finished = True

    def close(self, reason: str) -> None:
        self.closed = reason


class Double(QueueNode):
    INPUTS = (In("x"),)
    OUTPUTS = ("y",)

    def compute(self, x):
        return {"y": 2 * x}


def make_graph(queue_size: int = 4) -> tuple[RunContext, Graph]:
    ctx = RunContext()
    return ctx, Graph(ctx, queue_size=queue_size)


def test_linear_chain_drains_on_end() -> None:
    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    dbl = g.add(Double("2", "double", ctx))
    sink = g.add(Collect("3", "sink", ctx))
    g.connect(src, "value", dbl, "x")
    g.connect(dbl, "y", sink, "x")
    assert run_graph(g) == "done"
    assert sink.seen == [0, 2, 4, 6, 8]
    assert sink.finished and sink.closed == "done" and src.closed == "done"
    assert dbl.stats.iterations == 5
    assert all(q.empty() for n in g.nodes for q in n.queues.values())


def test_fan_out_delivers_every_message_to_every_consumer() -> None:
    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    sinks = [g.add(Collect(str(i), f"sink {i}", ctx)) for i in (2, 3, 4)]
    for sink in sinks:
        g.connect(src, "value", sink, "x")
    assert run_graph(g) == "done"
    assert [s.seen for s in sinks] == [[0, 1, 2, 3, 4]] * 3
    assert src.stats.messages_out == 15


class Join(QueueNode):
    INPUTS = (In("a"), In("b"))
    OUTPUTS = ("sum",)

    def compute(self, a, b):
        return {"sum": (a, b)}


def test_join_waits_for_every_input_and_pairs_them_in_order() -> None:
    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    dbl = g.add(Double("2", "double", ctx))
    join = g.add(Join("3", "join", ctx))
    sink = g.add(Collect("4", "sink", ctx))
    g.connect(src, "value", dbl, "x")
    g.connect(src, "value", join, "a")  # direct and through a detour: still paired
    g.connect(dbl, "y", join, "b")
    g.connect(join, "sum", sink, "x")
    assert run_graph(g) == "done"
    assert sink.seen == [(i, 2 * i) for i in range(5)]


def test_join_stops_when_its_shorter_input_ends() -> None:
    class Short(Count):
        N = 2

    ctx, g = make_graph()
    long_src = g.add(Count("1", "long", ctx))
    short_src = g.add(Short("2", "short", ctx))
    join = g.add(Join("3", "join", ctx))
    sink = g.add(Collect("4", "sink", ctx))
    g.connect(long_src, "value", join, "a")
    g.connect(short_src, "value", join, "b")
    g.connect(join, "sum", sink, "x")
    assert run_graph(g) == "done"
    assert sink.seen == [(0, 0), (1, 1)]


def test_join_drains_when_one_input_ends_long_before_the_other() -> None:
    """The long producer must not block forever on the queue of a join that stopped."""

    class Short(Count):
        N = 2

    class Long(Count):
        N = 1000

    ctx, g = make_graph(queue_size=2)
    long_src = g.add(Long("1", "long", ctx))
    short_src = g.add(Short("2", "short", ctx))
    join = g.add(Join("3", "join", ctx))
    sink = g.add(Collect("4", "sink", ctx))
    g.connect(long_src, "value", join, "a")
    g.connect(short_src, "value", join, "b")
    g.connect(join, "sum", sink, "x")
    assert run_graph(g) == "done"
    assert sink.seen == [(0, 0), (1, 1)]
    assert long_src.i < 1000  # it stopped once nobody listened
    assert sink.finished


def test_endless_source_stops_once_nobody_listens() -> None:
    class Endless(QueueNode):
        OUTPUTS = ("value",)
        REPEAT = True

        def setup(self) -> None:
            self.n = 0

        def compute(self):
            self.n += 1
            return {"value": self.n}

    class Three(Count):
        N = 3

    ctx, g = make_graph()
    endless = g.add(Endless("1", "endless", ctx))
    three = g.add(Three("2", "three", ctx))
    join = g.add(Join("3", "join", ctx))
    g.connect(endless, "value", join, "a")
    g.connect(three, "value", join, "b")
    assert run_graph(g) == "done"
    assert join.stats.iterations == 3


class UseSticky(QueueNode):
    INPUTS = (In("handle", mode="sticky"), In("x"))
    OUTPUTS = ("out",)

    def compute(self, handle, x):
        return {"out": (handle, x)}


def test_sticky_input_is_kept_across_iterations() -> None:
    ctx, g = make_graph()
    handle = g.add(Once("1", "handle", ctx))
    src = g.add(Count("2", "count", ctx))
    use = g.add(UseSticky("3", "use", ctx))
    sink = g.add(Collect("4", "sink", ctx))
    g.connect(handle, "value", use, "handle")
    g.connect(src, "value", use, "x")
    g.connect(use, "out", sink, "x")
    assert run_graph(g) == "done"
    assert sink.seen == [("handle", i) for i in range(5)]


def test_sticky_input_takes_the_newest_value() -> None:
    class Versions(Count):
        N = 3

    class Slow(QueueNode):
        """Emits x after yielding enough for the version source to run ahead."""

        INPUTS = (In("x"),)
        OUTPUTS = ("y",)

        async def compute(self, x):
            for _ in range(20):
                await asyncio.sleep(0)
            return {"y": x}

    ctx, g = make_graph()
    versions = g.add(Versions("1", "versions", ctx))
    src = g.add(Count("2", "count", ctx))
    slow = g.add(Slow("3", "slow", ctx))
    use = g.add(UseSticky("4", "use", ctx))
    sink = g.add(Collect("5", "sink", ctx))
    g.connect(versions, "value", use, "handle")
    g.connect(src, "value", slow, "x")
    g.connect(slow, "y", use, "x")
    g.connect(use, "out", sink, "x")
    assert run_graph(g) == "done"
    handles = [h for h, _ in sink.seen]
    assert handles == sorted(handles) and handles[-1] == 2
    assert [x for _, x in sink.seen] == list(range(5))


class Merge(QueueNode):
    INPUTS = (In("a", mode="any", optional=True), In("b", mode="any", optional=True))
    OUTPUTS = ("out",)

    def compute(self, **inputs):
        ((port, value),) = inputs.items()
        return {"out": (port, value)}


def test_any_inputs_forward_whichever_arrives_and_end_when_all_end() -> None:
    class Two(Count):
        N = 2

    ctx, g = make_graph()
    a = g.add(Count("1", "a", ctx))
    b = g.add(Two("2", "b", ctx))
    merge = g.add(Merge("3", "merge", ctx))
    sink = g.add(Collect("4", "sink", ctx))
    g.connect(a, "value", merge, "a")
    g.connect(b, "value", merge, "b")
    g.connect(merge, "out", sink, "x")
    assert run_graph(g) == "done"
    assert sorted(sink.seen) == [("a", i) for i in range(5)] + [("b", 0), ("b", 1)]
    assert [v for p, v in sink.seen if p == "a"] == list(range(5))


class Trigger(QueueNode):
    INPUTS = (In("x"), In("trigger", mode="latest", optional=True))
    OUTPUTS = ()

    def setup(self) -> None:
        self.seen: list[tuple[Any, Any]] = []

    def compute(self, x, trigger=None):
        self.seen.append((x, trigger))
        return {}


def test_latest_input_never_waits() -> None:
    class Silent(Count):
        N = 0

    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    node = g.add(Trigger("2", "trigger", ctx))
    silent = g.add(Silent("3", "silent", ctx))
    g.connect(src, "value", node, "x")
    g.connect(silent, "value", node, "trigger")
    assert run_graph(g) == "done"
    assert node.seen == [(i, None) for i in range(5)]


def test_unconnected_optional_input_is_left_to_its_default() -> None:
    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    node = g.add(Trigger("2", "trigger", ctx))
    g.connect(src, "value", node, "x")
    assert run_graph(g) == "done"
    assert node.seen == [(i, None) for i in range(5)]


def test_latest_input_gives_the_newest_message() -> None:
    class Burst(Count):
        N = 3

    class SlowCount(Count):
        async def compute(self):
            for _ in range(30):
                await asyncio.sleep(0)
            return super().compute()

    ctx, g = make_graph()
    src = g.add(SlowCount("1", "count", ctx))
    burst = g.add(Burst("2", "burst", ctx))
    node = g.add(Trigger("3", "trigger", ctx))
    g.connect(src, "value", node, "x")
    g.connect(burst, "value", node, "trigger")
    assert run_graph(g) == "done"
    triggers = [t for _, t in node.seen]
    assert 2 in triggers and 0 not in triggers[1:]  # only the newest, never an older one
    assert triggers[-1] is None  # used once, not repeated


class GatedSource(QueueNode):
    """Emits a batch, then waits for the consumer's step before the next (a gate loop)."""

    INPUTS = (In("trigger", mode="gate", optional=True),)
    OUTPUTS = ("batch",)
    N: ClassVar[int] = 6

    def setup(self) -> None:
        self.sent = 0
        self.triggers: list[Any] = []

    def compute(self, trigger=None):
        self.triggers.append(trigger)
        if self.sent >= self.N:
            return END
        self.sent += 1
        return {"batch": self.sent}


class Learner(QueueNode):
    """Counts steps, in state kept on the node across iterations."""

    INPUTS = (In("batch"),)
    OUTPUTS = ("step_done",)

    def setup(self) -> None:
        self.steps = 0
        self.total = 0

    def compute(self, batch):
        self.steps += 1
        self.total += batch
        return {"step_done": self.steps}


def test_gate_starts_a_loop_its_consumer_closes_and_state_persists() -> None:
    ctx, g = make_graph(queue_size=1)
    src = g.add(GatedSource("1", "data", ctx))
    learner = g.add(Learner("2", "learner", ctx))
    g.connect(src, "batch", learner, "batch")
    g.connect(learner, "step_done", src, "trigger")
    assert run_graph(g) == "done"
    assert src.triggers == [None, 1, 2, 3, 4, 5, 6]
    assert learner.steps == 6 and learner.total == sum(range(1, 7))


def test_bounded_queues_hold_a_fast_producer_back() -> None:
    maxsize = 3
    produced = [0]

    class Fast(QueueNode):
        OUTPUTS = ("value",)
        REPEAT = True

        def compute(self):
            if produced[0] >= 50:
                return None
            produced[0] += 1
            return {"value": produced[0]}

    class SlowSink(QueueNode):
        INPUTS = (In("x"),)
        OUTPUTS = ()

        def setup(self) -> None:
            self.ahead: list[int] = []

        async def compute(self, x):
            # Items produced but not yet taken by this node: at most what the queue holds.
            self.ahead.append(produced[0] - x)
            assert self.queues["x"].qsize() <= maxsize
            await asyncio.sleep(0.001)
            return {}

    ctx, g = make_graph(queue_size=maxsize)
    fast = g.add(Fast("1", "fast", ctx))
    sink = g.add(SlowSink("2", "slow", ctx))
    g.connect(fast, "value", sink, "x")
    assert run_graph(g) == "done"
    assert len(sink.ahead) == 50
    assert max(sink.ahead) <= maxsize
    assert max(sink.ahead) == maxsize  # and it really ran ahead as far as allowed
    assert fast.stats.blocked_s > 0


def test_first_node_error_stops_the_graph_without_hanging() -> None:
    class Boom(QueueNode):
        INPUTS = (In("x"),)
        OUTPUTS = ("y",)

        def compute(self, x):
            if x == 3:
                raise ValueError("bad value 3")
            return {"y": x}

    class Forever(QueueNode):
        """A source that would never end on its own."""

        OUTPUTS = ("value",)
        REPEAT = True

        def setup(self) -> None:
            self.closed: str | None = None

        async def compute(self):
            await asyncio.sleep(0.001)
            return {"value": 0}

        def close(self, reason: str) -> None:
            self.closed = reason

    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    boom = g.add(Boom("7", "Exploder", ctx))
    sink = g.add(Collect("8", "sink", ctx))
    forever = g.add(Forever("9", "forever", ctx))
    forever_sink = g.add(Collect("10", "forever sink", ctx))
    g.connect(src, "value", boom, "x")
    g.connect(boom, "y", sink, "x")
    g.connect(forever, "value", forever_sink, "x")
    with pytest.raises(NodeError) as info:
        run_graph(g)
    err = info.value
    assert err.node_id == "7" and err.class_name == "Boom" and err.title == "Exploder"
    assert isinstance(err.cause, ValueError)
    assert "#7" in str(err) and "Boom" in str(err) and "bad value 3" in str(err)
    assert sink.seen == [0, 1, 2][: len(sink.seen)]  # nothing after the failure
    assert forever.closed == "error" and sink.closed == "error"
    assert not sink.finished  # cancelled, not drained
    assert ctx.stopping


def test_setup_error_names_the_node() -> None:
    class BadSetup(Collect):
        def setup(self) -> None:
            raise OSError("no device")

    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    bad = g.add(BadSetup("2", "Robot", ctx))
    g.connect(src, "value", bad, "x")
    with pytest.raises(NodeError, match=r"#2 'Robot' \(BadSetup\).*no device"):
        run_graph(g)


def test_wiring_errors() -> None:
    ctx, g = make_graph()
    src = g.add(Count("1", "count", ctx))
    sink = g.add(Collect("2", "sink", ctx))
    with pytest.raises(WiringError, match="no output"):
        g.connect(src, "nope", sink, "x")
    with pytest.raises(WiringError, match="no input"):
        g.connect(src, "value", sink, "nope")
    g.connect(src, "value", sink, "x")
    with pytest.raises(WiringError, match="fed twice"):
        g.connect(src, "value", sink, "x")
    with pytest.raises(WiringError, match="duplicate"):
        g.add(Count("1", "again", ctx))
    with pytest.raises(ValueError, match="unknown mode"):
        In("x", mode="sometimes")


def test_debug_queues_logs_depths(caplog: pytest.LogCaptureFixture) -> None:
    class SlowSink(Collect):
        async def compute(self, x):
            await asyncio.sleep(0.01)
            return super().compute(x=x)

    class Many(Count):
        N = 20

    ctx, g = make_graph()
    src = g.add(Many("1", "count", ctx))
    sink = g.add(SlowSink("2", "sink", ctx))
    g.connect(src, "value", sink, "x")
    with caplog.at_level(logging.INFO, logger="runtime"):
        assert run_graph(g, debug_queues=0.02) == "done"
    lines = [r.getMessage() for r in caplog.records if r.name == "runtime"]
    assert any(line.startswith("queues #2 'sink'") and "'x':" in line for line in lines)
    assert any(line.startswith("final queues #2 'sink'") for line in lines)


def test_trace_records_every_node(tmp_path) -> None:
    import json

    from dnne_robot.runtime.trace import Tracer, stats_table

    ctx, g = make_graph()
    ctx.tracer = Tracer()
    src = g.add(Count("1", "count", ctx))
    dbl = g.add(Double("2", "double", ctx))
    sink = g.add(Collect("3", "sink", ctx))
    g.connect(src, "value", dbl, "x")
    g.connect(dbl, "y", sink, "x")
    assert run_graph(g) == "done"
    ctx.tracer.write(tmp_path / "t.json")
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M"}
    assert names == {n.label for n in g.nodes}
    assert {e["name"] for e in events if e["ph"] == "X"} >= {"compute", "wait"}
    table = stats_table(g.nodes)
    assert all(n.label[:40] in table for n in g.nodes)


def test_state_dict_round_trip_through_the_graph() -> None:
    class Stateful(Learner):
        def state_dict(self):
            return {"steps": self.steps}

        def load_state_dict(self, state) -> None:
            self.steps = state["steps"]

    ctx, g = make_graph()
    node = g.add(Stateful("5", "learner", ctx))
    g.add(Count("1", "count", ctx))
    node.setup()
    node.steps = 42
    states = g.state_dict()
    assert states == {"5": {"steps": 42}}
    node.steps = 0
    g.load_state_dict(states)
    assert node.steps == 42
    with pytest.raises(WiringError, match="unknown node #9$"):
        g.load_state_dict({"9": {}})


def test_a_checkpoint_fused_one_way_and_not_the_other_says_so() -> None:
    """``export --optimize`` runs layers 2, 3, 4 as node ``2+3+4``: a checkpoint of the other
    kind of export names what differs instead of only an unknown node."""
    ctx, g = make_graph()
    g.add(Count("2+3+4", "fused layers", ctx))
    with pytest.raises(WiringError, match=r"unknown node #3: this export runs it fused as "
                                          r"#2\+3\+4 \(export --optimize\)"):
        g.load_state_dict({"3": {}})
    ctx, g = make_graph()
    g.add(Count("2", "layer", ctx))
    with pytest.raises(WiringError, match="#2\\+3: a fused node of an export made with "
                                          "--optimize"):
        g.load_state_dict({"2+3": {}})


# ----------------------------------------------------------------------------- several producers
class CountFrom(Count):
    """Emits START..START+N-1."""

    START: ClassVar[int] = 100

    def compute(self):
        out = super().compute()
        return None if out is None else {"value": out["value"] + self.START}


def test_several_producers_merge_into_one_input_and_end_together() -> None:
    ctx, g = make_graph()
    a = g.add(Count("1", "a", ctx))
    b = g.add(CountFrom("2", "b", ctx))
    sink = g.add(Collect("3", "sink", ctx))
    g.connect(a, "value", sink, "x")
    g.connect(b, "value", sink, "x")
    assert run_graph(g) == "done"
    assert sorted(sink.seen) == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    assert [v for v in sink.seen if v < 100] == [0, 1, 2, 3, 4]  # each producer in its order


def test_a_join_waits_for_every_producer_of_a_merged_input_to_end() -> None:
    class Pair(QueueNode):
        INPUTS = (In("x"), In("y"))
        OUTPUTS = ()

        def setup(self) -> None:
            self.pairs: list[tuple[Any, Any]] = []

        def compute(self, x, y):
            self.pairs.append((x, y))
            return {}

    class Ten(Count):
        N = 10

    ctx, g = make_graph()
    short, longer, ys = (g.add(Count("1", "a", ctx)), g.add(CountFrom("2", "b", ctx)),
                         g.add(Ten("3", "y", ctx)))
    pair = g.add(Pair("4", "pair", ctx))
    g.connect(short, "value", pair, "x")
    g.connect(longer, "value", pair, "x")
    g.connect(ys, "value", pair, "y")
    assert run_graph(g) == "done"
    assert len(pair.pairs) == 10  # the first producer's END did not end the input


def test_the_same_output_twice_into_one_input_is_a_wiring_error() -> None:
    ctx, g = make_graph()
    src, sink = g.add(Count("1", "a", ctx)), g.add(Collect("2", "sink", ctx))
    g.connect(src, "value", sink, "x")
    with pytest.raises(WiringError, match="fed twice"):
        g.connect(src, "value", sink, "x")


def test_startup_outputs_start_a_loop() -> None:
    """A bootstrap signal lets a trigger-driven source make its first item."""

    class Source(QueueNode):
        INPUTS = (In("trigger"),)
        OUTPUTS = ("value",)

        def setup(self) -> None:
            self.n = 0

        def compute(self, trigger):
            self.n += 1
            return END if self.n > 3 else {"value": self.n}

    class Learner(QueueNode):
        INPUTS = (In("x"),)
        OUTPUTS = ("done",)

        def setup(self) -> None:
            self.seen: list[int] = []

        def startup_outputs(self):
            return {"done": "bootstrap"}

        def compute(self, x):
            self.seen.append(x)
            return {"done": x}

    ctx, g = make_graph()
    source, learner = g.add(Source("1", "source", ctx)), g.add(Learner("2", "learner", ctx))
    g.connect(source, "value", learner, "x")
    g.connect(learner, "done", source, "trigger")
    assert run_graph(g) == "done"
    assert learner.seen == [1, 2, 3]


def test_a_node_can_end_the_run_as_complete() -> None:
    from dnne_robot.runtime import CauseExitException

    class Stopper(Collect):
        def compute(self, x):
            if x == 2:
                raise CauseExitException("7", "enough values", exit_code=0)
            return super().compute(x=x)

    class Forever(Count):
        N = 10**9

    ctx, g = make_graph()
    src, stop = g.add(Forever("1", "src", ctx)), g.add(Stopper("2", "stopper", ctx))
    g.connect(src, "value", stop, "x")
    assert run_graph(g) == "done"
    assert stop.seen == [0, 1]
    assert ctx.completed is not None and "enough values" in ctx.completed
    assert "#2 'stopper'" in ctx.completed and ctx.exit_code == 0
