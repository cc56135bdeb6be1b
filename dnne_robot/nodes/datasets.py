"""MNIST and CIFAR-10 read from their standard files, in torchvision's folder layout.

    <data_path>/MNIST/raw/train-images-idx3-ubyte(.gz), ..., t10k-labels-idx1-ubyte(.gz)
    <data_path>/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch

The IDX files are parsed here and the CIFAR batches are unpickled with a restricted unpickler
(numpy arrays and plain data only: a pickle is code otherwise). Files that are missing are
downloaded through torchvision when ``download`` is on and torchvision imports; nothing else
in this package downloads anything. Images are kept as uint8 and normalised per batch as
DNNE's transforms do (``ToTensor`` then ``Normalize``). :func:`write_mnist` and
:func:`write_cifar10` write arrays of your own in the same layouts.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FILES = {True: tuple(f"data_batch_{i}" for i in range(1, 6)), False: ("test_batch",)}
MNIST_NORMALIZE = ((0.1307,), (0.3081,))
CIFAR_NORMALIZE = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))


class DatasetError(RuntimeError):
    """A data set's files are missing or malformed; says where it looked and what to do."""


class ImageDataset(torch.utils.data.Dataset):
    """Images (uint8, ``(n, channels, height, width)``) and int64 labels.

    ``__getitems__`` fetches a whole batch as one array operation, which torch's DataLoader
    uses when it is there.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray,
                 normalize: tuple[Sequence[float], Sequence[float]]) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        channels = self.images.shape[1]
        self.mean = torch.tensor(normalize[0], dtype=torch.float32).view(1, channels, 1, 1)
        self.std = torch.tensor(normalize[1], dtype=torch.float32).view(1, channels, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def _convert(self, images: torch.Tensor) -> torch.Tensor:
        return (images.to(torch.float32) / 255.0 - self.mean) / self.std

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._convert(self.images[index : index + 1])[0], self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        idx = torch.as_tensor(indices)
        images = self._convert(self.images[idx])
        return list(zip(images, self.labels[idx], strict=True))


# ----------------------------------------------------------------------------- MNIST (IDX)
def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``.gz`` or plain) as a numpy array of its declared type and shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    kinds = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    kind, ndim = data[2], data[3]
    if kind not in kinds or ndim == 0:
        raise DatasetError(f"{path}: unsupported IDX type 0x{kind:02x} or {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=kinds[kind], offset=4 + 4 * ndim).copy()
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: holds {body.size} values, its header says {shape}")
    return body.reshape(shape)


IDX_TYPES = {np.dtype(np.uint8): 0x08}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 ``array`` as an IDX file: magic, big-endian sizes, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, IDX_TYPES[array.dtype], array.ndim)
    path.write_bytes(header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def write_mnist(root: str | Path, train: tuple[np.ndarray, np.ndarray],
                test: tuple[np.ndarray, np.ndarray]) -> Path:
    """Write ``(images (n, 28, 28) uint8, labels (n,))`` pairs as MNIST's four IDX files
    under ``<root>/MNIST/raw``, where :func:`load_mnist` (and torchvision) read them."""
    folder = Path(root) / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for is_train, (images, labels) in ((True, train), (False, test)):
        image_file, label_file = MNIST_FILES[is_train]
        write_idx(folder / image_file, images)
        write_idx(folder / label_file, labels)
    return folder


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(kind: str, root: Path, train: bool) -> None:
    try:
        from torchvision import datasets
    except Exception as exc:  # noqa: BLE001 - torchvision may be absent or broken
        raise DatasetError(
            f"the {kind} files are not in {root} and download needs torchvision, which does "
            f"not import here ({type(exc).__name__}: {exc}); install it (pip install "
            f"torchvision) or put the files there (see framework/nodes/datasets.py)"
        ) from exc
    getattr(datasets, kind)(root=str(root), train=train, download=True)


def load_mnist(root: str | Path, train: bool, download: bool) -> ImageDataset:
    """MNIST from ``<root>/MNIST/raw``: 60,000 training or 10,000 test digits."""
    folder = Path(root) / "MNIST" / "raw"
    names = MNIST_FILES[train]
    found = [_find(folder, n) for n in names]
    if None in found and download:
        _download("MNIST", Path(root), train)
        found = [_find(folder, n) for n in names]
    if None in found:
        missing = ", ".join(n for n, f in zip(names, found, strict=True) if f is None)
        raise DatasetError(f"MNIST files not found in {folder}: {missing} (or .gz); "
                           "set download to true, or put the IDX files there")
    images, labels = (read_idx(p) for p in found)  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{folder}: {images.shape} images do not match {labels.shape} labels")
    return ImageDataset(images[:, None, :, :], labels, MNIST_NORMALIZE)


# ----------------------------------------------------------------------------- CIFAR-10
class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's batch dicts and nothing else: numpy arrays and builtins only."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a CIFAR batch holds arrays only")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images ``(n, 3, 32, 32)`` uint8 and labels."""
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DatasetError(f"{path} is not a CIFAR-10 batch: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{path} is not a CIFAR-10 batch (no data and labels)")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DatasetError(f"{path}: data {data.shape} and labels {labels.shape} do not fit")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(root: str | Path, train: bool, download: bool) -> ImageDataset:
    """CIFAR-10 from ``<root>/cifar-10-batches-py``: 50,000 training or 10,000 test images."""
    folder = Path(root) / "cifar-10-batches-py"
    names = CIFAR_FILES[train]
    if not all((folder / n).is_file() for n in names) and download:
        _download("CIFAR10", Path(root), train)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetError(f"CIFAR-10 files not found in {folder}: {', '.join(missing)}; "
                           "set download to true, or put the python batches there")
    parts = [read_cifar_batch(folder / n) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageDataset(images, labels, CIFAR_NORMALIZE)


def write_cifar10(root: str | Path, train: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray]) -> Path:
    """Write ``(images (n, 3, 32, 32) uint8, labels (n,))`` pairs as CIFAR-10's python
    batches under ``<root>/cifar-10-batches-py`` (the training images split over five)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = CIFAR_FILES[True]
    for is_train, (images, labels) in ((True, train), (False, test)):
        files = names if is_train else CIFAR_FILES[False]
        for name, rows in zip(files, np.array_split(np.arange(len(labels)), len(files)),
                              strict=True):
            batch = {b"batch_label": name.encode(),
                     b"labels": [int(v) for v in labels[rows]],
                     b"data": np.ascontiguousarray(images[rows], dtype=np.uint8).reshape(-1, 3072),
                     b"filenames": [f"{i}.png".encode() for i in rows]}
            with (folder / name).open("wb") as f:
                pickle.dump(batch, f, protocol=2)
    return folder


def schema(dataset: ImageDataset, classes: int = 10) -> dict[str, Any]:
    """DNNE's data set schema: image shape and size, label classes, sample count."""
    shape = tuple(dataset.images.shape[1:])
    image_shape = shape[1:] if shape[0] == 1 else shape
    return {
        "outputs": {
            "images": {"type": "tensor", "shape": image_shape,
                       "flattened_size": int(np.prod(shape)), "dtype": "float32"},
            "labels": {"type": "tensor", "shape": (), "num_classes": classes, "dtype": "int64"},
        },
        "num_samples": len(dataset),
    }
