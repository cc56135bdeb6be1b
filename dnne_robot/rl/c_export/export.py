"""``export_c_policy``: the deploy policy as a C99 library, parity-checked with the system cc.

Writes ``policy.h``, ``policy.c``, ``example_loop.c``, ``README.md`` and the ``policy.json``
sidecar into a folder. Before anything is written, the C is built with the system compiler
(when there is one) and run on example observations, random ones around the training
distribution (with a tail that hits the normaliser's clip) and non-finite ones, and compared
with the eager torch actor; a difference above ``atol`` writes nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import atomic_write
from ..export import (
    PARITY_ATOL,
    DeployPolicy,
    ExportParityError,
    _random_obs,
    file_sha256,
    write_sidecar,
)
from ..policy import ActorCritic
from .build import Compiler, compile_c, example_source, find_compiler, harness_source, run_policy
from .build import searched as searched_compilers
from .codegen import ERROR_CODES, Provenance, header, source
from .network import CExportError, Network, describe
from .readme import readme

#: The files an export writes, in the order the report lists them.
FILES = ("policy.h", "policy.c", "example_loop.c", "README.md")
NONFINITE_CODE = ERROR_CODES["POLICY_ERR_NONFINITE_OBS"][0]


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def nonfinite_observations(obs_dim: int, seed: int) -> np.ndarray:
    """Rows with one NaN, +inf or -inf each (first, last and a random position)."""
    rng = np.random.default_rng(seed)
    rows = []
    for value in (np.nan, np.inf, -np.inf):
        for pos in sorted({0, obs_dim - 1, int(rng.integers(obs_dim))}):
            row = rng.normal(size=obs_dim).astype(np.float32)
            row[pos] = value
            rows.append(row)
    return np.stack(rows)


def _reference(deploy: DeployPolicy, obs: np.ndarray) -> np.ndarray:
    """The eager actor's actions as ``(n, act_dim)`` float64 (a discrete index as a value)."""
    with torch.no_grad():
        out = deploy(torch.from_numpy(obs)).to(torch.float64).numpy()
    return out.reshape(len(obs), -1)


def parity_check(deploy: DeployPolicy, net: Network, texts: dict[str, str], compiler: Compiler,
                 checks: dict[str, np.ndarray], atol: float, seed: int) -> dict[str, Any]:
    """Build ``texts`` (``net``'s C) with ``compiler``; compare it with ``deploy`` on ``checks``.

    Returns ``max_abs_diff`` per check, ``rows`` and the compiler's ``warnings``; raises
    :class:`ExportParityError` when a check exceeds ``atol``, a finite observation gets an
    error code, or a non-finite one does not get ``POLICY_ERR_NONFINITE_OBS``.
    """
    bad = nonfinite_observations(deploy.obs_dim, seed)
    with tempfile.TemporaryDirectory(prefix="dnne_c_policy_") as tmp:
        folder = Path(tmp)
        for name in ("policy.h", "policy.c"):
            (folder / name).write_text(texts[name])
        harness = folder / "parity_main.c"
        harness.write_text(harness_source().read_text())
        program = folder / "parity"
        warnings = compile_c(compiler, [harness, folder / "policy.c"], program)
        everything = np.concatenate([*checks.values(), bad]).astype(np.float32)
        codes, actions = run_policy(program, everything, net.act_dim)
    diffs: dict[str, float] = {}
    start = 0
    problems = []
    for name, obs in checks.items():
        end = start + len(obs)
        code, got = codes[start:end], actions[start:end].astype(np.float64)
        if (code != 0).any():
            problems.append(f"policy_act returned {int(code[code != 0][0])} on a finite "
                            f"{name} observation")
        want = _reference(deploy, obs)
        diffs[name] = float(np.abs(got - want).max()) if len(obs) else 0.0
        if not math.isfinite(diffs[name]):
            diffs[name] = math.inf
        start = end
    if (codes[start:] != NONFINITE_CODE).any():
        problems.append("a non-finite observation did not return POLICY_ERR_NONFINITE_OBS")
    report = {"max_abs_diff": diffs, "rows": {k: len(v) for k, v in checks.items()}
              | {"nonfinite": len(bad)}, "warnings": warnings}
    worst = max(diffs.values(), default=0.0)
    if not worst <= atol:
        problems.append(f"the C policy differs from the eager policy by {worst:.3g} "
                        f"(> atol {atol:g}) on {[k for k, v in diffs.items() if not v <= atol]}")
    if problems:
        raise ExportParityError("; ".join(problems) + "; nothing was written", report)
    return report


def _provenance(metadata: dict[str, Any], checkpoint: Path | None) -> Provenance:
    rate = metadata.get("control_rate_hz")
    return Provenance(
        checkpoint=checkpoint.name if checkpoint else metadata.get("checkpoint"),
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        task=metadata.get("task"),
        control_rate_hz=float(rate) if rate else None,
        workflow=metadata.get("workflow"),
    )


