"""Profiling: per-node time table and Chrome trace-event files (Perfetto, chrome://tracing)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .node import QueueNode


class Tracer:
    """Records compute / wait / blocked spans, one track (thread id) per node."""

    def __init__(self, max_events: int = 2_000_000) -> None:
        self.t0 = time.perf_counter()
        self.events: list[dict] = []
        self.max_events = max_events
        self._tids: dict[str, int] = {}

    def _tid(self, node: QueueNode) -> int:
        tid = self._tids.get(node.node_id)
        if tid is None:
            tid = self._tids[node.node_id] = len(self._tids) + 1
            self.events.append(
                {"ph": "M", "name": "thread_name", "pid": 1, "tid": tid,
                 "args": {"name": node.label}}
            )
        return tid

    def span(self, node: QueueNode, kind: str, start: float, duration: float) -> None:
        if len(self.events) >= self.max_events:
            return
        self.events.append(
            {"ph": "X", "name": kind, "cat": kind, "pid": 1, "tid": self._tid(node),
             "ts": (start - self.t0) * 1e6, "dur": duration * 1e6}
        )

    def write(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"traceEvents": self.events, "displayTimeUnit": "ms"}))
        os.replace(tmp, path)


def stats_table(nodes: list[QueueNode]) -> str:
    """A fixed-width table of where each node spent its time."""
    header = f"{'node':<40} {'compute s':>10} {'wait s':>10} {'blocked s':>10} {'in':>9} {'out':>9}"
    rows = [header, "-" * len(header)]
    for node in nodes:
        # A fused loop's members follow it, indented: their compute time is inside its own.
        for part in (node, *(p for p in node.parts() if p is not node)):
            s = part.stats
            label = part.label if part is node else f"  {part.label}"
            rows.append(
                f"{label[:40]:<40} {s.compute_s:>10.3f} {s.wait_s:>10.3f} "
                f"{s.blocked_s:>10.3f} {s.messages_in:>9} {s.messages_out:>9}"
            )
    return "\n".join(rows)
