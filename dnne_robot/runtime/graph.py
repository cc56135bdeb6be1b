"""Wiring and supervision: the graph of queue nodes and the runner that drives it."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from .context import RunContext
from .errors import NodeError, RunComplete, WiringError
from .node import Channel, QueueNode

#: Seconds a signal waits for the trainer's next update before the run stops at once.
BOUNDARY_GRACE_S = 5.0

log = logging.getLogger("runtime")

DEFAULT_QUEUE_SIZE = 16


class Graph:
    """Nodes plus the queues between them."""

    def __init__(self, ctx: RunContext, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:  # asyncio.Queue(0) is unbounded: no backpressure, no memory limit
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.ctx = ctx
        self.queue_size = queue_size
        self.nodes: list[QueueNode] = []
        self._ids: dict[str, QueueNode] = {}

    def add(self, node: QueueNode) -> QueueNode:
        ids = {node.node_id, *(part.node_id for part in node.parts())}
        for node_id in sorted(ids):
            if node_id in self._ids:
                raise WiringError(f"duplicate node id {node_id!r}")
        self.nodes.append(node)
        for part in node.parts():
            self._ids[part.node_id] = part
        self._ids[node.node_id] = node
        return node

    def node(self, node_id: str) -> QueueNode:
        """The node with this workflow id (a fused loop's member by its own id)."""
        return self._ids[node_id]

    def parts(self) -> list[QueueNode]:
        """Every workflow node the graph runs, a fused loop's members in its place."""
        return [part for node in self.nodes for part in node.parts()]

    def connect(self, source: QueueNode, output: str, target: QueueNode, input_name: str) -> None:
        """Feed ``source.output`` into ``target.input_name`` through a bounded queue.

        Several producers may feed one input: they share its queue (see :mod:`.node`).
        """
        if output not in source.consumers:
            raise WiringError(f"{source.label} has no output {output!r}")
        port = next((p for p in target.INPUTS if p.name == input_name), None)
        if port is None:
            raise WiringError(f"{target.label} has no input {input_name!r}")
        if port.mode == "any":
            if target.any_queue is None:
                target.any_queue = Channel(self.queue_size)
            queue, tag = target.any_queue, input_name
        else:
            if input_name not in target.queues:
                target.queues[input_name] = Channel(self.queue_size)
            queue, tag = target.queues[input_name], None
        if (queue, tag) in source.consumers[output]:
            raise WiringError(f"{target.label} input {input_name!r} is fed twice by "
                              f"{source.label} output {output!r}")
        source.consumers[output].append((queue, tag))
        target.producers[input_name] = target.producers.get(input_name, 0) + 1
        if port.mode == "any":
            target._any_live[input_name] = target.producers[input_name]  # noqa: SLF001

    def queue_depths(self) -> dict[str, dict[str, int]]:
        depths: dict[str, dict[str, int]] = {}
        for node in self.nodes:
            row = {name: q.qsize() for name, q in node.queues.items()}
            if node.any_queue is not None:
                row["<any>"] = node.any_queue.qsize()
            depths[node.label] = row
        return depths

    def state_dict(self) -> dict[str, Any]:
        """Every stateful node's state, keyed by node id."""
        states = {}
        for node in self.parts():
            state = node.state_dict()
            if state is not None:
                states[node.node_id] = state
        return states

    def load_state_dict(self, states: dict[str, Any]) -> None:
        for node_id, state in states.items():
            if node_id not in self._ids:
                raise WiringError(self._unknown(node_id))
            self._ids[node_id].load_state_dict(state)

    def _unknown(self, node_id: str) -> str:
        """Why a checkpoint's node is not here: fused in one export and not the other
        (``export --optimize`` runs a chain of layers as one node, ``2+3+4``), or absent."""
        message = f"checkpoint has state for unknown node #{node_id}"
        fused_here = next((i for i in self._ids if node_id in i.split("+")), None)
        if fused_here is not None:
            return (f"{message}: this export runs it fused as #{fused_here} (export "
                    f"--optimize) and the checkpoint's did not; resume with an export made "
                    f"as the checkpoint's was")
        if "+" in node_id:
            return (f"{message}: a fused node of an export made with --optimize; resume "
                    f"with an export made with --optimize too")
        return message


class GraphRunner:
    """Starts, supervises and stops a graph.

    The run ends when every node has finished (the stream drained), on Ctrl-C / SIGTERM, or on
    the first node error. In each case the other nodes are cancelled, every node's ``close`` is
    called, and nothing is left waiting.
    """

    def __init__(self, graph: Graph, *, debug_queues: float | None = None) -> None:
        self.graph = graph
        self.ctx = graph.ctx
        self.debug_queues = debug_queues
        if debug_queues and log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)  # asking for the depths means showing them
        self.error: NodeError | None = None
        self.interrupted = False

    def setup(self) -> None:
        for node in self.graph.nodes:
            try:
                node.setup()
            except NodeError:
                raise  # a fused loop's member, named already
            except Exception as exc:  # noqa: BLE001 - reported with the node's name
                raise NodeError(node.node_id, type(node).__name__, node.title, exc) from exc

    async def _supervise(self, node: QueueNode) -> None:
        try:
            await node.run()
        except asyncio.CancelledError:
            raise
        except RunComplete as done:
            self.ctx.complete(f"node {node.label}: {done.message}".rstrip(": "), done.exit_code)
        except Exception as exc:  # noqa: BLE001 - the first error stops the graph
            if self.error is None and isinstance(exc, NodeError):
                self.error = exc  # a fused loop's member, named already
            elif self.error is None:
                self.error = NodeError(node.node_id, type(node).__name__, node.title, exc)
                self.error.__cause__ = exc
            self.ctx.request_stop(str(self.error))

    async def _dump_queues(self) -> None:
        assert self.debug_queues is not None
        while True:
            await asyncio.sleep(self.debug_queues)
            for label, depths in self.graph.queue_depths().items():
                if depths:
                    log.info("queues %s %s", label, depths)

    def _on_signal(self, signame: str) -> None:
        ctx = self.ctx
        boundary = (ctx.boundary_nodes and ctx.interrupt is None and not ctx.stopping
                    # SIGINT from a terminal also ends AsyncVectorEnv's worker processes.
                    and not ctx.env_info.get("async_workers"))
        if boundary:
            # A trainer stops the run at its next update, where the checkpoint it writes
            # resumes exactly. A second signal, or BOUNDARY_GRACE_S without an update (a
            # supervisor's SIGKILL follows its SIGTERM), stops at once.
            ctx.interrupt = signame
            print(f"{signame}: stopping after the current rollout's update, where a checkpoint "
                  "resumes exactly (send it again to stop now)", file=sys.stderr, flush=True)
            asyncio.get_running_loop().call_later(BOUNDARY_GRACE_S, self._stop_now, signame)
            return
        self._stop_now(signame)

    def _stop_now(self, signame: str) -> None:
        if self.ctx.stopping and self.ctx.stop_reason.startswith("interrupted"):
            return  # the trainer stopped the run at its update already
        self.interrupted = True
        self.ctx.request_stop(f"interrupted by {signame}")
        self._cancel_tasks()

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def run_async(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._supervise(node), name=node.label) for node in self.graph.nodes
        ]
        self.ctx.cancel_nodes = self._cancel_tasks
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig.name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or a platform without signal support
        dumper = asyncio.create_task(self._dump_queues()) if self.debug_queues else None
        try:
            pending = set(self._tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if self.ctx.stopping:
                    for task in pending:
                        task.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    break
        except asyncio.CancelledError:
            pass
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if dumper is not None:
                dumper.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)
            if self.debug_queues:
                for label, depths in self.graph.queue_depths().items():
                    if depths:
                        log.info("final queues %s %s", label, depths)

    def run(self) -> str:
        """Set up, run to the end; returns "done", "interrupted" or raises the first NodeError."""
        self.setup()
        return self.run_loop()

    def run_loop(self, before_close: Callable[[str], None] | None = None) -> str:
        """Run an already set-up graph (see :meth:`setup`); closes every node at the end.

        ``before_close(reason)`` runs after the last node stopped and before any closes, while
        every node still holds its state (the run's final checkpoint is written there).
        """
        try:
            asyncio.run(self.run_async())
        except KeyboardInterrupt:
            self.interrupted = True
        # A trainer that stopped the run at its update on a signal's request says so.
        self.interrupted = self.interrupted or self.ctx.interrupt_checkpoint is not None
        reason = "error" if self.error else "interrupted" if self.interrupted else "done"
        try:
            if before_close is not None:
                before_close(reason)
        finally:
            self._close_all(reason)
        if self.error is not None:
            raise self.error
        return reason

    def _close_all(self, reason: str) -> None:
        for node in self.graph.nodes:
            try:
                node.close(reason)
            except Exception as exc:  # noqa: BLE001
                log.error("%s failed while closing: %s", node.label, exc)
