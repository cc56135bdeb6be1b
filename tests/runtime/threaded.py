"""Run a graph in a worker thread so that a hang fails the test instead of freezing the suite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dnne_robot.runtime import Graph, GraphRunner

T = TypeVar("T")


def in_thread(fn: Callable[[], T], timeout: float = 10.0) -> T:
    """``fn()`` in a daemon thread; fails if it takes longer than ``timeout`` s."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"graph did not finish within {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def run_graph(graph: Graph, timeout: float = 10.0, **kwargs: Any) -> str:
    """``GraphRunner(graph, **kwargs).run()``; fails if it takes longer than ``timeout`` s."""
    return in_thread(lambda: GraphRunner(graph, **kwargs).run(), timeout)
