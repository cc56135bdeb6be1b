"""Run a graph in a worker thread so that a hang fails the test instead of freezing the suite."""

from __future__ import annotations

import threading
from typing import Any

from dnne_robot.runtime import Graph, GraphRunner


def run_graph(graph: Graph, timeout: float = 10.0, **kwargs: Any) -> str:
    """``GraphRunner(graph, **kwargs).run()``; fails if it takes longer than ``timeout`` s."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["reason"] = GraphRunner(graph, **kwargs).run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"graph did not finish within {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["reason"]
