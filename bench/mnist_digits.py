"""Handwritten digits in MNIST's file format, and DNNE's MNIST_Test graph trained on them.

The 1,797 8x8 digits that ship with scikit-learn, scaled to 28x28 and written as MNIST's four
IDX files in torchvision's layout (``<root>/MNIST/raw``), split into a training and a test
set (every sixth digit). A DNNE MNIST graph reads them unchanged: ``data_path`` names ``<root>``.

    python bench/mnist_digits.py write data      # writes data/MNIST/raw/*-ubyte
    python bench/mnist_digits.py run             # DNNE's MNIST_Test.json, unchanged: export,
                                                 # train, evaluate on the test digits

``run`` exports ``../shared/dnne/workflows/MNIST_Test.json`` (or ``--workflow``) with
``dnne-robot export``, writes the digits into the package's ``./data`` (the graph's
``data_path``), trains with ``runner.py train`` (the graph's own Epoch Tracker decides how
many epochs), evaluates with ``runner.py evaluate --json`` on the test digits, and writes
``bench/results/dnne_mnist.json``. Needs scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
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


ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT.parent / "shared" / "dnne" / "workflows" / "MNIST_Test.json"
RESULTS = ROOT / "bench" / "results" / "dnne_mnist.json"


def run(workflow: Path, work: Path) -> dict:
    """Export ``workflow`` into ``work``, train it on the digits, evaluate it; the results."""
    package = work / "package"
    subprocess.run([sys.executable, "-m", "dnne_robot", "export", str(workflow), "-o",
                    str(package), "--force"], check=True, capture_output=True, text=True)
    counts = write_digits_as_mnist(package / "data")
    t0 = time.perf_counter()
    train = subprocess.run([sys.executable, "runner.py", "train", "--no-progress"], cwd=package,
                           check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    summary = json.loads(next(line for line in train.stdout.splitlines()
                              if line.startswith("summary: ")).removeprefix("summary: "))
    evaluation = subprocess.run([sys.executable, "runner.py", "evaluate", "--json"], cwd=package,
                                check=True, capture_output=True, text=True)
    return {"workflow": workflow.name, "digits": counts, "epochs": summary.get("epoch"),
            "train_accuracy_last_epoch": summary.get("accuracy"),
            "train_seconds": round(seconds, 1),
            "completed_by": summary.get("completed_by"),
            "test": json.loads(evaluation.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the digits as MNIST files")
    write.add_argument("root", type=Path, help="the data_path a DNNE MNIST graph reads")
    bench = commands.add_parser("run", help="train DNNE's MNIST_Test graph on the digits")
    bench.add_argument("--workflow", type=Path, default=WORKFLOW)
    args = parser.parse_args()
    if args.command == "write":
        counts = write_digits_as_mnist(args.root)
        print(f"wrote {counts['train']} training and {counts['test']} test digits")
        return
    with tempfile.TemporaryDirectory(prefix="dnne_mnist_") as work:
        result = run(args.workflow, Path(work))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    test = result["test"]
    print(f"{result['workflow']}: {result['epochs']} epochs on {result['digits']['train']} "
          f"digits in {result['train_seconds']} s; test accuracy "
          f"{test.get('test_accuracy')} on {result['digits']['test']} digits (wrote {RESULTS})")


if __name__ == "__main__":
    main()
