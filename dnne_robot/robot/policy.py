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
from .protocol import HEADER, MAX_DATAGRAM

#: The most values one UDP datagram carries (float32): the largest observation or action.
MAX_VALUES = (MAX_DATAGRAM - HEADER.size) // 4
FORMATS = ("torchscript", "pt2", "onnx")
JSON_TYPES = {dict: "an object", list: "a list", str: "a string", int: "a number",
              float: "a number", bool: "a boolean", type(None): "null"}


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


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


class Sidecar:
    """Checks the parts of ``policy.json`` that deploy.py uses; each problem is one
    :class:`DeployError` line naming the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> DeployError:
        return DeployError(f"{self.path}: {field} {problem}")

    def object(self, value: Any, field: str, optional: bool = False) -> dict[str, Any]:
        if optional and value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a JSON object, not {_json_type(value)}")
        return value

    def count(self, value: Any, field: str, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise self.fail(field, f"must be a whole number from 1 to {high}, not {value!r}")
        return value

    def check(self, info: dict[str, Any]) -> None:
        """Raises :class:`DeployError` for the first field that deploy.py cannot use."""
        fmt = info.get("format", "torchscript")
        if fmt not in FORMATS:
            raise self.fail("format", f"must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.count(self.object(info.get("observation"), "observation").get("dim"),
                   "observation.dim", MAX_VALUES)
        action = self.object(info.get("action"), "action")
        kind = action.get("kind")
        if kind == "discrete":
            self.count(action.get("n"), "action.n", 1 << 24)  # float32 holds the index exactly
        elif kind == "continuous":
            self.continuous(action)
        else:
            raise self.fail("action.kind", f"must be \"discrete\" or \"continuous\", "
                                           f"not {kind!r}")
        metadata = self.object(info.get("metadata"), "metadata", optional=True)
        for key in ("control_rate_hz", "dt"):
            value = metadata.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | float) or not (math.isfinite(value) and value > 0)):
                raise self.fail(f"metadata.{key}", f"must be a finite number > 0, not {value!r}")
        for key in ("task", "engine"):
            if not isinstance(metadata.get(key, ""), str | None):
                raise self.fail(f"metadata.{key}",
                                f"must be a string, not {_json_type(metadata[key])}")

    def continuous(self, action: dict[str, Any]) -> None:
        bounds = {}
        for key in ("low", "high"):
            values = action.get(key)
            if values is None:
                continue
            if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
                raise self.fail(f"action.{key}", f"must be a list of 1 to {MAX_VALUES} "
                                                 f"numbers, not {_json_type(values)}")
            try:
                bounds[key] = [float(v) for v in values
                               if not isinstance(v, bool) and isinstance(v, int | float | str)]
            except ValueError:
                bounds[key] = []
            if len(bounds[key]) != len(values) or any(math.isnan(v) for v in bounds[key]):
                raise self.fail(f"action.{key}", "must hold numbers (or \"inf\", \"-inf\")")
        if not bounds:
            raise self.fail("action", "of kind continuous needs low or high")
        if "low" in bounds and "high" in bounds:
            if len(bounds["low"]) != len(bounds["high"]):
                raise self.fail("action", f"low has {len(bounds['low'])} values but high "
                                          f"{len(bounds['high'])}")
            if any(lo > hi for lo, hi in zip(bounds["low"], bounds["high"], strict=True)):
                raise self.fail("action", "low is above high")


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
            info = json.loads(sidecar.read_text())
        except (OSError, ValueError) as exc:
            raise DeployError(f"{sidecar} is not readable JSON: {exc}") from exc
        check = Sidecar(sidecar)
        self.info: dict[str, Any] = check.object(info, "the top level")
        expected, actual = self.info.get("sha256"), sha256(path)
        if expected != actual:
            raise DeployError(
                f"refusing {path}: its sha256 is {actual[:16]}..., but {sidecar.name} says "
                f"{str(expected)[:16]}...; the file changed after export or belongs to another "
                "export. Run `runner.py export-policy` again.")
        check.check(self.info)
        self.metadata: dict[str, Any] = self.info.get("metadata") or {}
        self.obs_dim = int(self.info["observation"]["dim"])
        action = self.info["action"]
        self.discrete = action["kind"] == "discrete"
        self.n_actions: int | None = action["n"] if self.discrete else None
        self.act_dim = 1 if self.discrete else len(action.get("low") or action["high"])
        self.low = _bounds(action.get("low"), self.act_dim, -math.inf)
        self.high = _bounds(action.get("high"), self.act_dim, math.inf)
        fmt = self.info.get("format", "torchscript")
        self._forward = self._load_onnx(path, threads) if fmt == "onnx" else self._load(
            path, fmt, threads)
        self._check_output(sidecar.name)
        # TorchScript optimises a graph on its first calls: do them now, not on the robot.
        for _ in range(5):
            self(np.zeros(self.obs_dim, dtype=np.float32))

    def _check_output(self, sidecar: str) -> None:
        """One call with zeros: the policy takes ``observation.dim`` values and returns what
        ``action`` describes (an integer index, or ``len(low)`` floats)."""
        try:
            out = np.asarray(self._forward(np.zeros((1, self.obs_dim), dtype=np.float32)))
        except Exception as exc:  # noqa: BLE001 - whatever the runtime raises, one line
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()
            raise DeployError(f"{self.path} does not take the {self.obs_dim} observation "
                              f"values that {sidecar} says (observation.dim): {last}") from exc
        kind = "discrete" if self.discrete else "continuous"
        want = "an action index" if self.discrete else f"{self.act_dim} float values"
        fits = out.dtype.kind in "iu" if self.discrete else out.dtype.kind == "f"
        if out.size != self.act_dim or not fits:
            raise DeployError(f"{self.path} returns {out.size} {out.dtype} value(s), but "
                              f"{sidecar} describes a {kind} action, {want} (action)")

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
                else:
                    module = torch.jit.load(str(path), map_location="cpu").eval()
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

    def valid(self, action: np.ndarray) -> bool:
        """Whether ``action`` may go to the robot: finite values and, for a discrete space,
        an index in ``[0, n)``. The exported network returns index -1 or NaN when its own
        output (logits or means) is not finite."""
        if not np.all(np.isfinite(action)):
            return False
        return self.n_actions is None or 0 <= float(action[0]) < self.n_actions

    def zero_action(self) -> np.ndarray:
        """All zeros clipped into the bounds; action index 0 for a discrete space."""
        return np.clip(np.zeros(self.act_dim, dtype=np.float32), self.low, self.high)

