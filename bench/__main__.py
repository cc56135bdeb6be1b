"""``python -m bench [--quick] [--only export,runtime,train,sb3,control,envs,ros2]``.

Runs the benchmarks one after another, then writes ``bench/results/latest.json`` (every
number, plus the machine) and ``bench/results/latest.md`` (the tables).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: name -> (module, title). ``control``, ``envs`` and ``ros2`` belong to other parts of the
#: project and are skipped when their module (or, for ``ros2``, rclpy) is missing.
SECTIONS = {
    "export": ("bench.export_bench", "Export speed"),
    "runtime": ("bench.runtime_bench", "Runtime overhead"),
    "train": ("bench.train_bench", "Training speed against Stable-Baselines3"),
    "sb3": ("bench.sb3_bench", "Three tasks against Stable-Baselines3, and 1-to-2-core scaling"),
    "control": ("bench.control_bench", "Control loop and policy latency"),
    "envs": ("bench.envs_bench", "Simulator step rates"),
    "ros2": ("bench.ros2_bench", "ROS 2 round trip beside UDP"),
}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(),
    }
    for name in ("torch", "numpy", "gymnasium", "stable_baselines3"):
        try:
            info[name] = importlib.import_module(name).__version__
        except ImportError:
            info[name] = None
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def run_section(name: str, quick: bool, max_nodes: int | None) -> tuple[dict | None, str]:
    module_name, _ = SECTIONS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"[{name}] skipped: {exc}")
        return None, f"Skipped: `{module_name}` is not available ({exc})."
    runner: Callable[..., dict] = module.run
    kwargs: dict[str, Any] = {"quick": quick}
    if name == "export" and max_nodes:
        kwargs["max_nodes"] = max_nodes
    t0 = time.perf_counter()
    report = runner(**kwargs)
    report["bench_seconds"] = round(time.perf_counter() - t0, 1)
    formatter = getattr(module, "format_results", None)
    text = formatter(report) if formatter else "```json\n" + json.dumps(report, indent=2) + "\n```"
    print(f"[{name}] done in {report['bench_seconds']} s")
    return report, text


def markdown(info: dict[str, Any], sections: dict[str, str], quick: bool, argv: list[str]) -> str:
    sb3 = info.get("stable_baselines3") or "not installed"
    lines = [
        "# Benchmarks", "",
        "Command: `" + " ".join(["python", "-m", "bench", *argv]) + "`"
        + (" (quick: shorter runs)" if quick else ""),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['platform']}; Python "
        f"{info['python']}, torch {info['torch']}, numpy {info['numpy']}, gymnasium "
        f"{info['gymnasium']}, stable-baselines3 {sb3}; load average at start "
        f"{info.get('load_average_at_start')}.", "",
        "Each ratio compares two things measured in the same run.",
    ]
    for name, text in sections.items():
        lines += ["", f"## {SECTIONS[name][1]}", "", text]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="shorter runs (about 3 minutes on 2 cores)")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--max-nodes", type=int, help="largest generated graph to export")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for latest.json and latest.md")
    args = parser.parse_args(argv)
    names = list(SECTIONS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    info = machine()
    reports: dict[str, Any] = {}
    texts: dict[str, str] = {}
    t0 = time.perf_counter()
    for name in names:
        report, text = run_section(name, args.quick, args.max_nodes)
        reports[name] = report
        texts[name] = text
    result = {"command": ["python", "-m", "bench", *argv], "quick": args.quick,
              "machine": info, "seconds": round(time.perf_counter() - t0, 1),
              "results": reports}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "latest.md").write_text(markdown(info, texts, args.quick, argv))
    print(f"wrote {args.out / 'latest.json'} and {args.out / 'latest.md'} "
          f"({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
