"""DNNE's data nodes: data sets, batching, constant tensors and CSV streams.

``runner.py train`` uses the training split; ``runner.py evaluate`` runs the same graph once
over the test split (``train=false``), with no optimizer steps.
"""

from __future__ import annotations

import asyncio
import csv
import time
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..runtime import END, In, QueueNode
from .datasets import ImageDataset, load_cifar10, load_mnist, schema


def node_seed(ctx_seed: int, node_id: str, seed: int) -> int:
    """A seed for a node: its own when set (>= 0), else one derived from the run's seed."""
    if seed >= 0:
        return seed
    return (ctx_seed * 1_000_003 + zlib.crc32(node_id.encode())) % 2**63


# ----------------------------------------------------------------------------- data sets
class DatasetNode(QueueNode):
    """Loads a data set once and emits it with its schema (DNNE's ``*Dataset`` nodes)."""

    OUTPUTS = ("dataset", "schema")
    DATA_PATH: ClassVar[str]
    TRAIN: ClassVar[bool]
    DOWNLOAD: ClassVar[bool]

    def load(self, train: bool) -> ImageDataset:
        raise NotImplementedError

    def setup(self) -> None:
        # evaluate runs over the test split.
        train = self.TRAIN and self.ctx.command == "train"
        self.dataset = self.load(train)

    def compute(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "schema": schema(self.dataset)}


class MNISTDatasetNode(DatasetNode):
    """The MNIST digits: ``[1, 28, 28]`` images, normalised as DNNE does."""

    def load(self, train: bool) -> ImageDataset:
        return load_mnist(self.DATA_PATH, train, self.DOWNLOAD)


class CIFAR10DatasetNode(DatasetNode):
    """CIFAR-10: ``[3, 32, 32]`` images, normalised per channel as DNNE does."""

    def load(self, train: bool) -> ImageDataset:
        return load_cifar10(self.DATA_PATH, train, self.DOWNLOAD)


class BatchSamplerNode(QueueNode):
    """Wraps a data set in a torch DataLoader: batches of ``BATCH_SIZE``, reshuffled every
    epoch by a generator seeded from ``SEED`` (-1, or ``SEED_CONTROL`` randomize: from the
    run's seed, so runs are reproducible)."""

    INPUTS = (In("dataset"), In("schema"))
    OUTPUTS = ("dataloader", "schema")
    BATCH_SIZE: ClassVar[int]
    SHUFFLE: ClassVar[bool]
    SEED: ClassVar[int]
    SEED_CONTROL: ClassVar[str]

    def compute(self, dataset: Any, schema: dict[str, Any]) -> dict[str, Any]:
        seed = -1 if self.SEED_CONTROL == "randomize" else self.SEED
        generator = torch.Generator().manual_seed(node_seed(self.ctx.seed, self.node_id, seed))
        loader = DataLoader(dataset, batch_size=self.BATCH_SIZE, shuffle=self.SHUFFLE,
                            num_workers=0, generator=generator)
        return {"dataloader": loader, "schema": schema}


class GetBatchNode(QueueNode):
    """One batch per trigger. The first batch of a new epoch comes with ``epoch_complete``
    true and the finished epoch's stats, as in DNNE. Under ``runner.py evaluate`` it stops
    after one pass."""

    INPUTS = (
        In("dataloader", mode="sticky"),
        In("schema", mode="sticky"),
        In("trigger"),
    )
    OUTPUTS = ("images", "labels", "epoch_complete", "epoch_stats")

    def setup(self) -> None:
        self.iterator: Any = None
        self.epoch = 0
        self.batch_in_epoch = 0

    def compute(self, dataloader: DataLoader, schema: dict[str, Any], trigger: Any) -> Any:
        if self.iterator is None:
            self.iterator = iter(dataloader)
        complete = False
        try:
            images, labels = next(self.iterator)
            self.batch_in_epoch += 1
            stats = {"epoch": self.epoch, "batch": self.batch_in_epoch,
                     "total_batches": len(dataloader),
                     "progress": self.batch_in_epoch / len(dataloader), "completed": False}
        except StopIteration:
            if self.ctx.command != "train":
                return END  # evaluate: one pass over the data
            stats = {"epoch": self.epoch, "total_batches": self.batch_in_epoch,
                     "completed": True}
            self.epoch += 1
            self.batch_in_epoch = 1
            self.iterator = iter(dataloader)
            images, labels = next(self.iterator)
            complete = True
        return {"images": images, "labels": labels, "epoch_complete": complete,
                "epoch_stats": stats}


