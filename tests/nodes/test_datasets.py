"""MNIST's IDX files and CIFAR-10's python batches, written and read in their real layouts."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dnne_robot.nodes.datasets import (
    DatasetError,
    load_cifar10,
    load_mnist,
    read_idx,
    write_cifar10,
    write_mnist,
)


def images(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, *shape), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.uint8))


def test_mnist_round_trip(tmp_path: Path) -> None:
    train, test = images(12, (28, 28)), images(5, (28, 28), seed=1)
    folder = write_mnist(tmp_path, train, test)
    assert sorted(p.name for p in folder.iterdir()) == [
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    # The header is MNIST's: magic 0x00000803, then the sizes big-endian.
    assert (folder / "train-images-idx3-ubyte").read_bytes()[:16] == bytes.fromhex(
        "00000803" "0000000c" "0000001c" "0000001c")
    dataset = load_mnist(tmp_path, train=True, download=False)
    assert len(dataset) == 12
    image, label = dataset[3]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert int(label) == int(train[1][3])
    expected = (train[0][3] / 255.0 - 0.1307) / 0.3081  # ToTensor, then Normalize
    assert torch.allclose(image[0], torch.from_numpy(expected).float(), atol=1e-5)
    assert len(load_mnist(tmp_path, train=False, download=False)) == 5


def test_mnist_reads_gzipped_files(tmp_path: Path) -> None:
    folder = write_mnist(tmp_path, images(4, (28, 28)), images(2, (28, 28)))
    for path in list(folder.iterdir()):
        (folder / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    assert len(load_mnist(tmp_path, train=True, download=False)) == 4


def test_idx_with_a_bad_header_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x-ubyte"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(bad)
    short = tmp_path / "short-ubyte"
    short.write_bytes(bytes.fromhex("00000801" "0000000a") + b"\x00" * 3)
    with pytest.raises(DatasetError, match="holds 3 values"):
        read_idx(short)


def test_missing_files_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"MNIST files not found in .*MNIST/raw.*download"):
        load_mnist(tmp_path, train=True, download=False)
    with pytest.raises(DatasetError, match=r"cifar-10-batches-py: data_batch_1"):
        load_cifar10(tmp_path, train=True, download=False)


def test_cifar_round_trip(tmp_path: Path) -> None:
    train, test = images(10, (3, 32, 32)), images(3, (3, 32, 32), seed=2)
    folder = write_cifar10(tmp_path, train, test)
    assert sorted(p.name for p in folder.iterdir()) == [
        *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    dataset = load_cifar10(tmp_path, train=True, download=False)
    assert len(dataset) == 10
    image, label = dataset[7]
    assert image.shape == (3, 32, 32) and int(label) == int(train[1][7])
    mean = torch.tensor((0.4914, 0.4822, 0.4465))[:, None, None]
    std = torch.tensor((0.2023, 0.1994, 0.2010))[:, None, None]
    expected = (torch.from_numpy(train[0][7]).float() / 255.0 - mean) / std
    assert torch.allclose(image, expected, atol=1e-5)
    assert len(load_cifar10(tmp_path, train=False, download=False)) == 3


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch PWNED",))


def test_a_cifar_batch_that_runs_code_is_refused_unrun(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_cifar10(tmp_path, images(5, (3, 32, 32)), images(1, (3, 32, 32)))
    hostile = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    hostile.write_bytes(pickle.dumps({b"data": _Payload(), b"labels": [0]}, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_3 is not a CIFAR-10 batch: refusing "
                                           r"\w+\.system"):
        load_cifar10(tmp_path, train=True, download=False)
    assert not (tmp_path / "PWNED").exists()
