"""Deploy-side export: actor + observation normaliser + action scaling in one module.

SB3's export guide warns that normalisation, clipping and unscaling are *not* part of
its exported networks. Here they are: :class:`DeployPolicy` maps raw observations to
the exact actions to send to the robot, and :func:`export_policy` proves it with a
parity check against the eager module before anything is written.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import math
import os
import platform
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import atomic_write
from .normalizer import normalize_obs
from .policy import ActorCritic, to_env_action

ExportFormat = Literal["torchscript", "pt2", "onnx"]
FORMATS: tuple[str, ...] = ("torchscript", "pt2", "onnx")
PARITY_ATOL = 1e-5


class ExportError(RuntimeError):
    """Base class of export failures."""


class ExportParityError(ExportError):
    """The exported artefact's actions differ from the eager policy's."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class ExportDependencyError(ExportError, ImportError):
    """An optional package needed for the requested format is missing."""


class NonFinitePolicyError(ExportError):
    """A weight or an observation-normaliser statistic of the policy is NaN or infinite."""


def check_finite(policy: ActorCritic) -> None:
    """Refuse a policy holding a NaN or infinite value (a diverged run): the parity check
    cannot see it (NaN equals NaN there), and on a robot a NaN logit becomes action 0.

    Every floating tensor of ``policy.state_dict()`` is checked: the weights and biases,
    ``log_std`` and the normaliser's ``obs_rms.mean``, ``obs_rms.var`` and ``obs_rms.count``.

    Raises:
        NonFinitePolicyError: naming the first such tensor and what it holds.
    """
    for name, tensor in policy.state_dict().items():
        if not tensor.is_floating_point() or bool(torch.isfinite(tensor).all()):
            continue
        counts = {"NaN": int(torch.isnan(tensor).sum()),
                  "inf": int(torch.isposinf(tensor).sum()),
                  "-inf": int(torch.isneginf(tensor).sum())}
        held = " and ".join(f"{n} {what}" for what, n in counts.items() if n)
        raise NonFinitePolicyError(
            f"the policy's {name} holds {held} (of {tensor.numel()} values); a policy with "
            "NaN or infinite values is never exported (did the training diverge?)")


class DeployPolicy(nn.Module):
    """Raw observation ``(B, obs_dim)`` float32 in, environment action out.

    A frozen copy of the actor of an :class:`ActorCritic`: normalise with the training
    statistics, run the actor, take the mode (argmax -> long ``(B,)`` for discrete,
    the Gaussian mean for continuous), then clip or tanh-scale into ``[low, high]``.
    The critic, ``log_std`` and the running-statistics counters are left behind.

    A network output (logits or means) that is not finite is no action: index -1 for a
    discrete action (argmax would turn NaN into an index), NaN for a continuous one (clipping
    would turn inf into a bound). ``deploy.py`` counts either as a bad action and sends the
    safe action instead.
    """

    # TorchScript constants (string annotations from `__future__` hide `Final` from it).
    __constants__ = ["discrete", "squash", "normalize_obs", "obs_clip", "epsilon"]

    def __init__(self, policy: ActorCritic) -> None:
        super().__init__()
        src = copy.deepcopy(policy).to("cpu").eval()
        self.obs_dim = src.obs_dim
        self.discrete = src.is_discrete
        self.squash = bool(src.action_spec.squash)
        self.body = src.actor_body
        self.head = src.actor_head
        for p in self.parameters():
            p.requires_grad_(False)

        self.normalize_obs = src.obs_rms is not None
        self.obs_clip = float(src.obs_clip)
        if src.obs_rms is not None:
            self.epsilon = float(src.obs_rms.epsilon)
            mean, var = src.obs_rms.mean, src.obs_rms.var
        else:
            self.epsilon = 0.0
            mean, var = torch.zeros(src.obs_dim), torch.ones(src.obs_dim)
        # float32 copies: the same values ActorCritic.normalize computes with.
        self.register_buffer("obs_mean", mean.detach().to(torch.float32).clone())
        self.register_buffer("obs_var", var.detach().to(torch.float32).clone())
        self.register_buffer("action_low", src.action_low.detach().clone())
        self.register_buffer("action_high", src.action_high.detach().clone())
        self.eval()

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.to(torch.float32)
        if self.normalize_obs:
            x = normalize_obs(x, self.obs_mean, self.obs_var, self.epsilon, self.obs_clip)
        out = self.head(self.body(x))
        bad = ~torch.isfinite(out).all(-1)
        if self.discrete:
            return out.argmax(-1).masked_fill(bad, -1)
        action = to_env_action(out, self.action_low, self.action_high, self.squash)
        return action.masked_fill(bad.unsqueeze(-1), float("nan"))


