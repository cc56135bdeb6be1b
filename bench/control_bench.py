"""Control benchmark: loop timing, policy latency per call, and deploy.py's peak memory.

* ``lateness``: :class:`RateLoop` with no work at 50, 500 and 1000 Hz, 10 s each (``--quick``:
  2 s), with the default sleep-then-spin wait and with plain sleeping (``spin_s=0``):
  lateness p50/p99/max, achieved rate, missed cycles, and the CPU time the loop used. Then
  the same again under ``SCHED_FIFO`` (as ``chrt -f 50`` would run it) where the OS permits:
  on a busy machine that shows what the loop does when it gets the CPU it asks for.
* ``policy``: one call of the deploy policy as ``deploy.py`` makes it (a numpy observation in,
  a numpy action out, batch of one, one torch thread) for the eager ``DeployPolicy``,
  the exported TorchScript (frozen), the ``torch.export`` program (pt2) and onnxruntime
  (when installed), on the scenario-sized policy (CartPole: 4 -> 64x64 -> 2 discrete) and a
  256x256 one (48 -> 256x256 -> 12 continuous, a legged robot's size). p50/p99 in µs, and
  TorchScript's p50 over eager's. Then the C policy (``export-policy --format c``, see
  ``bench/c_policy_bench.py``), built ``-O2`` and ``-O2 -march=native``: one call through
  ctypes and one call in a pure-C timing loop, its p50 over eager's (goal: at most 0.1), its
  parity with the eager actor, and the size in bytes of its code (``.text``) and constants
  (``.rodata``).
* ``deploy_memory``: peak RSS of a ``deploy.py`` process driving ``runner.py serve-robot``
  over loopback UDP for a few seconds. On Linux this is ``VmHWM`` from ``/proc/PID/status``:
  the ``ru_maxrss`` that ``getrusage``/``wait4`` report for a child keeps the high-water mark
  of the image it was forked from (here, this process with torch loaded), so it would report
  the parent's size. Elsewhere it falls back to ``ru_maxrss``.

Lateness depends on the machine: run it on an idle one. ``python bench/control_bench.py
[--quick] [--json]``; ``run(quick)`` returns the numbers as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnne_robot.robot.control import RateLoop  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RATES = (50.0, 500.0, 1000.0)
POLICIES = {
    "64x64": {"obs_dim": 4, "hidden": (64, 64), "action": ("discrete", 2)},
    "256x256": {"obs_dim": 48, "hidden": (256, 256), "action": ("continuous", 12)},
}


# -- loop lateness ---------------------------------------------------------------------------
def loop_lateness(rate_hz: float, seconds: float, spin_s: float | None,
                  fifo: bool = False) -> dict[str, Any] | None:
    """One loop run; ``fifo`` runs it under SCHED_FIFO (None when that is not permitted)."""
    quiet = {"warn": lambda message: None}  # the missed count is in the table
    loop = RateLoop(rate_hz, **quiet) if spin_s is None else RateLoop(rate_hz, spin_s=spin_s,
                                                                      **quiet)
    if fifo:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
        except (AttributeError, OSError):
            return None
    try:
        cpu0 = time.process_time()
        stats = loop.run(lambda cycle: None, duration=seconds)
        cpu = time.process_time() - cpu0
    finally:
        if fifo:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    wait = "sleep" if spin_s == 0 else "sleep+spin"
    return {"rate_hz": rate_hz, "wait": wait + (" FIFO" if fifo else ""),
            "spin_ms": round(loop.spin_s * 1e3, 3), "achieved_hz": stats.as_dict()["achieved_hz"],
            "cycles": stats.cycles, "missed": stats.missed, **{
                f"late_{k}_ms": v for k, v in stats.lateness_ms.items() if k != "mean"},
            "cpu_percent": round(100 * cpu / max(stats.seconds, 1e-9), 1)}


# -- policy latency --------------------------------------------------------------------------
def _policy(name: str) -> Any:
    import torch

    from dnne_robot.rl import ActionSpec, ActorCritic

    cfg = POLICIES[name]
    kind, n = cfg["action"]
    spec = ActionSpec.discrete(n) if kind == "discrete" else ActionSpec.continuous(-1.0, 1.0, n)
    torch.manual_seed(0)
    return ActorCritic(cfg["obs_dim"], spec, hidden_sizes=cfg["hidden"])


def _time_calls(fn: Callable[[np.ndarray], Any], obs: np.ndarray, calls: int) -> dict[str, float]:
    for i in range(50):
        fn(obs[i % len(obs)])
    times = np.empty(calls)
    clock = time.perf_counter
    for i in range(calls):
        x = obs[i % len(obs)]
        t = clock()
        fn(x)
        times[i] = clock() - t
    p50, p99 = np.percentile(times, [50, 99]) * 1e6
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1)}


def _as_deploy_calls(module: Any) -> Callable[[np.ndarray], np.ndarray]:
    """What deploy.py's ``Policy.__call__`` does around the module."""
    import torch

    def call(obs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32).reshape(1, -1))
        with torch.inference_mode():
            out = module(x)
        return out.numpy()

    return call


