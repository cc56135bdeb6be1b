"""Exported packages run on their own: dnne_robot is made unimportable in every run here."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CARTPOLE = "cartpole_ppo.json"
CARTPOLE_API = "cartpole_ppo.api.json"
MLP = "mlp_regression.json"
RANDOM_CARTPOLE_RETURN = 22.0

Export = Callable[[str, str], Path]
Run = Callable[..., subprocess.CompletedProcess]


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="session")
def cartpole_run(
    exported: Export, run_export: Run, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A short CartPole training run on gymnasium: (export dir, run dir)."""
    export_dir = exported(CARTPOLE, "gymnasium")
    run_dir = tmp_path_factory.mktemp("cartpole_run")
    _ok(
        run_export(
            export_dir,
            "train",
            "--steps",
            "15000",
            "--seed",
            "0",
            "--run-dir",
            str(run_dir),
            "--no-progress",
        )
    )
    return export_dir, run_dir


def test_the_isolation_really_hides_dnne_robot(tmp_path: Path, run_export: Run) -> None:
    script = tmp_path / "probe.py"
    script.write_text("import dnne_robot\n")
    proc = run_export(tmp_path, script=str(script))
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def test_help_lists_the_commands(exported: Export, run_export: Run) -> None:
    out = _ok(run_export(exported(CARTPOLE, "gymnasium"), "--help")).stdout
    for command in ("train", "evaluate", "export-policy"):
        assert command in out


def test_mlp_regression_loss_falls(exported: Export, run_export: Run, tmp_path: Path) -> None:
    proc = _ok(
        run_export(
            exported(MLP, "gymnasium"),
            "train",
            "--steps",
            "300",
            "--seed",
            "0",
            "--run-dir",
            str(tmp_path),
            "--no-progress",
        )
    )
    summary = _summary(tmp_path)
    assert summary["status"] == "done" and summary["steps"] == 300
    assert summary["final_loss"] < summary["first_loss"] / 5, summary
    assert "summary: " in proc.stdout
    assert list((tmp_path / "checkpoints").glob("*.pt"))


def test_cartpole_learns_on_gymnasium(cartpole_run: tuple[Path, Path]) -> None:
    _, run_dir = cartpole_run
    summary = _summary(run_dir)
    assert summary["status"] == "done" and summary["steps"] >= 15000
    assert summary["recent_return"] > 40 > 1.5 * RANDOM_CARTPOLE_RETURN, summary
    assert (run_dir / "policy.pt").is_file()


def test_evaluate_prints_one_json_object(cartpole_run: tuple[Path, Path], run_export: Run) -> None:
    export_dir, run_dir = cartpole_run
    proc = _ok(
        run_export(export_dir, "evaluate", "--episodes", "2", "--json", "--run-dir", str(run_dir))
    )
    (line,) = proc.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["episodes"] == 2
    assert isinstance(result["mean_return"], float) and isinstance(result["std_return"], float)
    assert result["mean_return"] > RANDOM_CARTPOLE_RETURN


def test_export_policy_writes_a_loadable_file(
    cartpole_run: tuple[Path, Path], run_export: Run, tmp_path: Path
) -> None:
    export_dir, run_dir = cartpole_run
    out = tmp_path / "policy.pt"
    proc = _ok(run_export(export_dir, "export-policy", "--run-dir", str(run_dir), "-o", str(out)))
    assert out.is_file() and "parity" in proc.stdout


@pytest.mark.parametrize("sim", ["mujoco", "pybullet"])
def test_cartpole_trains_on_other_engines(
    exported: Export, run_export: Run, sim: str, tmp_path: Path
) -> None:
    pytest.importorskip(sim)
    _ok(
        run_export(
            exported(CARTPOLE_API, sim),
            "train",
            "--steps",
            "3000",
            "--run-dir",
            str(tmp_path),
            "--no-progress",
            "--no-export-policy",
        )
    )
    summary = _summary(tmp_path)
    assert summary["status"] == "done" and summary["steps"] >= 3000


def test_trace_has_every_node_with_compute_time(
    exported: Export, run_export: Run, tmp_path: Path
) -> None:
    export_dir = exported(MLP, "gymnasium")
    trace = tmp_path / "t.json"
    proc = _ok(
        run_export(
            export_dir,
            "train",
            "--steps",
            "30",
            "--trace",
            str(trace),
            "--run-dir",
            str(tmp_path / "run"),
            "--no-progress",
        )
    )
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    compute: dict[str, float] = {}
    for e in events:
        if e["ph"] == "X" and e["name"] == "compute":
            compute[tracks[e["tid"]]] = compute.get(tracks[e["tid"]], 0.0) + e["dur"]
    manifest = json.loads((export_dir / "manifest.json").read_text())
    for node_id, node in manifest["nodes"].items():
        label = next((t for t in compute if t.startswith(f"#{node_id} ")), None)
        assert label is not None, f"node #{node_id} missing from the trace"
        assert node["title"] in label
        assert compute[label] > 0
    assert "compute s" in proc.stdout  # --trace also prints the per-node table


def test_debug_queues_prints_depths(exported: Export, run_export: Run, tmp_path: Path) -> None:
    proc = _ok(
        run_export(
            exported(MLP, "gymnasium"),
            "train",
            "--steps",
            "200",
            "--debug-queues",
            "0.01",
            "--run-dir",
            str(tmp_path),
            "--no-progress",
        )
    )
    lines = [line for line in proc.stderr.splitlines() if "queues #" in line]
    assert any("'Trainer'" in line and "'predictions':" in line for line in lines), proc.stderr
    assert any("final queues" in line for line in lines)


def test_ctrl_c_stops_training_with_a_checkpoint(
    exported: Export, isolated_command: tuple[list[str], dict], tmp_path: Path
) -> None:
    export_dir = exported(MLP, "gymnasium")
    prefix, env = isolated_command
    proc = subprocess.Popen(
        [
            *prefix,
            "runner.py",
            "train",
            "--steps",
            "100000000",
            "--run-dir",
            str(tmp_path),
            "--debug-queues",
            "0.05",
            "--no-progress",
        ],
        cwd=export_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    seen = []
    while True:  # the depth lines start once the graph runs
        line = proc.stderr.readline()
        seen.append(line)
        if "queues #" in line:
            break
        if not line or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("runner never started: " + "".join(seen))
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("runner did not stop on SIGINT")
    assert proc.returncode not in (0, None)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted: checkpoint written" in err
    assert _summary(tmp_path)["status"] == "interrupted"
    assert list((tmp_path / "checkpoints").glob("*.pt"))


def test_runner_errors_are_one_line(exported: Export, run_export: Run, tmp_path: Path) -> None:
    proc = run_export(
        exported(CARTPOLE, "gymnasium"), "evaluate", "--run-dir", str(tmp_path / "empty")
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: no checkpoint")


def test_a_backend_the_export_lacks_says_how_to_get_it(exported: Export, run_export: Run,
                                                        tmp_path: Path) -> None:
    """A local-backend export carries no Ray code: --backend ray says how to add it."""
    export_dir = exported(CARTPOLE, "gymnasium")
    assert not (export_dir / "framework" / "distributed").exists()
    proc = run_export(export_dir, "train", "--backend", "ray", "--steps", "64",
                      "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "exported without it" in line and "dnne-robot export --backend ray" in line
    proc = run_export(export_dir, "train", "--workers", "2", "--steps", "64",
                      "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2 and "--workers" in proc.stderr  # not an option of this export