# ----------------------------------------------------------------------------- constants
def parse_dims(text: str) -> tuple[int, ...]:
    """``"10"``, ``"2,3"`` or ``"[2, 3, 4]"`` -> a shape (used as written: no batch axis)."""
    parts = [p.strip() for p in str(text).strip().strip("[]()").split(",") if p.strip()]
    return tuple(int(p) for p in parts)


class TensorNode(QueueNode):
    """A constant source: emits a tensor each time its consumers take one (backpressure
    paces it), ``runner.py train --steps`` times at most. ``FILL_MODE`` zeros, ones, custom
    (``CUSTOM_FILL``), or random; a random mode with ``SEED`` >= 0 draws with that seed every
    time, so it emits the same tensor, as DNNE's does."""

    OUTPUTS = ("tensor",)
    REPEAT = True
    TENSOR_DIMS: ClassVar[str]
    FILL_MODE: ClassVar[str]
    CUSTOM_FILL: ClassVar[float]
    DTYPE: ClassVar[str]
    SEED: ClassVar[int]

    def setup(self) -> None:
        self.shape = parse_dims(self.TENSOR_DIMS)
        self.dtype = getattr(torch, self.DTYPE)
        self.emitted = 0
        self.constant = self.FILL_MODE in ("zeros", "ones", "custom")
        if self.constant:
            fill = {"zeros": 0.0, "ones": 1.0}.get(self.FILL_MODE, self.CUSTOM_FILL)
            self.value = torch.full(self.shape, fill).to(self.dtype)

    def make(self) -> torch.Tensor:
        if self.constant:
            return self.value.clone()
        generator = None
        if self.SEED >= 0:
            generator = torch.Generator().manual_seed(self.SEED)
        # Drawn in DTYPE, as DNNE's are (float64 draws are not float32 draws widened); an
        # integer or bool DTYPE, which DNNE's random modes cannot fill, is drawn as float32.
        draw = self.dtype if self.dtype.is_floating_point else torch.float32
        x = torch.empty(self.shape, dtype=draw)
        mode, n = self.FILL_MODE, max(1, x.numel())
        if mode == "uniform":
            x.uniform_(-1.0, 1.0, generator=generator)
        elif mode == "normal":
            x.normal_(0.0, 1.0, generator=generator)
        elif len(self.shape) < 2:  # DNNE's 1-d stand-ins for the layer initialisers
            bound = {"kaiming_normal": 2 / np.sqrt(n), "kaiming_uniform": np.sqrt(6 / n),
                     "xavier_normal": np.sqrt(2 / n), "xavier_uniform": np.sqrt(3 / n)}[mode]
            if mode.endswith("uniform"):
                x.uniform_(-bound, bound, generator=generator)
            else:
                x.normal_(0.0, bound, generator=generator)
        else:
            _init_2d(x, mode, generator)
        return x.to(self.dtype)

    def compute(self) -> dict[str, Any] | None:
        if self.ctx.max_steps is not None and self.emitted >= self.ctx.max_steps:
            return None
        self.emitted += 1
        return {"tensor": self.make()}


def _init_2d(x: torch.Tensor, mode: str, generator: torch.Generator | None) -> None:
    init = torch.nn.init
    if mode == "kaiming_normal":
        init.kaiming_normal_(x, mode="fan_out", nonlinearity="relu", generator=generator)
    elif mode == "kaiming_uniform":
        init.kaiming_uniform_(x, mode="fan_out", nonlinearity="relu", generator=generator)
    elif mode == "xavier_normal":
        init.xavier_normal_(x, generator=generator)
    else:
        init.xavier_uniform_(x, generator=generator)