# -- helpers ---------------------------------------------------------------------------


class _Quiet:
    """Hide torch.jit's deprecation chatter during export and load."""

    def __enter__(self) -> None:
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes (``policy.json`` records its policy's)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonable(x: Any) -> Any:
    """Plain JSON: tensors to lists, non-finite floats to the strings "inf"/"-inf"/"nan"."""
    if isinstance(x, Tensor):
        return _jsonable(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray | np.generic):
        return _jsonable(x.tolist())
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x is None or isinstance(x, bool | int | float | str):
        return x
    return str(x)


def _random_obs(deploy: DeployPolicy, n: int, seed: int) -> Tensor:
    """Observations around the training distribution, with a tail that hits the clip."""
    g = torch.Generator().manual_seed(seed)
    std = torch.sqrt(deploy.obs_var + deploy.epsilon)
    z = torch.randn((n, deploy.obs_dim), generator=g)
    z[: max(n // 8, 1)] *= 4.0 * deploy.obs_clip if deploy.normalize_obs else 10.0
    return deploy.obs_mean + std * z * 2.0


def _max_abs_diff(a: Tensor, b: Any) -> float:
    b = torch.as_tensor(np.asarray(b)) if not isinstance(b, Tensor) else b
    if a.shape != b.shape:
        return math.inf
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max()) if a.numel() else 0.0


def _parity(
    reference: DeployPolicy, candidate: Callable[[Tensor], Any], checks: dict[str, Tensor]
) -> dict[str, float]:
    with torch.no_grad():
        return {name: _max_abs_diff(reference(obs), candidate(obs)) for name, obs in checks.items()}


def _require(module: str, fmt: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ExportDependencyError(
            f"exporting to {fmt} needs the '{module}' package: "
            "pip install onnx onnxscript onnxruntime"
        )


# -- export ----------------------------------------------------------------------------


def export_policy(
    policy: ActorCritic,
    path: str | os.PathLike[str],
    fmt: ExportFormat = "torchscript",
    example_obs: Tensor | None = None,
    recorded_obs: Tensor | None = None,
    metadata: dict[str, Any] | None = None,
    atol: float = PARITY_ATOL,
    num_random: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    """Export the deterministic deploy policy and write ``<stem>.json`` beside it.

    Args:
        policy: The trained policy (not modified).
        path: Output file, e.g. ``policy.pt`` (torchscript), ``policy.pt2``, ``policy.onnx``.
        fmt: ``"torchscript"`` (``torch.jit.script`` then ``torch.jit.freeze`` when the
            frozen module keeps parity), ``"pt2"`` (``torch.export``) or ``"onnx"``.
        example_obs: ``(B, obs_dim)`` input used for tracing/export; random if None.
        recorded_obs: Real observations (e.g. from an evaluation rollout) added to the
            parity check.
        metadata: Extra plain data for the sidecar: control rate, task, engine,
            training step, ...
        atol: Largest allowed ``max |eager - exported|`` over every check.
        num_random: Rows of random observations in the parity check.
        seed: Seed of those random observations.

    Returns:
        Report: ``path``, ``metadata_path``, ``format``, ``sha256``, ``frozen``
        (torchscript: whether ``torch.jit.freeze`` was kept; None otherwise),
        ``max_abs_diff`` (per check: ``example``, ``random``, ``single`` (batch of one)
        and ``recorded``) and ``atol``. For onnx the artefact is checked with
        onnxruntime when it is installed, else ``max_abs_diff`` is empty and
        ``onnxruntime_checked`` is False.

    Raises:
        NonFinitePolicyError: a weight or normaliser statistic is NaN or infinite (see
            :func:`check_finite`); nothing is written.
        ExportParityError: a check exceeded ``atol``; no file is left behind.
        ExportDependencyError: ``fmt="onnx"`` without onnx installed.
        ExportError: the conversion itself failed.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if fmt == "onnx":
        _require("onnx", fmt)
        _require("onnxscript", fmt)
    check_finite(policy)
    path = Path(path)
    deploy = DeployPolicy(policy)
    if example_obs is None:
        example_obs = _random_obs(deploy, 4, seed + 1)
    example_obs = example_obs.detach().to("cpu", torch.float32)
    random_obs = _random_obs(deploy, num_random, seed)
    # "single" guards the batch-of-one case that a robot's control loop runs.
    checks = {"example": example_obs, "random": random_obs, "single": random_obs[:1]}
    if recorded_obs is not None:
        checks["recorded"] = (
            recorded_obs.detach().to("cpu", torch.float32).reshape(-1, deploy.obs_dim)
        )

    report: dict[str, Any] = {"path": str(path), "format": fmt, "atol": atol, "frozen": None}
    with _Quiet():
        try:
            save, report["frozen"] = _build(fmt, deploy, example_obs, checks, atol)
        except ExportError:
            raise
        except Exception as e:
            raise ExportError(f"{fmt} export of the deploy policy failed: {e}") from e

        def write_and_check(f: Any) -> None:
            # The artefact is written to the temporary file, reloaded from it and checked
            # there, so a failed check never replaces or creates `path`.
            save(f)
            f.flush()
            if fmt == "onnx":
                report["onnxruntime_checked"] = importlib.util.find_spec("onnxruntime") is not None
                if not report["onnxruntime_checked"]:
                    import onnx

                    onnx.checker.check_model(f.name)
                    report["max_abs_diff"] = {}
                    return
            diffs = _parity(deploy, load_exported(f.name, fmt), checks)
            report["max_abs_diff"] = diffs
            worst = max(diffs.values())
            if not worst <= atol:
                raise ExportParityError(
                    f"exported {fmt} policy differs from the eager policy by {worst:.3g} "
                    f"(> atol {atol:g}) on {[k for k, v in diffs.items() if not v <= atol]}; "
                    f"{path} was not written",
                    report,
                )

        atomic_write(path, write_and_check)

    report["sha256"] = file_sha256(path)
    report["metadata_path"] = str(write_sidecar(policy, path, fmt, report, metadata))
    return report


def _build(
    fmt: str, deploy: DeployPolicy, example_obs: Tensor, checks: dict[str, Tensor], atol: float
) -> tuple[Callable[[Any], None], bool | None]:
    """Convert ``deploy``; returns a writer of the artefact and, for torchscript, frozen."""
    if fmt == "torchscript":
        module, frozen = _torchscript(deploy, checks, atol)

        def save_torchscript(f: Any) -> None:
            torch.jit.save(module, f)

        return save_torchscript, frozen
    if fmt == "pt2":
        program = _pt2(deploy, example_obs)

        def save_pt2(f: Any) -> None:
            torch.export.save(program, f)

        return save_pt2, None
    return _onnx_writer(deploy, example_obs), None


def _torchscript(
    deploy: DeployPolicy, checks: dict[str, Tensor], atol: float
) -> tuple[torch.jit.ScriptModule, bool]:
    scripted = torch.jit.script(deploy)
    try:
        frozen = torch.jit.freeze(scripted.eval())
    except Exception:  # freezing is only an optimisation: fall back to the plain script
        return scripted, False
    diffs = _parity(deploy, frozen, checks)
    if max(diffs.values()) <= atol:
        return frozen, True
    return scripted, False


def _pt2(deploy: DeployPolicy, example_obs: Tensor) -> Any:
    if example_obs.shape[0] < 2:
        # Batch 0/1 examples make torch.export specialise the batch dimension.
        example_obs = example_obs.expand(2, -1).contiguous()
    batch = torch.export.Dim("batch")
    return torch.export.export(deploy, (example_obs,), dynamic_shapes=({0: batch},))


def _onnx_writer(deploy: DeployPolicy, example_obs: Tensor) -> Callable[[Any], None]:
    if example_obs.shape[0] < 2:
        example_obs = example_obs.expand(2, -1).contiguous()

    def write(f: Any) -> None:
        program = torch.onnx.export(
            deploy,
            (example_obs,),
            input_names=["obs"],
            output_names=["action"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            external_data=False,
        )
        f.write(program.model_proto.SerializeToString())

    return write


def load_exported(path: str | os.PathLike[str], fmt: ExportFormat | None = None) -> Callable:
    """Load an exported policy as a callable ``obs (B, obs_dim) -> action``.

    ``fmt`` defaults to the file suffix: ``.pt2`` pt2, ``.onnx`` onnx, else torchscript.
    ONNX needs onnxruntime; its callable takes and returns torch tensors too.
    """
    path = Path(path)
    if fmt is None:
        fmt = {".pt2": "pt2", ".onnx": "onnx"}.get(path.suffix, "torchscript")  # type: ignore[assignment]
    with _Quiet():
        if fmt == "torchscript":
            return torch.jit.load(str(path), map_location="cpu")
        if fmt == "pt2":
            return torch.export.load(str(path)).module()
    if importlib.util.find_spec("onnxruntime") is None:
        raise ExportDependencyError(
            "running an ONNX policy needs onnxruntime: pip install onnx onnxruntime"
        )
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(obs: Tensor) -> Tensor:
        (out,) = session.run(None, {"obs": obs.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(out)

    return run


def write_sidecar(
    policy: ActorCritic,
    path: Path,
    fmt: str,
    report: dict[str, Any],
    metadata: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``<stem>.json`` next to the artefact: specs, statistics, provenance.

    ``extra`` adds or replaces top-level fields (the C export's files, output and examples).
    """
    rms = policy.obs_rms
    spec = policy.action_spec
    record = {
        "format": fmt,
        "file": path.name,
        "sha256": report["sha256"],
        "input": {"name": "obs", "shape": ["batch", policy.obs_dim], "dtype": "float32"},
        "output": {
            "name": "action",
            "shape": ["batch"] if spec.is_discrete else ["batch", spec.dim],
            "dtype": "int64" if spec.is_discrete else "float32",
        },
        "action": spec.to_dict(),
        "observation": {
            "dim": policy.obs_dim,
            "normalize": rms is not None,
            "clip": policy.obs_clip,
            "epsilon": None if rms is None else rms.epsilon,
            "mean": None if rms is None else rms.mean,
            "var": None if rms is None else rms.var,
            "count": None if rms is None else float(rms.count),
        },
        "policy_config": policy.config(),
        "parity": {
            "atol": report["atol"],
            "max_abs_diff": report["max_abs_diff"],
            "frozen": report["frozen"],
        },
        "metadata": metadata or {},
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    record.update(extra or {})
    text = json.dumps(_jsonable(record), indent=2, sort_keys=True, allow_nan=False) + "\n"
    sidecar = path.with_suffix(".json")
    atomic_write(sidecar, lambda f: f.write(text.encode()))
    return sidecar
