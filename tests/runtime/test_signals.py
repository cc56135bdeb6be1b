"""Ctrl-C and SIGTERM stop a running graph cleanly: every node closed, no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from dnne_robot.runtime import Graph, GraphRunner, In, QueueNode, RunContext

    class Ticker(QueueNode):
        OUTPUTS = ("tick",)
        REPEAT = True

        def setup(self):
            self.n = 0

        async def compute(self):
            await asyncio.sleep(0.001)
            self.n += 1
            return {"tick": self.n}

    class Sink(QueueNode):
        INPUTS = (In("tick"),)

        def compute(self, tick):
            if tick == 20:
                print("ready", flush=True)
            return {}

        def close(self, reason):
            print(f"closed {self.node_id} {reason}", flush=True)

    ctx = RunContext()
    if "--boundary" in sys.argv:  # a trainer that never reaches its update
        ctx.boundary_nodes.add("2")
    graph = Graph(ctx)
    ticker = graph.add(Ticker("1", "ticker", ctx))
    sink = graph.add(Sink("2", "sink", ctx))
    graph.connect(ticker, "tick", sink, "tick")
    reason = GraphRunner(graph).run()
    print(f"reason {reason} stop {ctx.stop_reason}", flush=True)
    sys.exit(130 if reason == "interrupted" else 0)
    """
)


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    script = tmp_path / "graph.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    line = proc.stdout.readline()
    while line.strip() != "ready":
        assert line and time.monotonic() < deadline, "graph never started"
        line = proc.stdout.readline()
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_running_graph(tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start(tmp_path)
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"graph did not stop after {sig.name}")
    assert proc.returncode == 130
    assert "Traceback" not in err, err
    assert "closed 2 interrupted" in out
    assert f"interrupted by {sig.name}" in out


def test_a_signal_waits_for_the_trainers_update_only_so_long(tmp_path: Path) -> None:
    """With a trainer that stops at its update, a signal waits for it; without that update
    the run stops at once after the grace period (a supervisor's SIGKILL must not win)."""
    from dnne_robot.runtime.graph import BOUNDARY_GRACE_S

    proc = _start(tmp_path, "--boundary")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=BOUNDARY_GRACE_S + 20)
    waited = time.monotonic() - t0
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "stopping after the current rollout's update" in err
    assert "closed 2 interrupted" in out and "interrupted by SIGTERM" in out
    assert BOUNDARY_GRACE_S - 0.5 <= waited <= BOUNDARY_GRACE_S + 10, waited


def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--boundary")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert time.monotonic() - t0 < 3 and "interrupted by SIGINT" in out

