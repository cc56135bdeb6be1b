"""The workflows DNNE itself saves, unchanged: each validates, exports and trains in a
subprocess with dnne_robot unimportable; the Franka ones are refused with one clear error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnne_robot.cli.app import app

from .conftest import CUSTOM_CODE, EXPORTABLE, FRANKA, WORKFLOWS, needs_shared, write_tiny_datasets

pytestmark = needs_shared
ENGINES = ("gymnasium", "mujoco", "pybullet")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def export(name: str, out: Path, sim: str) -> Path:
    code, output = cli("export", str(WORKFLOWS / name), "-o", str(out), "--sim", sim,
                       "--allow-custom-code", str(CUSTOM_CODE))
    assert code == 0, output
    write_tiny_datasets(out / "data")
    return out


def train(out: Path, run_export, steps: int = 40) -> dict:
    proc: subprocess.CompletedProcess = run_export(out, "train", "--steps", str(steps),
                                                   "--no-progress", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("summary: "))
    return json.loads(line.removeprefix("summary: "))


def test_every_saved_workflow_is_covered() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.json")) == sorted(FRANKA + EXPORTABLE)


@pytest.mark.parametrize("name", EXPORTABLE)
def test_validates_without_errors(name: str) -> None:
    code, output = cli("validate", str(WORKFLOWS / name), "--allow-custom-code", str(CUSTOM_CODE))
    assert code == 0, output
    assert not [line for line in output.splitlines() if line.startswith("error")], output


@pytest.mark.parametrize("name", EXPORTABLE)
def test_exports_and_trains(name: str, tmp_path: Path, run_export) -> None:
    summary = train(export(name, tmp_path / "out", "gymnasium"), run_export)
    assert summary["status"] == "done", summary


@pytest.mark.parametrize("sim", ENGINES[1:])
def test_cartpole_ppo_trains_on_every_engine(sim: str, tmp_path: Path, run_export) -> None:
    out = export("Cartpole_PPO.json", tmp_path / sim, sim)
    summary = train(out, run_export, steps=2048)
    assert summary["status"] == "done" and summary["steps"] >= 2048, summary
    assert (out / summary["policy"]).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["framework"].keys() >= {f"framework/envs/physics/{sim}.py"}


@pytest.mark.slow
@pytest.mark.parametrize("sim", ENGINES[1:])
@pytest.mark.parametrize("name", EXPORTABLE)
def test_exports_and_trains_on_every_engine(name: str, sim: str, tmp_path: Path,
                                            run_export) -> None:
    summary = train(export(name, tmp_path / "out", sim), run_export)
    assert summary["status"] == "done", summary


@pytest.mark.parametrize("name", FRANKA)
def test_franka_workflows_are_refused_by_their_task_node(name: str, tmp_path: Path) -> None:
    workflow = json.loads((WORKFLOWS / name).read_text())
    task_nodes = {str(n["id"]) for n in workflow["nodes"] if n["type"] == "IsaacGymEnvs"
                  and n["widgets_values"][0] == "FrankaDNNE"}
    assert task_nodes
    code, output = cli("export", str(WORKFLOWS / name), "-o", str(tmp_path / "out"),
                       "--allow-custom-code", str(CUSTOM_CODE))
    assert code == 1
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    task_errors = [e for e in errors if "field 'task'" in e and "FrankaDNNE" in e]
    assert {e.split("#")[1].split(" ")[0] for e in task_errors} == task_nodes, output
    # Shadow_Train streams a CSV that is not among the shared files: that is said too.
    missing = [e for e in errors if e not in task_errors]
    assert all("field 'src_path'" in e and "not found" in e for e in missing), output
    assert len(missing) == (name == "Shadow_Train.json")
    assert not (tmp_path / "out").exists()


def test_torchvision_is_required_only_to_download(tmp_path: Path) -> None:
    """The data sets are read from their files; torchvision only downloads missing ones."""
    mnist = export("MNIST_Test.json", tmp_path / "mnist", "gymnasium")
    assert "torchvision>=0.19" in (mnist / "requirements.txt").read_text().splitlines()
    barrier = export("Barrier_Test.json", tmp_path / "barrier", "gymnasium")
    assert "torchvision" not in (barrier / "requirements.txt").read_text()
    workflow = json.loads((WORKFLOWS / "MNIST_Test.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "MNISTDataset":
            node["widgets_values"][2] = False  # download off
    offline = tmp_path / "offline.json"
    offline.write_text(json.dumps(workflow))
    code, output = cli("export", str(offline), "-o", str(tmp_path / "offline"))
    assert code == 0, output
    assert "torchvision" not in (tmp_path / "offline" / "requirements.txt").read_text()
