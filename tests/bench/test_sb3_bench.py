"""bench/sb3_bench.py: a short real export run read back as the comparison reads it, and the
medians and ratios it reports (the SB3 runs themselves stay out of CI)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_that_never_reaches_the_target_counts_as_infinitely_slow(load_bench) -> None:
    bench = load_bench("sb3_bench")
    assert bench._median([100, None, 300]) == 300  # the None sorts last
    assert bench._median([100, None, None]) is None  # no finite median
    reached = bench._to_target({"sps": 50.0, "curve": [(10, 1.0), (20, 5.0), (30, 2.0)]}, 4.0)
    assert reached["steps_to_target"] == 20 and math.isclose(reached["s_to_target"], 0.4)
    assert bench._to_target({"sps": 50.0, "curve": [(10, 1.0)]}, 4.0)["s_to_target"] is None
    assert bench._ratio(3.0, 2.0) == 1.5 and bench._ratio(None, 2.0) is None


def test_the_export_side_trains_with_the_tasks_settings_and_is_read_back(
    tmp_path: Path, load_bench
) -> None:
    """The InvertedPendulum export with the continuous settings, a 2,048-step run through the
    bench's own command line: its --set values reach the run, its curve and rate read back."""
    bench = load_bench("sb3_bench")
    export_dir = bench._export("InvertedPendulum-v5", tmp_path)
    spec = bench.TASKS["InvertedPendulum-v5"]
    sets = {**spec["sets"], "PPO Trainer.horizon_length": 1024}
    args = bench._train_args(2048, 0, sets, "run")
    proc = subprocess.run(args, cwd=export_dir, env=bench._env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = bench._export_result(export_dir, "run")
    assert result["steps"] == 2048 and result["sps"] > 0
    assert [step for step, _ in result["curve"]] == [1024, 2048]
    hparams = (export_dir / "run/hparams.json").read_text()
    assert '"clip_vloss": false' in hparams and '"vf_coef": 1.0' in hparams
    assert '"num_envs": 1' in hparams
