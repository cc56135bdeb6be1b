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

#: Graphs built on DNNE's Franka Panda task (FrankaDNNE): on MuJoCo and PyBullet here.
FRANKA = ("Franka_Coop_Nodes.json", "Franka_Coop_V2.json", "Franka_Minimal_Test.json",
          "Shadow_Train.json", "Split_Node_Test.json")
#: Where Shadow_Train.json's Data Streamer looks for its CSV (not among the shared files).
SINUSOIDAL_CSV = "dnne_test_suite/data_streamer/test_data/franka_sinusoidal_exploration_001.csv"
#: Every other workflow DNNE saves: each exports and trains here.
EXPORTABLE = ("Barrier_Test.json", "CIFAR10_Test.json", "Cartpole_PPO.json",
              "Custom_Comp_Test.json", "MNIST_Test.json", "Minimal.json", "Yield_Test.json",
              "Yield_Test_Async.json", "test_training_sequencer.json")

needs_shared = pytest.mark.skipif(not WORKFLOWS.is_dir(),
                                  reason=f"DNNE's workflows are not at {WORKFLOWS}")


def write_sinusoidal_exploration(path: Path, seconds: float = 60.0) -> Path:
    """A stand-in for DNNE's ``franka_sinusoidal_exploration_001.csv`` (750 kB, not shared):
    its layout, 7 columns ``torque_joint0`` ... ``torque_joint6`` of joint torques in N m at
    60 Hz, with sinusoids on DNNE's controlled joints 0, 1 and 3 within 1 N m (the others 0).
    """
    t = np.arange(round(seconds * 60)) / 60.0
    torques = np.zeros((t.size, 7))
    for joint, (amplitude, hz, phase) in {0: (0.8, 0.25, 0.0), 1: (0.6, 0.4, 1.0),
                                          3: (0.7, 0.33, 2.0)}.items():
        torques[:, joint] = amplitude * np.sin(2 * np.pi * hz * t + phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(f"torque_joint{j}" for j in range(7))
    np.savetxt(path, torques, fmt="%.6f", delimiter=",", header=header, comments="")
    return path


def write_tiny_datasets(root: Path, seed: int = 0) -> None:
    """64 MNIST and 50 CIFAR-10 training images of noise (and a few test ones), where the
    graphs' ``data_path`` "./data" finds them."""
    rng = np.random.default_rng(seed)

    def noise(n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return (rng.integers(0, 256, (n, *shape), dtype=np.uint8),
                rng.integers(0, 10, n).astype(np.uint8))

    write_mnist(root, noise(64, (28, 28)), noise(32, (28, 28)))
    write_cifar10(root, noise(50, (3, 32, 32)), noise(20, (3, 32, 32)))
