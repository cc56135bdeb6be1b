"""The exported policy as ``deploy.py`` runs it, checked against its ``policy.json`` sidecar.

TorchScript and pt2 policies run on torch, ONNX policies on onnxruntime alone (a robot computer
running an ONNX policy needs no torch). Imports only the standard library and numpy at module
level. TorchScript files are code: load only policies you trust.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeployError


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _bounds(values: Any, dim: int, default: float) -> np.ndarray:
    if values is None:
        return np.full(dim, default, dtype=np.float32)
    # policy.json writes infinite bounds as the strings "inf" / "-inf".
    return np.asarray([float(v) for v in values], dtype=np.float32).reshape(dim)


class Policy:
    """The exported policy, checked against its ``policy.json`` sidecar.

    Calling it maps one raw observation ``(obs_dim,)`` to the action to send: the action
    values, or for a discrete action space one value holding the action index.
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.path = path
        if not path.is_file():
            raise DeployError(f"policy file {path} does not exist")
        sidecar = path.with_suffix(".json")
        if not sidecar.is_file():
            raise DeployError(f"{sidecar} not found: `runner.py export-policy` writes it next "
                              f"to {path.name}; it holds the checksum, control rate and spaces")
        try:
            self.info: dict[str, Any] = json.loads(sidecar.read_text())
        except (OSError, ValueError) as exc:
            raise DeployError(f"{sidecar} is not readable JSON: {exc}") from exc
        expected, actual = self.info.get("sha256"), sha256(path)
        if expected != actual:
            raise DeployError(
                f"refusing {path}: its sha256 is {actual[:16]}..., but {sidecar.name} says "
                f"{str(expected)[:16]}...; the file changed after export or belongs to another "
                "export. Run `runner.py export-policy` again.")
        self.metadata: dict[str, Any] = self.info.get("metadata") or {}
        try:
            self.obs_dim = int(self.info["observation"]["dim"])
            action = self.info["action"]
            self.discrete = action["kind"] == "discrete"
            self.act_dim = 1 if self.discrete else len(action["low"] or action["high"])
            self.low = _bounds(action.get("low"), self.act_dim, -math.inf)
            self.high = _bounds(action.get("high"), self.act_dim, math.inf)
        except (KeyError, TypeError, ValueError) as exc:
            raise DeployError(f"{sidecar} does not describe the observation and action "
                              f"spaces ({type(exc).__name__}: {exc})") from exc
        fmt = self.info.get("format", "torchscript")
        self._forward = self._load_onnx(path, threads) if fmt == "onnx" else self._load(
            path, fmt, threads)
        # TorchScript optimises a graph on its first calls: do them now, not on the robot.
        for _ in range(5):
            self(np.zeros(self.obs_dim, dtype=np.float32))

    def _load(self, path: Path, fmt: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
        import torch  # here, not at the top, so that --help and argument errors are instant

        torch.set_num_threads(max(1, threads))
        # torch.jit.load warns that TorchScript is deprecated upstream; the warning is for
        # whoever maintains the export, not for the operator of the robot.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            try:
                if fmt == "pt2":
                    module = torch.export.load(str(path)).module()
                elif fmt == "torchscript":
                    module = torch.jit.load(str(path), map_location="cpu").eval()
                else:
                    raise DeployError(
                        f"deploy.py runs torchscript, pt2 and onnx policies, not {fmt!r}")
            except DeployError:
                raise
            except Exception as exc:  # noqa: BLE001 - any load failure is one message
                raise DeployError(f"cannot load {path} as {fmt}: {exc}") from exc

        def forward(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(x)).numpy()

        return forward

    def _load_onnx(self, path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
        """ONNX Runtime only: a robot computer running an ONNX policy needs no torch."""
        try:
            import onnxruntime
        except ImportError as exc:
            raise DeployError(f"{path} is an ONNX policy, which needs onnxruntime: "
                              "pip install onnxruntime (torch is not needed for it)") from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any load failure is one message
            raise DeployError(f"cannot load {path} as onnx: {exc}") from exc
        name = session.get_inputs()[0].name

        def forward(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0]

        return forward

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(obs, dtype=np.float32).reshape(1, -1)
        return np.asarray(self._forward(x)).astype(np.float32).reshape(self.act_dim)

    def zero_action(self) -> np.ndarray:
        """All zeros clipped into the bounds; action index 0 for a discrete space."""
        return np.clip(np.zeros(self.act_dim, dtype=np.float32), self.low, self.high)