# ----------------------------------------------------------------------------- CSV streams
class DataStreamerNode(QueueNode):
    """Streams the rows of a CSV file as ``[1, columns]`` float32 tensors.

    ``SYNC_MODE`` none: as fast as the consumers take them; timed: at ``FREQUENCY_HZ``;
    external: one row per ``sync`` message. A ``reset`` goes back to the first row. At the
    end: ``LOOP_DATA`` starts over, else ``EOF_MODE`` stop, pulse_done (sends ``done`` right
    after the last row) or hold_last (repeats the last row). ``FILE`` is the CSV's place
    inside the export.
    """

    INPUTS = (In("sync", mode="any", optional=True), In("reset", mode="any", optional=True))
    OUTPUTS = ("data", "done", "metadata")
    FILE: ClassVar[str]
    SYNC_MODE: ClassVar[str]
    FREQUENCY_HZ: ClassVar[float]
    AUTO_FIRST_ROW: ClassVar[bool]
    LOOP_DATA: ClassVar[bool]
    EOF_MODE: ClassVar[str]
    DELIMITER: ClassVar[str]
    SKIP_HEADER: ClassVar[bool]

    def setup(self) -> None:
        path = Path(__file__).resolve().parents[2] / self.FILE
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter=self.DELIMITER))
        self.columns = rows[0] if self.SKIP_HEADER and rows else None
        body = rows[1:] if self.SKIP_HEADER else rows
        body = [row for row in body if row]
        if not body:  # DNNE refuses an empty file too (a stream of nothing never ends)
            raise ValueError(f"{self.FILE}: the CSV has no data rows")
        if len({len(row) for row in body}) > 1:
            raise ValueError(f"{self.FILE}: rows have different numbers of columns")
        try:
            self.data = np.asarray([[float(v) for v in row] for row in body], dtype=np.float32)
        except ValueError as exc:
            raise ValueError(f"{self.FILE}: a value is not a number ({exc})") from None
        self.row = 0
        self.finished = False

    def startup_outputs(self) -> dict[str, Any]:
        metadata = {"file_path": self.FILE, "total_rows": len(self.data),
                    "num_columns": int(self.data.shape[1]) if self.data.size else 0,
                    "sync_mode": self.SYNC_MODE,
                    "frequency_hz": self.FREQUENCY_HZ if self.SYNC_MODE == "timed" else None,
                    "column_names": self.columns}
        out: dict[str, Any] = {"metadata": metadata}
        if self.SYNC_MODE == "external" and self.AUTO_FIRST_ROW:
            out.update(self.next_row())
        return out

    def next_row(self) -> dict[str, Any]:
        """The next row's outputs (empty once the stream is over). As in DNNE, the end of
        the file is handled as the last row goes out: pulse_done sends ``done`` right after
        it, not on the next sync."""
        if self.finished or not len(self.data):
            return {}
        index = min(self.row, len(self.data) - 1)  # hold_last stays on the last row
        out: dict[str, Any] = {"data": torch.from_numpy(self.data[index : index + 1].copy())}
        self.row = index + 1
        if self.row >= len(self.data):
            if self.LOOP_DATA:
                self.row = 0
            elif self.EOF_MODE == "pulse_done":
                out["done"] = True
                self.finished = True
            elif self.EOF_MODE != "hold_last":  # stop
                self.finished = True
        return out

    def compute(self, **inputs: Any) -> dict[str, Any]:
        if "reset" in inputs:
            self.row, self.finished = 0, False
            return self.next_row() if self.AUTO_FIRST_ROW else {}
        return self.next_row()

    async def run(self) -> None:
        if self.SYNC_MODE == "external":
            await super().run()
            return
        first = self.startup_outputs()
        await self.emit(first)
        period = 1.0 / self.FREQUENCY_HZ if self.SYNC_MODE == "timed" else 0.0
        deadline = time.perf_counter()
        while not self.ctx.stopping:
            if self.any_queue is not None:
                while not self.any_queue.empty():  # a reset (or sync) arrived meanwhile
                    port, value = self.any_queue.get_nowait()
                    if port == "reset" and value is not END:
                        self.row, self.finished = 0, False
            out = self.next_row()
            if not out:
                if self.finished:
                    break
                await asyncio.sleep(0.001)
                continue
            await self.emit(out)
            deadline += period
            await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        self._close_inputs()
        await self._end_outputs()