def _onnx_call(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def call(obs: np.ndarray) -> np.ndarray:
        return session.run(None, {"obs": obs.astype(np.float32).reshape(1, -1)})[0]

    return call


def policy_latency(name: str, calls: int, workdir: Path) -> dict[str, Any]:
    import importlib.util

    import torch

    from dnne_robot.rl import DeployPolicy, export_policy, load_exported

    torch.set_num_threads(1)
    policy = _policy(name)
    obs = np.random.default_rng(0).normal(size=(256, policy.obs_dim)).astype(np.float32)
    row: dict[str, Any] = {"policy": name}
    row["eager"] = _time_calls(_as_deploy_calls(DeployPolicy(policy).eval()), obs, calls)
    for fmt, suffix in (("torchscript", ".pt"), ("pt2", ".pt2"), ("onnx", ".onnx")):
        path = workdir / f"{name}_{fmt}{suffix}"
        try:
            if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
                raise ImportError("onnxruntime is not installed")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = export_policy(policy, path, fmt=fmt)
                fn = _onnx_call(path) if fmt == "onnx" else _as_deploy_calls(
                    load_exported(path, fmt))
            row[fmt] = _time_calls(fn, obs, calls)
            if fmt == "torchscript":
                row[fmt]["frozen"] = report["frozen"]
        except Exception as exc:  # noqa: BLE001 - a missing format is a row, not a crash
            row[fmt] = {"skipped": f"{type(exc).__name__}: {str(exc)[:80]}"}
    ts, eager = row["torchscript"].get("p50_us"), row["eager"]["p50_us"]
    row["torchscript_over_eager"] = round(ts / eager, 3) if ts else None
    try:
        from bench.c_policy_bench import c_policy_rows

        folder = workdir / f"{name}_c"
        folder.mkdir()
        row["c"] = c_policy_rows(policy, obs, calls, folder, _time_calls,
                                 _as_deploy_calls(DeployPolicy(policy).eval()))
    except Exception as exc:  # noqa: BLE001 - no compiler or no binutils: a row, not a crash
        row["c"] = {"skipped": f"{type(exc).__name__}: {str(exc)[:120]}"}
    return row


# -- deploy.py peak memory -------------------------------------------------------------------
def deploy_memory(seconds: float, workdir: Path) -> dict[str, Any]:
    """Peak RSS of deploy.py (and of serve-robot) for ``seconds`` of CartPole over UDP."""
    from dnne_robot.pipeline import export
    from dnne_robot.rl import ActionSpec, ActorCritic, export_policy

    out = workdir / "cartpole"
    export(REPO / "scenarios" / "cartpole_ppo.json", out, sim="gymnasium")
    export_policy(ActorCritic(4, ActionSpec.discrete(2)), out / "policy.pt",
                  metadata={"task": "Cartpole", "engine": "gymnasium", "control_rate_hz": 50.0})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [sys.executable, "runner.py", "serve-robot", "--port", "0", "--duration",
         str(seconds + 30)], cwd=out, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = _wait_for_port(server, 60.0)
        deploy = subprocess.Popen(
            [sys.executable, "deploy.py", "--robot", f"udp://127.0.0.1:{port}", "--duration",
             str(seconds), "--json"], cwd=out, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        deploy_peak, server_peak = 0.0, 0.0
        while deploy.poll() is None:
            deploy_peak = max(deploy_peak, _vm_hwm_mib(deploy.pid) or 0.0)
            server_peak = max(server_peak, _vm_hwm_mib(server.pid) or 0.0)
            time.sleep(0.1)
        stats = json.loads(deploy.stdout.read().decode().strip().splitlines()[-1])
        if not deploy_peak:  # no /proc: ru_maxrss (KiB on Linux, bytes on macOS)
            scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 1024
            deploy_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    finally:
        server.terminate()
        server.wait()
    return {"deploy_peak_rss_mib": round(deploy_peak, 1),
            "serve_robot_peak_rss_mib": round(server_peak, 1) or None,
            "deploy_exit_code": deploy.returncode,
            "deploy_achieved_hz": stats.get("loop", {}).get("achieved_hz")}


def _vm_hwm_mib(pid: int) -> float | None:
    """The peak resident set of ``pid`` since its exec, from /proc (Linux), in MiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) / 1024 if m else None


def _wait_for_port(proc: subprocess.Popen, timeout: float) -> int:
    text, end = "", time.monotonic() + timeout
    while (m := re.search(r"udp://127\.0\.0\.1:(\d+)", text)) is None:
        if time.monotonic() > end or proc.poll() is not None:
            raise RuntimeError(f"serve-robot did not start: {text!r}")
        if select.select([proc.stderr], [], [], 0.5)[0]:
            text += os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
    return int(m.group(1))


# -- report ----------------------------------------------------------------------------------
def run(quick: bool = False) -> dict[str, Any]:
    """Every measurement; ``quick`` shortens the loop runs and the number of policy calls."""
    seconds = 2.0 if quick else 10.0
    calls = 2_000 if quick else 20_000
    runs = [loop_lateness(rate, seconds, spin, fifo) for fifo in (False, True)
            for rate in RATES for spin in (None, 0.0)]
    lateness = [r for r in runs if r is not None]
    with tempfile.TemporaryDirectory(prefix="control_bench_") as tmp:
        policy = [policy_latency(name, calls, Path(tmp)) for name in POLICIES]
        memory = deploy_memory(2.0 if quick else 5.0, Path(tmp))
    return {"quick": quick, "loop_seconds": seconds, "policy_calls": calls,
            "cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
            "lateness": lateness, "policy": policy, "deploy_memory": memory}


def format_results(report: dict[str, Any]) -> str:
    lines = [f"loop lateness ({report['loop_seconds']:g} s per row, {report['cpus']} CPUs, "
             f"load {report['load_avg_1min']})"]
    head = (f"{'rate Hz':>8} {'wait':<16} {'achieved':>9} {'missed':>7} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'cpu %':>6}")
    lines += [head, "-" * len(head)]
    for r in report["lateness"]:
        lines.append(f"{r['rate_hz']:>8g} {r['wait']:<16} {r['achieved_hz']:>9.2f} "
                     f"{r['missed']:>7} {r['late_p50_ms']:>8.3f} {r['late_p99_ms']:>8.3f} "
                     f"{r['late_max_ms']:>8.3f} {r['cpu_percent']:>6.1f}")
    lines += ["", f"policy latency per call, batch 1 ({report['policy_calls']} calls), µs"]
    head = (f"{'policy':<8} {'eager p50/p99':>15} {'torchscript':>15} {'pt2':>15} "
            f"{'onnxruntime':>15} {'ts/eager':>9}")
    lines += [head, "-" * len(head)]

    def cell(d: dict[str, Any]) -> str:
        return "skipped" if "skipped" in d else f"{d['p50_us']:.1f}/{d['p99_us']:.1f}"

    for r in report["policy"]:
        lines.append(f"{r['policy']:<8} {cell(r['eager']):>15} {cell(r['torchscript']):>15} "
                     f"{cell(r['pt2']):>15} {cell(r['onnx']):>15} "
                     f"{r['torchscript_over_eager']!s:>9}")
    skipped = {f"{r['policy']} {k}": v["skipped"] for r in report["policy"]
               for k, v in r.items() if isinstance(v, dict) and "skipped" in v}
    lines += [f"  {k}: {v}" for k, v in skipped.items()]
    lines += format_c_rows(report["policy"])
    m = report["deploy_memory"]
    lines += ["", f"deploy.py peak RSS {m['deploy_peak_rss_mib']} MiB (serve-robot "
                  f"{m['serve_robot_peak_rss_mib']} MiB; deploy ran at {m['deploy_achieved_hz']} "
                  f"Hz, exit {m['deploy_exit_code']})"]
    return "\n".join(lines)


def format_c_rows(policy_rows: list[dict[str, Any]]) -> list[str]:
    """The C policy's rows under the policy latency table."""
    rows = [(r["policy"], r["c"]) for r in policy_rows if "builds" in r.get("c", {})]
    lines = [f"  {r['policy']} C: {r['c']['skipped']}" for r in policy_rows
             if "skipped" in r.get("c", {})]
    if not rows:
        return lines
    first = rows[0][1]["builds"][0]
    lines += ["", f"C policy (export-policy --format c), µs, medians of {first['rounds']} rounds "
                  f"of {first['calls_per_round']} calls, each round eager torch, ctypes, C loop "
                  "in turn; C/eager: median of the rounds' p50 ratios [range] (goal <= 0.1); "
                  "bytes of policy.o"]
    head = (f"{'policy':<8} {'build':<18} {'eager p50':>9} {'ctypes p50/p99':>15} "
            f"{'C loop p50/p99':>15} {'C/eager':>21} {'ctypes/eager':>12} "
            f"{'.text':>6} {'.rodata':>8} {'parity':>8}")
    lines += [head, "-" * len(head)]
    for name, c in rows:
        for b in c["builds"]:
            ct, lp = b["ctypes"], b["loop"]
            lo, hi = b["loop_over_eager_range"]
            ratio = f"{b['loop_over_eager']:.3f} [{lo:.3f}-{hi:.3f}]"
            lines.append(
                f"{name:<8} {b['flags']:<18} {b['eager']['p50_us']:>9.1f} "
                f"{ct['p50_us']:>7.1f}/{ct['p99_us']:<7.1f} "
                f"{lp['p50_us']:>7.2f}/{lp['p99_us']:<7.2f} "
                f"{ratio:>21} {b['ctypes_over_eager']:>12.3f} "
                f"{b.get('text_bytes', '?'):>6} {b.get('rodata_bytes', '?'):>8} "
                f"{b['parity_max_abs_diff']:>8.1e}")
    for name, c in rows:
        lines.append(f"  {name}: {c['network']}; {c['parameters']} parameters "
                     f"({c['weight_bytes']} bytes of float32 constants), policy.c "
                     f"{c['policy_c_bytes']} bytes of source; {c['compiler']}")
    lines.append(f"  C loop p50/p99 include the clock_gettime pair around each call "
                 f"({first['loop']['clock_pair_us']:.3f} µs); parity: max |C - eager| on the "
                 "benchmark's observations")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s loop runs, fewer calls")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    print(json.dumps(report, indent=2) if args.json else format_results(report))


if __name__ == "__main__":
    main()
