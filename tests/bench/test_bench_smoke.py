"""``python -m bench`` runs and writes its results (the benchmarks themselves stay out of CI)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _export_bench():
    """bench/export_bench.py by path (``bench`` may name another package on sys.path)."""
    spec = importlib.util.spec_from_file_location("export_bench", ROOT / "bench/export_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_generated_graphs_have_the_asked_size() -> None:
    graph = _export_bench().graph
    for shape in ("chain", "tree"):
        for n in (10, 100):
            prompt = graph(n, shape)
            assert len(prompt) == n
            links = [v for node in prompt.values() for v in node["inputs"].values()
                     if isinstance(v, list)]
            assert all(src in prompt for src, _ in links)


def test_growth_exponent_recovers_a_power_law() -> None:
    growth_exponent = _export_bench().growth_exponent
    sizes = [100, 1_000, 10_000]
    assert math.isclose(growth_exponent(sizes, [2e-4 * n for n in sizes]), 1.0)
    assert math.isclose(growth_exponent(sizes, [1e-6 * n * n for n in sizes]), 2.0)
