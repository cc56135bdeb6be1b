"""The queue node: one coroutine per workflow node, talking through bounded asyncio queues.

A node declares its input ports and output names. Each iteration it waits for its inputs,
calls :meth:`QueueNode.compute`, and puts every returned output on the queue of every consumer
(fan-out). Queues are bounded, so a slow consumer holds its producers back (backpressure).

Input modes:
    ``each``   one message per iteration; the node waits for all of them (a join).
    ``sticky`` waits for the first message, then keeps the latest one (handles, models, configs).
    ``any``    the node fires on whichever ``any`` input has a message first (the OR merge).
    ``latest`` never waits: the newest message if one came, else None (optional triggers).
    ``gate``   one message per iteration, except the first: lets a source start a loop that
               its consumer closes (a data source waiting for the trainer's step).

Several producers may feed one input (DNNE allows it): they share the input's queue, their
messages interleave in arrival order, and the input ends once every producer has ended.

When a producer finishes it sends :data:`END` downstream. A node stops once an ``each`` input
has ended, or once every ``any`` input has ended, and then ends its own outputs. A node that
stops closes its input queues: producers skip them from then on, and a producer whose every
consumer has closed stops too. That is how a finite run drains the whole graph cleanly, even
when one input of a join ends long before the other.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .context import RunContext


class _End:
    """Sentinel that marks the end of a stream."""

    _instance: _End | None = None

    def __new__(cls) -> _End:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "END"


END = _End()


class Channel(asyncio.Queue):
    """A bounded queue that its consumer can close once it stops reading.

    ``put_nowait`` and ``get_nowait`` are asyncio.Queue's, less the ``task_done``/``join``
    accounting that no node uses: every message of a run passes through them, so the
    bookkeeping is a measurable share of a hop (``python -m bench --only runtime``).
    ``put`` and ``get`` (waiting while full or empty) are the base class's and end in these.
    """

    closed = False

    def put_nowait(self, item: Any) -> None:
        if 0 < self._maxsize <= len(self._queue):
            raise asyncio.QueueFull
        self._queue.append(item)
        getters = self._getters
        while getters:  # wake the first consumer still waiting
            waiter = getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def get_nowait(self) -> Any:
        if not self._queue:
            raise asyncio.QueueEmpty
        item = self._queue.popleft()
        putters = self._putters
        while putters:  # free the first producer still waiting for room
            waiter = putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        return item

    def close(self) -> None:
        """Refuse further messages and free the room a blocked producer is waiting for."""
        self.closed = True
        while not self.empty():
            self.get_nowait()


def _closed(queue: asyncio.Queue) -> bool:
    return getattr(queue, "closed", False)


@dataclass(frozen=True)
class In:
    """An input port declaration."""

    name: str
    mode: str = "each"
    optional: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("each", "sticky", "any", "latest", "gate"):
            raise ValueError(f"input {self.name!r}: unknown mode {self.mode!r}")


@dataclass
class NodeStats:
    """Per-node counters for the profiling table and the trace."""

    compute_s: float = 0.0
    wait_s: float = 0.0
    blocked_s: float = 0.0
    messages_in: int = 0
    messages_out: int = 0
    iterations: int = 0


class QueueNode:
    """Base class of every generated node.

    Subclasses set ``INPUTS`` and ``OUTPUTS`` and implement :meth:`compute` (plain or async).
    A node with no inputs is a source: its ``compute`` runs once, or until it returns ``None``
    when ``REPEAT`` is true. State kept on ``self`` lives across iterations; a node that must
    survive a restart implements :meth:`state_dict` and :meth:`load_state_dict`.
    """

    INPUTS: ClassVar[tuple[In, ...]] = ()
    OUTPUTS: ClassVar[tuple[str, ...]] = ()
    REPEAT: ClassVar[bool] = False

    def __init__(self, node_id: str, title: str, ctx: RunContext) -> None:
        self.node_id = node_id
        self.title = title
        self.ctx = ctx
        self.log = logging.getLogger(f"node.{node_id}.{type(self).__name__}")
        self.stats = NodeStats()
        self.queues: dict[str, asyncio.Queue] = {}
        # Every ``any`` input shares this one queue; messages on it are (port, value) pairs.
        self.any_queue: asyncio.Queue | None = None
        self._any_live: dict[str, int] = {}  # ``any`` port -> producers not yet ended
        self.producers: dict[str, int] = {}  # input -> how many producers feed it
        self.consumers: dict[str, list[tuple[asyncio.Queue, str | None]]] = {
            name: [] for name in self.OUTPUTS
        }
        self._sticky: dict[str, Any] = {}
        self._ended: set[str] = set()
        self._compute_is_async = inspect.iscoroutinefunction(self.compute)
        self._plain_inputs: list[tuple[str, asyncio.Queue]] | None = None  # set on first use
        self._saw_closed = False  # a consumer stopped reading: check whether all have

    # -- hooks for subclasses -------------------------------------------------------------
    def setup(self) -> None:
        """Allocate state before any message flows. Runs in graph order."""

    def startup_outputs(self) -> dict[str, Any] | None:
        """Outputs to send once, before the node waits for its first inputs (a bootstrap
        signal that starts a loop, such as an optimizer's first ``step_complete``)."""
        return None

    def compute(self, **inputs: Any) -> dict[str, Any] | None:
        """One iteration: inputs by port name -> outputs by name (omit an output to skip it).

        Return :data:`END` to finish this node: its outputs end and the graph drains.
        """
        raise NotImplementedError

    def finish(self) -> None:
        """Called once when the node's inputs have ended (a clean, complete run)."""

    def close(self, reason: str) -> None:
        """Called once when the run stops for any reason ("done", "interrupted", "error")."""

    def state_dict(self) -> dict[str, Any] | None:
        """State to put in a checkpoint, or None for a stateless node."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def parts(self) -> tuple[QueueNode, ...]:
        """The workflow nodes this queue node runs: itself, or the members of a fused loop
        (``export --optimize``), which keep their own ids, settings and checkpoint state."""
        return (self,)

    # -- the loop ------------------------------------------------------------------------
    @property
    def label(self) -> str:
        node_id = self.node_id if self.node_id.isprintable() else repr(self.node_id)[1:-1]
        return f"#{node_id} {self.title!r} ({type(self).__name__})"  # one line, escapes shown

    async def emit(self, outputs: dict[str, Any]) -> None:
        """Put each output on every consumer queue, waiting while a queue is full."""
        tracer = self.ctx.tracer
        for name, value in outputs.items():
            for queue, tag in self.consumers[name]:
                if _closed(queue):
                    self._saw_closed = True
                    continue
                if tag is not None:
                    value_or_tagged: Any = (tag, value)
                else:
                    value_or_tagged = value
                if queue.full():
                    t0 = time.perf_counter()
                    await queue.put(value_or_tagged)
                    dt = time.perf_counter() - t0
                    self.stats.blocked_s += dt
                    if tracer is not None:
                        tracer.span(self, "blocked", t0, dt)
                else:
                    queue.put_nowait(value_or_tagged)
                self.stats.messages_out += 1

    async def _end_outputs(self) -> None:
        for queues in self.consumers.values():
            for queue, tag in queues:
                if not _closed(queue):
                    await queue.put(END if tag is None else (tag, END))

    def _close_inputs(self) -> None:
        for queue in (*self.queues.values(), self.any_queue):
            if isinstance(queue, Channel):
                queue.close()

    def _unheard(self) -> bool:
        """Whether every consumer of every output has stopped reading."""
        queues = [queue for pairs in self.consumers.values() for queue, _ in pairs]
        return bool(queues) and all(_closed(q) for q in queues)

    async def _get(self, queue: asyncio.Queue) -> Any:
        if queue.empty():
            t0 = time.perf_counter()
            value = await queue.get()
            dt = time.perf_counter() - t0
            self.stats.wait_s += dt
            if self.ctx.tracer is not None:
                self.ctx.tracer.span(self, "wait", t0, dt)
        else:
            value = queue.get_nowait()
        self.stats.messages_in += 1
        return value

    async def _gather_inputs(self) -> dict[str, Any] | None:
        """Collect one iteration's inputs; None once the stream has ended."""
        if self._plain_inputs is None:
            # Most nodes take only one-message-per-iteration inputs: a short path for them.
            wired = [p for p in self.INPUTS if p.name in self.queues]
            plain = self.any_queue is None and all(p.mode == "each" for p in wired)
            self._plain_inputs = [(p.name, self.queues[p.name]) for p in wired] if plain else []
        if self._plain_inputs:
            inputs: dict[str, Any] = {}
            for name, queue in self._plain_inputs:
                if queue.empty():
                    value = await self._get(queue)
                else:
                    value = queue.get_nowait()
                    self.stats.messages_in += 1
                if value is END:
                    value = await self._after_end(name, queue)
                    if value is END:
                        return None
                inputs[name] = value
            return inputs
        inputs = {}
        if self.any_queue is not None:
            got = await self._first_of_any()
            if got is None:
                return None
            inputs[got[0]] = got[1]
        for port in self.INPUTS:
            if port.mode == "any" or port.name not in self.queues:
                continue
            if port.mode == "each" or (port.mode == "gate" and self.stats.iterations):
                queue = self.queues[port.name]
                value = await self._get(queue)
                if value is END:
                    value = await self._after_end(port.name, queue)
                    if value is END:
                        return None
                inputs[port.name] = value
            elif port.mode == "gate":
                inputs[port.name] = None
            elif port.mode == "latest":
                queue = self.queues[port.name]
                value = self._sticky.pop(port.name, None)
                while not queue.empty():
                    item = queue.get_nowait()
                    if item is not END:  # an ended stream keeps its last message
                        value = item
                inputs[port.name] = value
            else:  # sticky: the first value blocks, later ones replace it without waiting
                queue = self.queues[port.name]
                if port.name not in self._sticky:
                    value = await self._get(queue)
                    if value is END:
                        return None
                    self._sticky[port.name] = value
                while not queue.empty():
                    value = queue.get_nowait()
                    if value is not END:
                        self._sticky[port.name] = value
                inputs[port.name] = self._sticky[port.name]
        return inputs

    async def _after_end(self, name: str, queue: asyncio.Queue) -> Any:
        """One producer of ``name`` ended: the next message of the others, or END when this
        was the last producer still sending."""
        self.producers[name] = self.producers.get(name, 1) - 1
        while self.producers[name] > 0:
            value = await self._get(queue)
            if value is not END:
                return value
            self.producers[name] -= 1
        return END

    async def _first_of_any(self) -> tuple[str, Any] | None:
        """The next message on any ``any`` input; None once all of them have ended."""
        assert self.any_queue is not None
        while self._any_live:
            port, value = await self._get(self.any_queue)
            if value is END:
                self._any_live[port] -= 1
                if self._any_live[port] <= 0:
                    del self._any_live[port]
                continue
            return port, value
        return None

    async def _call(self, inputs: dict[str, Any]) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        if self._compute_is_async:
            out = await self.compute(**inputs)
        else:
            out = self.compute(**inputs)
        dt = time.perf_counter() - t0
        self.stats.compute_s += dt
        self.stats.iterations += 1
        if self.ctx.tracer is not None:
            self.ctx.tracer.span(self, "compute", t0, dt)
        return out

    async def run(self) -> None:
        """The node's coroutine: iterate until the inputs end or the run stops."""
        first = self.startup_outputs()
        if first:
            await self.emit(first)
        if not self.queues and self.any_queue is None:
            while not self.ctx.stopping:
                out = await self._call({})
                if out is None or out is END:
                    break
                await self.emit(out)
                if not self.REPEAT or (self._saw_closed and self._unheard()):
                    break
        else:
            while not self.ctx.stopping:
                inputs = await self._gather_inputs()
                if inputs is None:
                    break
                out = await self._call(inputs)
                if out is END:
                    break
                if out:
                    await self.emit(out)
                    if self._saw_closed and self._unheard():
                        break
        self._close_inputs()
        if not self.ctx.stopping:
            self.finish()
        await self._end_outputs()
