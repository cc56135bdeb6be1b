"""Handwritten digits in MNIST's file format, for training DNNE's MNIST graphs offline.

The 1,797 8x8 digits that ship with scikit-learn, scaled to 28x28 and written as MNIST's four
IDX files in torchvision's layout (``<root>/MNIST/raw``), split into a training and a test
set. A DNNE MNIST graph reads them unchanged: ``data_path`` names ``<root>``.

    python bench/mnist_digits.py data          # writes data/MNIST/raw/*-ubyte
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dnne_robot.nodes.datasets import write_mnist


def digits_28(count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(n, 28, 28)`` uint8 images (0-255) and their labels."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32))[:, None] / 16.0
    big = torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear",
                                          align_corners=False)
    pixels = (big[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    labels = digits.target.astype(np.uint8)
    return (pixels, labels) if count is None else (pixels[:count], labels[:count])


def write_digits_as_mnist(root: str | Path, test_every: int = 6) -> dict[str, int]:
    """Write the digits under ``root/MNIST/raw``; every ``test_every``-th one is a test digit.

    Returns the number of training and test digits.
    """
    images, labels = digits_28()
    test = np.arange(len(labels)) % test_every == 0
    write_mnist(root, (images[~test], labels[~test]), (images[test], labels[test]))
    return {"train": int((~test).sum()), "test": int(test.sum())}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the data_path a DNNE MNIST graph reads")
    counts = write_digits_as_mnist(parser.parse_args().root)
    print(f"wrote {counts['train']} training and {counts['test']} test digits")
