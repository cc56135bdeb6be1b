"""DNNE's own saved workflows (``../shared/dnne``, or ``$DNNE_SHARED``), and tiny data sets in
the real MNIST and CIFAR-10 file formats for the graphs that read them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dnne_robot.nodes.datasets import write_cifar10, write_mnist

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DNNE_SHARED", REPO.parent / "shared" / "dnne"))
WORKFLOWS = SHARED / "workflows"
CUSTOM_CODE = SHARED / "custom_compute_funcs"

#: Graphs built on DNNE's Franka Panda task (FrankaDNNE), which runs on Isaac Gym only.
FRANKA = ("Franka_Coop_Nodes.json", "Franka_Coop_V2.json", "Franka_Minimal_Test.json",
          "Shadow_Train.json", "Split_Node_Test.json")
#: Every other workflow DNNE saves: each exports and trains here.
EXPORTABLE = ("Barrier_Test.json", "CIFAR10_Test.json", "Cartpole_PPO.json",
              "Custom_Comp_Test.json", "MNIST_Test.json", "Minimal.json", "Yield_Test.json",
              "Yield_Test_Async.json", "test_training_sequencer.json")

needs_shared = pytest.mark.skipif(not WORKFLOWS.is_dir(),
                                  reason=f"DNNE's workflows are not at {WORKFLOWS}")


def write_tiny_datasets(root: Path, seed: int = 0) -> None:
    """64 MNIST and 50 CIFAR-10 training images of noise (and a few test ones), where the
    graphs' ``data_path`` "./data" finds them."""
    rng = np.random.default_rng(seed)

    def noise(n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return (rng.integers(0, 256, (n, *shape), dtype=np.uint8),
                rng.integers(0, 10, n).astype(np.uint8))

    write_mnist(root, noise(64, (28, 28)), noise(32, (28, 28)))
    write_cifar10(root, noise(50, (3, 32, 32)), noise(20, (3, 32, 32)))
