"""The C policy (``export-policy --format c``) in the policy latency table of ``control_bench``.

For one policy: :func:`c_policy_rows` exports it with :func:`export_c_policy` (which checks
it against the eager actor with the system cc), then for each build (``-O2`` as the export's
README.md gives it, and ``-O2 -march=native``):

* builds ``policy.o`` and reads its ``.text`` (code) and ``.rodata`` (weights, normaliser,
  bounds) sizes with binutils' ``size -A``;
* checks that build against the eager actor on the benchmark's observations (the export
  checked the plain build only);
* times ``policy_act`` from Python through ctypes (numpy in, numpy out, as ``deploy.py`` would
  call it) and in C (``bench/c_policy_timing.c``: one call at a time between two
  ``clock_gettime`` reads, and a block of calls for the mean), in rounds interleaved with
  eager torch (see :func:`c_policy_rows`).

The builds use ``-std=c99`` without ``-ffast-math`` (policy.c refuses it); in ISO C mode gcc
contracts no multiply-add into an FMA, so ``-march=native`` adds wider vectors, not a
different rounding.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
BUILDS = (("-O2",), ("-O2", "-march=native"))


def _cc(compiler: Any, flags: tuple[str, ...], *args: str, cwd: Path) -> None:
    argv = [*compiler.argv, "-std=c99", *flags, *args]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()[:300]}")


def section_sizes(obj: Path) -> dict[str, int] | None:
    """``.text`` and ``.rodata`` bytes of an object file (None without binutils' ``size``)."""
    size = shutil.which("size")
    if size is None:
        return None
    out = subprocess.run([size, "-A", str(obj)], capture_output=True, text=True, timeout=60)
    sections = {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+$", out.stdout, re.M)}
    rodata = sum(v for k, v in sections.items() if k.startswith(".rodata"))
    return {"text_bytes": sections.get(".text", 0), "rodata_bytes": rodata}


def ctypes_call(library: Path, act_dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """``policy_act`` through ctypes: a numpy observation in, a new numpy action out."""
    lib = ctypes.CDLL(str(library))
    act = lib.policy_act
    act.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    act.restype = ctypes.c_int

    def call(obs: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(obs, dtype=np.float32)
        out = np.empty(act_dim, dtype=np.float32)
        if act(x.ctypes.data, out.ctypes.data) != 0:
            raise RuntimeError("policy_act returned an error code")
        return out

    return call


def c_policy_rows(policy: Any, obs: np.ndarray, calls: int, workdir: Path,
                  time_calls: Callable[..., dict[str, float]],
                  eager: Callable[[np.ndarray], Any], rounds: int = 5) -> dict[str, Any]:
    """The C rows for ``policy``.

    ``time_calls(fn, obs, calls)`` is control_bench's timer and ``eager`` its eager call. On a
    shared machine the load changes within seconds, so each build is timed in ``rounds``
    rounds of ``calls // rounds`` calls each, eager torch, then ctypes, then the C loop, one
    after the other; a ratio is the median of the rounds' p50 ratios (with their range).
    """
    import torch

    from dnne_robot.rl import DeployPolicy
    from dnne_robot.rl.c_export import (
        compile_c,
        export_c_policy,
        find_compiler,
        harness_source,
        run_policy,
    )

    folder = workdir / "c"
    report = export_c_policy(policy, folder, num_random=10_000)
    parity = report["parity"]
    if not parity["checked"]:
        return {"skipped": parity["reason"]}
    compiler = find_compiler()
    spec = policy.action_spec
    act_dim = 1 if spec.is_discrete else int(spec.dim)
    with torch.no_grad():
        want = DeployPolicy(policy)(torch.from_numpy(obs)).to(torch.float64).numpy()
    want = want.reshape(len(obs), -1)
    (folder / "obs.bin").write_bytes(np.ascontiguousarray(obs, np.float32).tobytes())
    (folder / "parity_main.c").write_text(harness_source().read_text())
    shutil.copy(HERE / "c_policy_timing.c", folder / "c_policy_timing.c")
    per_round = max(calls // rounds, 100)
    builds = []
    for flags in BUILDS:
        tag = "native" if "-march=native" in flags else "O2"
        obj = f"policy_{tag}.o"
        _cc(compiler, flags, "-fPIC", "-c", "policy.c", "-o", obj, cwd=folder)
        _cc(compiler, flags, "-shared", "-o", f"libpolicy_{tag}.so", obj, "-lm", cwd=folder)
        _cc(compiler, flags, "-o", f"timing_{tag}", "c_policy_timing.c", obj, "-lm", cwd=folder)
        compile_c(compiler, [folder / "parity_main.c", folder / obj], folder / f"parity_{tag}",
                  extra=flags[1:])
        codes, got = run_policy(folder / f"parity_{tag}", obs, act_dim)
        if (codes != 0).any():
            raise RuntimeError(f"the {' '.join(flags)} build returned an error code")
        via_ctypes = ctypes_call(folder / f"libpolicy_{tag}.so", act_dim)
        timed: dict[str, list[dict[str, float]]] = {"eager": [], "ctypes": [], "loop": []}
        for _ in range(rounds):
            timed["eager"].append(time_calls(eager, obs, per_round))
            timed["ctypes"].append(time_calls(via_ctypes, obs, per_round))
            timed["loop"].append(_c_loop(folder, tag, per_round))
        row = {"flags": " ".join(flags), "rounds": rounds, "calls_per_round": per_round,
               "parity_max_abs_diff": float(np.abs(got - want).max()),
               **{k: _median_of(v) for k, v in timed.items()}}
        for name in ("ctypes", "loop"):
            ratios = [c["p50_us"] / e["p50_us"] for c, e in zip(timed[name], timed["eager"],
                                                                 strict=True)]
            row[f"{name}_over_eager"] = round(float(np.median(ratios)), 4)
            row[f"{name}_over_eager_range"] = [round(min(ratios), 4), round(max(ratios), 4)]
        row.update(section_sizes(folder / obj) or {})
        builds.append(row)
    return {"compiler": parity["compiler"], "export_max_abs_diff": report["max_abs_diff"],
            "network": report["network"], "parameters": report["sizes"]["parameters"],
            "weight_bytes": report["sizes"]["weight_bytes"],
            "policy_c_bytes": report["sizes"]["policy_c_bytes"], "builds": builds}


def _c_loop(folder: Path, tag: str, calls: int) -> dict[str, float]:
    proc = subprocess.run([str(folder / f"timing_{tag}"), "obs.bin", str(calls)], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"timing_{tag} failed: {proc.stderr.strip()[:300]}")
    return json.loads(proc.stdout)


def _median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each number's median over the rounds."""
    return {k: round(float(np.median([r[k] for r in rounds])), 4) for k in rounds[0]
            if isinstance(rounds[0][k], int | float)}
