"""Bounded resources: every queue of an exported graph is bounded, and a fast producer
feeding a slow consumer for a long time holds its memory flat (backpressure)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from dnne_robot.runtime import Graph, GraphRunner, In, QueueNode, RunContext

from .helpers import SCENARIOS, isolated_env

#: Builds each export's graph (no setup, so no simulator starts) and lists every queue's
#: bound. One process for all exports: their ``framework`` packages are unloaded in between.
QUEUES_SCRIPT = """
import json, os, runpy, sys
found = {}
for folder in sys.argv[1:]:
    for name in [m for m in sys.modules if m.split(".")[0] in ("framework", "generated_nodes")]:
        del sys.modules[name]
    os.chdir(folder)
    sys.path.insert(0, folder)
    runner = runpy.run_path("runner.py", run_name="exported_runner")
    from framework.runtime import RunContext
    graph = runner["build_graph"](RunContext(command="train"))
    rows = []
    for node in graph.nodes:
        rows += [[node.label, name, queue.maxsize] for name, queue in node.queues.items()]
        if node.any_queue is not None:
            rows.append([node.label, "<any>", node.any_queue.maxsize])
    found[folder] = {"queue_size": graph.queue_size, "queues": rows, "nodes": len(graph.nodes)}
    sys.path.remove(folder)
print(json.dumps(found))
"""

EXPORTS = [(name, "mujoco" if name.startswith(("reach", "franka")) else "gymnasium", optimize)
           for name in sorted(p.name for p in SCENARIOS.glob("*.json"))
           for optimize in (False, True)]


@pytest.fixture(scope="module")
def queue_bounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    from dnne_robot.pipeline import export

    root = tmp_path_factory.mktemp("queues")
    folders = []
    for scenario, sim, optimize in EXPORTS:
        out = root / f"{scenario}-{optimize}"
        export(SCENARIOS / scenario, out, sim=sim, optimize=optimize)
        folders.append(str(out))
    proc = subprocess.run([sys.executable, "-c", QUEUES_SCRIPT, *folders], cwd=root,
                          env=isolated_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return {Path(folder).name: bounds for folder, bounds in found.items()}


@pytest.mark.parametrize(("scenario", "sim", "optimize"), EXPORTS,
                         ids=[f"{n}-{'opt' if o else 'plain'}" for n, _, o in EXPORTS])
def test_every_queue_of_an_exported_graph_is_bounded(scenario: str, sim: str, optimize: bool,
                                                     queue_bounds: dict[str, dict]) -> None:
    found = queue_bounds[f"{scenario}-{optimize}"]
    assert found["queue_size"] >= 1
    if found["nodes"] == 1:
        assert found["queues"] == []  # one node (DNNE's compact PPO Agent) has nothing to wait on
    else:
        assert found["queues"], "a graph of several nodes with no queues tests nothing"
    unbounded = [row for row in found["queues"] if row[2] <= 0]
    assert unbounded == []


def test_a_graph_refuses_unbounded_queues() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        Graph(RunContext(), queue_size=0)


def test_every_input_mode_gets_a_bounded_queue() -> None:
    class Source(QueueNode):
        OUTPUTS = ("out",)

    class Sink(QueueNode):
        INPUTS = (In("each"), In("sticky", "sticky"), In("any_a", "any"), In("any_b", "any"),
                  In("latest", "latest"), In("gate", "gate"))

    graph = Graph(RunContext())
    src, sink = graph.add(Source("1", "src", graph.ctx)), graph.add(Sink("2", "sink", graph.ctx))
    for port in Sink.INPUTS:
        graph.connect(src, "out", sink, port.name)
    queues = [*sink.queues.values(), sink.any_queue]
    assert len(queues) == 5 and all(0 < q.maxsize <= graph.queue_size for q in queues)


# ------------------------------------------------------------------------------ soak
PAYLOAD_BYTES = 64 * 1024


class FastProducer(QueueNode):
    """Emits 64 KiB messages as fast as the queue lets it, until its time is up."""

    OUTPUTS = ("out",)
    REPEAT = True
    DURATION = 5.0

    def setup(self) -> None:
        self.sent = 0
        self.until = time.monotonic() + self.DURATION

    def compute(self):
        if time.monotonic() >= self.until:
            return None
        self.sent += 1
        return {"out": bytearray(PAYLOAD_BYTES)}


class SlowConsumer(QueueNode):
    """Takes 2 ms per message: hundreds of times slower than the producer."""

    INPUTS = (In("inp"),)

    def setup(self) -> None:
        self.received = 0

    async def compute(self, inp):
        await asyncio.sleep(0.002)
        self.received += 1
        return {}


class MemoryProbe(QueueNode):
    """Samples traced Python memory every 0.25 s while the producer runs."""

    REPEAT = True

    def setup(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.producer: FastProducer | None = None

    async def compute(self):
        await asyncio.sleep(0.25)
        self.samples.append((time.monotonic(), tracemalloc.get_traced_memory()[0]))
        if self.producer is not None and time.monotonic() >= self.producer.until:
            return None
        return {}


def _soak(seconds: float) -> dict:
    ctx = RunContext(command="train")
    graph = Graph(ctx)
    producer = graph.add(FastProducer("1", "producer", ctx))
    consumer = graph.add(SlowConsumer("2", "consumer", ctx))
    probe = graph.add(MemoryProbe("3", "probe", ctx))
    graph.connect(producer, "out", consumer, "inp")
    FastProducer.DURATION = seconds
    tracemalloc.start()
    try:
        runner = GraphRunner(graph)
        runner.setup()
        probe.producer = producer
        reason = runner.run_loop()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        FastProducer.DURATION = 5.0
    values = [v for _, v in probe.samples]
    warm = values[len(values) // 4:]  # after the first quarter
    return {"reason": reason, "sent": producer.sent, "received": consumer.received,
            "queue_size": graph.queue_size, "samples": values, "warm_min": min(warm),
            "warm_max": max(warm), "peak": peak}


def _check_soak(result: dict, seconds: float) -> None:
    print(f"soak {seconds:.0f} s: sent {result['sent']}, received {result['received']}, "
          f"traced memory {result['warm_min'] / 2**20:.2f}..{result['warm_max'] / 2**20:.2f} "
          f"MiB after warm-up, peak {result['peak'] / 2**20:.2f} MiB")
    assert result["reason"] == "done"
    assert len(result["samples"]) >= seconds * 3
    # Backpressure: the producer is never more than a queue (plus the message in hand) ahead.
    assert result["sent"] - result["received"] <= result["queue_size"] + 2
    assert result["received"] >= seconds * 100  # it really was a flood for the consumer
    # Flat memory: it varies by at most the messages a full queue (plus those in hand) holds,
    # nowhere near the data that flowed.
    assert result["warm_max"] - result["warm_min"] < (result["queue_size"] + 4) * PAYLOAD_BYTES
    assert result["peak"] < 64 * 2**20 < result["received"] * PAYLOAD_BYTES


def test_fast_producer_slow_consumer_memory_stays_flat() -> None:
    _check_soak(_soak(5.0), 5.0)


@pytest.mark.slow
def test_fast_producer_slow_consumer_memory_stays_flat_for_a_minute() -> None:
    _check_soak(_soak(60.0), 60.0)
