"""The workflows DNNE itself saves, unchanged: each validates, exports and trains in a
subprocess with dnne_robot unimportable; the Franka ones on MuJoCo and on PyBullet."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnne_robot.cli.app import app

from .conftest import (
    CUSTOM_CODE,
    EXPORTABLE,
    FRANKA,
    SINUSOIDAL_CSV,
    WORKFLOWS,
    needs_shared,
    write_sinusoidal_exploration,
    write_tiny_datasets,
)

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


def franka_workflow(name: str, where: Path) -> Path:
    """The saved Franka workflow; Shadow_Train's copy sits beside a generated stand-in for
    the exploration CSV it streams (see ``write_sinusoidal_exploration``)."""
    if name != "Shadow_Train.json":
        return WORKFLOWS / name
    where.mkdir(parents=True, exist_ok=True)
    write_sinusoidal_exploration(where / SINUSOIDAL_CSV)
    return Path(shutil.copy(WORKFLOWS / name, where / name))


def losses_by_optimizer(run_dir: Path) -> dict[str, list[float]]:
    by: dict[str, list[float]] = defaultdict(list)
    with (run_dir / "losses.csv").open() as f:
        for row in csv.DictReader(f):
            by[row["optimizer"]].append(float(row["loss"]))
    return dict(by)


#: Optimizers (SGD nodes) of each Franka graph; the other two only stream and split.
FRANKA_OPTIMIZERS = {"Shadow_Train.json": {"15"}, "Franka_Coop_V2.json": {"40", "81"},
                     "Franka_Coop_Nodes.json": {"40", "49", "59", "81"}}


@pytest.mark.parametrize("sim", ["mujoco", pytest.param("pybullet", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", FRANKA)
def test_franka_workflows_train_with_falling_losses(name: str, sim: str, tmp_path: Path,
                                                    run_export) -> None:
    workflow = franka_workflow(name, tmp_path / "wf")
    code, output = cli("validate", str(workflow), "--sim", sim,
                       "--allow-custom-code", str(CUSTOM_CODE))
    assert code == 0 and not [ln for ln in output.splitlines() if ln.startswith("error")], output
    out = tmp_path / "out"
    code, output = cli("export", str(workflow), "-o", str(out), "--sim", sim,
                       "--allow-custom-code", str(CUSTOM_CODE))
    assert code == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"framework/envs/physics/{sim}.py" in manifest["framework"]
    assert "framework/envs/assets/franka/panda.xml" in manifest["framework"]
    summary = train(out, run_export, steps=300)
    assert summary["status"] == "done", summary
    optimizers = FRANKA_OPTIMIZERS.get(name, set())
    if not optimizers:
        assert not (out / summary["run_dir"] / "losses.csv").exists()
        return
    losses = losses_by_optimizer(out / summary["run_dir"])
    assert set(losses) == optimizers
    for node, values in losses.items():
        n = len(values) // 4
        assert n >= 15, (node, len(values))
        first, last = sum(values[:n]) / n, sum(values[-n:]) / n
        assert last < 0.7 * first, (node, first, last)


def test_franka_needs_an_engine_that_has_it(tmp_path: Path) -> None:
    code, output = cli("export", str(WORKFLOWS / "Split_Node_Test.json"), "-o",
                       str(tmp_path / "out"), "--sim", "gymnasium")
    assert code == 1 and "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert errors == ["error: node #50 'Isaac Gym Environment Config (50)' (IsaacGymEnvs), "
                      "field 'task': FrankaDNNE is not on --sim gymnasium; it runs on mujoco "
                      "and pybullet"], output


@pytest.mark.parametrize(("task", "nearest"), [("FrankaCubeStack", "FrankaDNNE"),
                                               ("BallBalance", "Pendulum")])
def test_isaac_only_tasks_name_the_nearest_task(task: str, nearest: str,
                                                tmp_path: Path) -> None:
    workflow = json.loads((WORKFLOWS / "Split_Node_Test.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "IsaacGymEnvs":
            node["widgets_values"][0] = task
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(workflow))
    code, output = cli("export", str(path), "-o", str(tmp_path / "out"), "--sim", "mujoco")
    assert code == 1
    assert f"field 'task': Isaac Gym task {task!r} runs on Isaac Gym only; the nearest task " \
           f"here: {nearest}" in output, output


def test_franka_schema_levels_are_checked(tmp_path: Path) -> None:
    workflow = json.loads((WORKFLOWS / "Split_Node_Test.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "IsaacGymEnvs":
            node["widgets_values"][1:3] = ["pick_place", "joint_vel"]
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(workflow))
    code, output = cli("export", str(path), "-o", str(tmp_path / "out"), "--sim", "mujoco")
    assert code == 1
    assert "field 'dynamic_1': subtask 'pick_place' of FrankaDNNE does not run here; " \
           "subtasks: random_target" in output
    assert "field 'dynamic_2': control type 'joint_vel' is not one of osc, joint_tor" in output


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
