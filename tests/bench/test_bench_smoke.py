"""``python -m bench`` runs and writes its results (the benchmarks themselves stay out of CI)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_export_section_writes_json_and_markdown(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "export", "--max-nodes", "100",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "latest.json").read_text())
    assert result["machine"]["cores"] and result["machine"]["torch"]
    rows = result["results"]["export"]["rows"]
    assert {(r["shape"], r["optimize"], r["nodes"]) for r in rows} >= {("chain", False, 100),
                                                                       ("tree", False, 100)}
    assert all(r["total_s"] > 0 for r in rows)
    table = (tmp_path / "latest.md").read_text()
    assert "| chain | 100 |" in table and "Machine:" in table


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "--only", "nope", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown section" in proc.stderr


def test_generated_graphs_have_the_asked_size(load_bench) -> None:
    graph = load_bench("export_bench").graph
    for shape in ("chain", "tree"):
        for n in (10, 100):
            prompt = graph(n, shape)
            assert len(prompt) == n
            links = [v for node in prompt.values() for v in node["inputs"].values()
                     if isinstance(v, list)]
            assert all(src in prompt for src, _ in links)


def test_growth_exponent_recovers_a_power_law(load_bench) -> None:
    growth_exponent = load_bench("export_bench").growth_exponent
    sizes = [100, 1_000, 10_000]
    assert math.isclose(growth_exponent(sizes, [2e-4 * n for n in sizes]), 1.0)
    assert math.isclose(growth_exponent(sizes, [1e-6 * n * n for n in sizes]), 2.0)


def test_c_policy_rows_build_check_and_time_the_c_policy(tmp_path: Path, monkeypatch) -> None:
    """The C rows of the policy latency table run; no speed is asserted (that is the bench's
    job), only that every build matches the eager actor and reports its numbers."""
    import numpy as np
    import torch

    monkeypatch.syspath_prepend(str(ROOT))
    from bench.c_policy_bench import c_policy_rows
    from bench.control_bench import _as_deploy_calls, _time_calls, format_c_rows
    from dnne_robot.rl import ActionSpec, ActorCritic, DeployPolicy

    torch.manual_seed(0)
    policy = ActorCritic(3, ActionSpec.continuous(-1.0, 1.0, 2), hidden_sizes=(8, 8))
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    eager = _as_deploy_calls(DeployPolicy(policy).eval())
    c = c_policy_rows(policy, obs, 200, tmp_path, _time_calls, eager, rounds=2)
    assert [b["flags"] for b in c["builds"]] == ["-O2", "-O2 -march=native"]
    for build in c["builds"]:
        assert build["parity_max_abs_diff"] < 1e-5
        assert build["loop"]["errors"] == 0 and build["loop"]["p50_us"] > 0
        assert build["ctypes"]["p50_us"] > 0 and build["loop_over_eager"] > 0
        assert build["text_bytes"] > 0 and build["rodata_bytes"] >= 4 * c["parameters"]
    table = format_c_rows([{"policy": "8x8", "c": c}])
    assert table[-3].startswith("8x8      -O2 -march=native")


def test_ros2_bench_measures_both_transports_briefly(ros_domain: int) -> None:
    """bench/ros2_bench.py: a 0.3 s row per transport at 100 Hz, discovery on localhost."""
    spec = importlib.util.spec_from_file_location("ros2_bench", ROOT / "bench/ros2_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for measure, transport in ((module.measure_udp, "udp"), (module.measure_ros2, "ros2")):
        row = measure(100.0, 0.3)
        assert row["transport"] == transport and row["states"] >= 10, row
        assert row["states"] - row["lost"] >= 5 and row["p50_ms"] > 0, row
    assert "added p99" in module.format_results({
        "seconds_per_row": 0.3, "cpus": 2, "load_avg_1min": 0.0,
        "rows": [{**row, "added_p99_ms": 0.0}]})