def _sizes(net: Network, texts: dict[str, str]) -> dict[str, int]:
    normaliser = 0 if net.mean is None else 2 * net.obs_dim
    bounds = 0 if net.discrete else net.head_dim * (3 if net.squash else 2)
    return {"parameters": net.parameter_count(),
            "weight_bytes": 4 * (net.parameter_count() + normaliser + bounds),
            "policy_c_bytes": len(texts["policy.c"].encode())}


def export_c_policy(
    policy: ActorCritic,
    out_dir: str | os.PathLike[str],
    *,
    example_obs: torch.Tensor | None = None,
    recorded_obs: torch.Tensor | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    atol: float = PARITY_ATOL,
    num_random: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write ``policy`` as a C99 library into ``out_dir``, parity-checked when a C compiler is
    present.

    Args:
        policy: The trained policy (not modified).
        out_dir: The folder to write (created; other files in it are left alone).
        example_obs: Example raw observations ``(B, obs_dim)``, checked and recorded in the
            sidecar with their actions; a few random ones if None.
        recorded_obs: Real observations (e.g. from a rollout) added to the parity check.
        metadata: Plain data for the sidecar (task, engine, control_rate_hz, workflow, ...).
        checkpoint: The checkpoint file the policy came from; its name and sha256 go into
            ``policy.c``, ``README.md`` and the sidecar.
        atol: Largest allowed ``max |eager - C|`` over every check.
        num_random: Random observations in the parity check.
        seed: Seed of the random and example observations.

    Returns:
        Report: ``path``, ``format`` ("c"), ``files`` (name -> sha256), ``sha256`` (of
        policy.c), ``weights_sha256``, ``network``, ``sizes``, ``parity`` (``checked``, and
        ``compiler``, ``rows``, ``warnings`` or the ``reason`` it was skipped),
        ``max_abs_diff`` (per check; empty when skipped), ``atol`` and ``metadata_path``.

    Raises:
        CExportError: a layer the C export does not write, or the C did not build.
        ExportParityError: the C and the eager policy differ; nothing is written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CExportError(f"{out_dir} is a file; the C export writes a folder (-o DIR)")
    metadata = dict(metadata or {})
    deploy = DeployPolicy(policy)
    net = describe(deploy)
    prov = _provenance(metadata, Path(checkpoint) if checkpoint else None)
    texts = {"policy.h": header(net, prov), "policy.c": source(net, prov),
             "example_loop.c": example_source().read_text()}

    if example_obs is None:
        example_obs = _random_obs(deploy, 4, seed + 1)
    examples = example_obs.detach().to("cpu", torch.float32).reshape(-1, net.obs_dim).numpy()
    checks = {"example": examples,
              "random": _random_obs(deploy, num_random, seed).numpy()}
    if recorded_obs is not None:
        checks["recorded"] = (recorded_obs.detach().to("cpu", torch.float32)
                              .reshape(-1, net.obs_dim).numpy())

    report: dict[str, Any] = {"path": str(out_dir), "format": "c", "atol": atol,
                              "frozen": None, "network": net.describe(),
                              "weights_sha256": net.weights_sha256(),
                              "sizes": _sizes(net, texts)}
    compiler = find_compiler()
    if compiler is None:
        report["max_abs_diff"] = {}
        report["parity"] = {"checked": False, "reason": f"no C compiler found (looked for "
                                                        f"{searched_compilers()})"}
    else:
        result = parity_check(deploy, net, texts, compiler, checks, atol, seed)
        report["max_abs_diff"] = result.pop("max_abs_diff")
        report["parity"] = {"checked": True, "compiler": str(compiler), **result}

    texts["README.md"] = readme(net, prov, report, examples, _reference(deploy, examples))
    report["files"] = {}
    for name in FILES:
        data = texts[name].encode()
        atomic_write(out_dir / name, lambda f, data=data: f.write(data))
        report["files"][name] = _sha256_bytes(data)
    report["sha256"] = report["files"]["policy.c"]
    extra = {
        "input": {"name": "obs", "shape": [net.obs_dim], "dtype": "float32"},
        "output": {"name": "action", "shape": [net.act_dim], "dtype": "float32",
                   "note": "one value holding the action index" if net.discrete else None},
        "files": report["files"],
        "c": {"network": report["network"], "weights_sha256": report["weights_sha256"],
              "sizes": report["sizes"], "error_codes": {k: v[0] for k, v in ERROR_CODES.items()},
              "source_checkpoint": {"name": prov.checkpoint, "sha256": prov.checkpoint_sha256}},
        "parity": {"atol": atol, "max_abs_diff": report["max_abs_diff"],
                   **{k: v for k, v in report["parity"].items() if k != "warnings"}},
        "examples": [{"obs": o.tolist(), "action": a.tolist()}
                     for o, a in zip(examples, _reference(deploy, examples), strict=True)],
    }
    report["metadata_path"] = str(write_sidecar(policy, out_dir / "policy.c", "c", report,
                                                metadata, extra=extra))
    return report
