"""The dnne-robot command line: exit codes, one-line errors, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from regen_golden import SCENARIOS_DIR
from typer.testing import CliRunner

from dnne_robot import __version__
from dnne_robot.cli.app import app
from dnne_robot.cli.errors import DEBUG

DATA = Path(__file__).parent / "data"

#: file -> (node id, field, words the error must contain)
BROKEN = {
    "unknown_type.json": ("3", "class_type", ["unknown node type 'PPOAgentNod'",
                                              "did you mean 'PPOAgentNode'"]),
    "missing_link.json": ("7", "done", ["missing required input"]),
    "dangling_link.json": ("3", "observations", ["missing required input"]),
    "bad_slot.json": ("3", "observations", ["output slot 3", "#2"]),
    "type_mismatch.json": ("7", "reward", ["type mismatch", "DICT", "TENSOR"]),
    "nan_widget.json": ("3", "learning_rate", ["finite"]),
    "unknown_isaac_task.json": ("1", "env_name", ["'Humanoid'", "CartPole", "Pendulum",
                                                  "Reach"]),
    "bad_hidden_sizes.json": ("3", "hidden_sizes", ["'abc'"]),
    "illegal_cycle.json": ("2", "input_b", ["feedback loop", "#2 ORNode", "#3 PPOAgentNode",
                                            "#5 IsaacGymStepNode"]),
}


@pytest.fixture
def cli() -> CliRunner:
    DEBUG["on"] = False
    return CliRunner()


def invoke(cli: CliRunner, *args: str):
    result = cli.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}")
    assert "Traceback" not in result.output
    return result


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_version(cli: CliRunner) -> None:
    result = invoke(cli, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"dnne-robot {__version__}"


def test_help_lists_commands(cli: CliRunner) -> None:
    result = invoke(cli, "--help")
    assert result.exit_code == 0
    for command in ("export", "validate", "nodes", "convert", "comfyui-pack"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["validate", "export"])
def test_malformed_json_names_file_line_and_column(cli: CliRunner, command: str,
                                                   tmp_path: Path) -> None:
    args = [command, DATA / "malformed.json"]
    if command == "export":
        args += ["-o", tmp_path / "out"]
    result = invoke(cli, *args)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert re.search(r"malformed\.json:2:\d+: invalid JSON", line), line
    assert not (tmp_path / "out").exists()


def test_missing_file(cli: CliRunner, tmp_path: Path) -> None:
    result = invoke(cli, "validate", tmp_path / "nope.json")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "nope.json" in line and line.startswith("error:")


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_names_the_node(cli: CliRunner, name: str) -> None:
    node_id, field, words = BROKEN[name]
    result = invoke(cli, "validate", DATA / name)
    assert result.exit_code == 1
    errors = error_lines(result.stderr)
    assert errors, result.stderr
    first = errors[0]
    assert first.startswith(f"error: node #{node_id} "), first
    assert f"field {field!r}" in first, first
    for word in words:
        assert word in first, first
    assert result.stderr.strip().splitlines()[-1].endswith(f"error(s) in {DATA / name}")


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_json_output(cli: CliRunner, name: str) -> None:
    node_id, field, _ = BROKEN[name]
    result = invoke(cli, "validate", DATA / name, "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    errors = [p for p in problems if p["severity"] == "error"]
    assert (errors[0]["node_id"], errors[0]["field"]) == (node_id, field)
    assert errors[0]["title"] and errors[0]["class_type"]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_export_refuses_with_the_same_problems(cli: CliRunner, name: str,
                                              tmp_path: Path) -> None:
    checked = invoke(cli, "validate", DATA / name)
    parent = tmp_path / "exports"
    parent.mkdir()
    result = invoke(cli, "export", DATA / name, "-o", parent / "pkg")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == error_lines(checked.stderr)
    assert "nothing was written" in result.stderr
    assert list(parent.iterdir()) == []


def test_scenarios_validate_cleanly(cli: CliRunner) -> None:
    for scenario in ("cartpole_ppo.json", "cartpole_ppo.api.json", "mlp_regression.json"):
        result = invoke(cli, "validate", SCENARIOS_DIR / scenario)
        assert result.exit_code == 0, result.stderr
        assert "no errors" in result.stderr


def test_export_success_and_force(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    result = invoke(cli, "export", SCENARIOS_DIR / "mlp_regression.json", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "exported 5 nodes" in result.stderr and (out / "runner.py").is_file()
    again = invoke(cli, "export", SCENARIOS_DIR / "mlp_regression.json", "-o", out)
    assert again.exit_code == 1
    (line,) = again.stderr.strip().splitlines()
    assert "--force" in line and line.startswith("error:")
    forced = invoke(cli, "export", SCENARIOS_DIR / "mlp_regression.json", "-o", out, "--force")
    assert forced.exit_code == 0


@pytest.mark.parametrize(("option", "value"), [("--sim", "isaac"), ("--backend", "slurm")])
def test_bad_choice_is_a_usage_error(cli: CliRunner, option: str, value: str,
                                     tmp_path: Path) -> None:
    result = invoke(cli, "export", SCENARIOS_DIR / "mlp_regression.json", "-o",
                    tmp_path / "pkg", option, value)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert value in line
    assert not (tmp_path / "pkg").exists()


def test_the_headline_command_works_as_written(cli: CliRunner, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`dnne-robot export wf.json --sim mujoco`: without -o the package goes to a folder named
    after the workflow, and the command says where and what to type next."""
    monkeypatch.chdir(tmp_path)
    result = invoke(cli, "export", SCENARIOS_DIR / "cartpole_ppo.json", "--sim", "mujoco")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "cartpole_ppo" / "runner.py").is_file()
    assert "to cartpole_ppo" in result.stderr
    assert "cd cartpole_ppo && python runner.py train" in result.stderr
    api = invoke(cli, "export", SCENARIOS_DIR / "cartpole_ppo.api.json")
    assert api.exit_code == 1 and "--force" in api.stderr  # same name: never overwritten


def test_an_ml_graph_without_its_trigger_wire_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    """Unwired, the data node sends one batch: the run would stop after 1 step and say done."""
    workflow = json.loads((SCENARIOS_DIR / "mlp_regression.json").read_text())
    data = next(n for n in workflow["nodes"] if n["type"] == "RegressionDataNode")
    trigger = next(i for i in data["inputs"] if i["name"] == "trigger")
    workflow["links"] = [lk for lk in workflow["links"] if lk[0] != trigger["link"]]
    for node in workflow["nodes"]:
        for output in node.get("outputs", []):
            output["links"] = [x for x in output.get("links") or [] if x != trigger["link"]]
    trigger["link"] = None
    path = tmp_path / "no_trigger.json"
    path.write_text(json.dumps(workflow))
    result = invoke(cli, "validate", path)
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert f"node #{data['id']}" in line and "field 'trigger'" in line and "step_done" in line


def test_a_misspelt_simulator_gets_a_suggestion(cli: CliRunner, tmp_path: Path) -> None:
    result = invoke(cli, "export", SCENARIOS_DIR / "cartpole_ppo.json", "--sim", "mujuco",
                    "-o", tmp_path / "p")
    assert result.exit_code == 2
    assert "Did you mean 'mujoco'?" in result.stderr


def test_output_under_a_file_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(cli, "export", SCENARIOS_DIR / "mlp_regression.json", "-o",
                    blocker / "pkg")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_export_warns_about_ignored_isaac_settings(cli: CliRunner, tmp_path: Path) -> None:
    """Only a setting changed from its default is worth a warning: the shipped scenario,
    which keeps Isaac Gym's defaults, exports without one."""
    shipped = invoke(cli, "export", SCENARIOS_DIR / "cartpole_ppo.json", "-o", tmp_path / "s",
                     "--sim", "mujoco")
    assert shipped.exit_code == 0 and "warning" not in shipped.stderr
    workflow = json.loads((SCENARIOS_DIR / "cartpole_ppo.json").read_text())
    env = next(n for n in workflow["nodes"] if n["type"] == "IsaacGymEnvNode")
    env["widgets_values"][6] = "flex"  # physics_engine
    changed = tmp_path / "flex.json"
    changed.write_text(json.dumps(workflow))
    result = invoke(cli, "export", changed, "-o", tmp_path / "p", "--sim", "mujoco")
    assert result.exit_code == 0
    assert "physics_engine" in result.stderr and "headless" not in result.stderr
    quiet = invoke(cli, "export", changed, "-o", tmp_path / "q", "--sim", "mujoco", "-q")
    assert "physics_engine" not in quiet.stderr


def test_convert_to_api(cli: CliRunner, tmp_path: Path) -> None:
    result = invoke(cli, "convert", SCENARIOS_DIR / "cartpole_ppo.json", "--to", "api")
    assert result.exit_code == 0
    prompt = json.loads(result.stdout)
    assert prompt["3"]["class_type"] == "PPOAgentNode"
    assert prompt["3"]["inputs"]["observations"] == ["2", 0]
    bad = invoke(cli, "convert", SCENARIOS_DIR / "cartpole_ppo.json", "--to", "ui")
    assert bad.exit_code == 2


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dnne_robot.cli.app", "validate", str(DATA / "malformed.json")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- nodes --json
#: FORMATS.md section 4, stream style: (required inputs, optional inputs, outputs) in order.
STREAM_STYLE = {
    "IsaacGymEnvNode": (
        [("env_name", "STRING"), ("num_envs", "INT"), ("isaac_gym_path", "STRING"),
         ("isaac_gym_envs_path", "STRING"), ("headless", "BOOLEAN"),
         ("device", ["cuda", "cpu"]), ("physics_engine", ["physx", "flex"])],
        [],
        [("sim_handle", "SIM_HANDLE"), ("observations", "TENSOR")],
    ),
    "IsaacGymStepNode": (
        [("sim_handle", "SIM_HANDLE"), ("actions", "ACTION")],
        [("trigger", "SYNC")],
        [("observations", "TENSOR"), ("rewards", "TENSOR"), ("done", "TENSOR"),
         ("info", "DICT"), ("next_observations", "TENSOR")],
    ),
    "ORNode": (
        [],
        [("input_a", "TENSOR"), ("input_b", "TENSOR"), ("input_c", "TENSOR")],
        [("output", "TENSOR")],
    ),
    "PPOAgentNode": (
        [("observations", "TENSOR"), ("hidden_sizes", "STRING"),
         ("activation", ["relu", "tanh", "elu"]), ("action_space", ["continuous", "discrete"]),
         ("action_dim", "INT"), ("learning_rate", "FLOAT")],
        [("deterministic", "BOOLEAN"), ("init_log_std", "FLOAT")],
        [("policy_output", "POLICY"), ("model", "MODEL")],
    ),
    "PPOTrainerNode": (
        [("state", "TENSOR"), ("policy_output", "POLICY"), ("reward", "TENSOR"),
         ("done", "TENSOR"), ("model", "MODEL"), ("horizon_length", "INT"),
         ("num_epochs", "INT"), ("minibatch_size", "INT"), ("gamma", "FLOAT"),
         ("gae_lambda", "FLOAT"), ("clip_param", "FLOAT"), ("value_coef", "FLOAT"),
         ("entropy_coef", "FLOAT"), ("learning_rate", "FLOAT"), ("max_grad_norm", "FLOAT"),
         ("checkpoint_enabled", "BOOLEAN"),
         ("checkpoint_trigger_type", ["epoch", "time", "best_metric"]),
         ("checkpoint_trigger_value", "STRING")],
        [],
        [("loss", "TENSOR"), ("training_complete", "SYNC")],
    ),
    "CartpoleActionNode": (
        [("policy", "POLICY"), ("max_push_effort", "FLOAT")],
        [],
        [("action", "ACTION")],
    ),
    "CartpoleRewardNode": (
        [("observations", "TENSOR"), ("reset_dist", "FLOAT"), ("invert_for_loss", "BOOLEAN")],
        [],
        [("reward_or_loss", "TENSOR"), ("done", "TENSOR"), ("info_dict", "DICT")],
    ),
    "LinearLayerNode": (
        [("input", "TENSOR"), ("output_size", "INT"), ("bias", "BOOLEAN"),
         ("activation", ["none", "relu", "tanh", "sigmoid"]), ("dropout", "FLOAT")],
        [],
        [("output", "TENSOR")],
    ),
}
ALSO_PRESENT = ("ActivationNode", "DropoutNode", "BatchNormNode", "NetworkNode")


@pytest.fixture(scope="module")
def object_info() -> dict:
    result = CliRunner().invoke(app, ["nodes", "--json"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_nodes_json_has_the_comfyui_shape(object_info: dict) -> None:
    assert object_info
    for name, info in object_info.items():
        assert set(info) >= {"input", "output", "output_name", "category", "display_name",
                             "name", "output_is_list", "input_order"}
        assert info["name"] == name
        assert set(info["input"]) == {"required", "optional"}
        for group in ("required", "optional"):
            assert list(info["input"][group]) == sorted(info["input_order"][group]) or set(
                info["input"][group]) == set(info["input_order"][group])
            for entry in info["input"][group].values():
                assert isinstance(entry, list) and len(entry) == 2
                type_entry, options = entry
                assert isinstance(type_entry, (str, list)) and isinstance(options, dict)
                if isinstance(type_entry, list):
                    assert options.get("default", type_entry[0]) in type_entry
        assert len(info["output"]) == len(info["output_name"]) == len(info["output_is_list"])
        assert info["category"].startswith("dnne-robot/")
        assert isinstance(info["display_name"], str) and info["display_name"]


@pytest.mark.parametrize("name", sorted(STREAM_STYLE))
def test_stream_style_nodes_have_exactly_the_dnne_ports(object_info: dict, name: str) -> None:
    required, optional, outputs = STREAM_STYLE[name]
    info = object_info[name]
    got_required = [(n, info["input"]["required"][n][0]) for n in info["input_order"]["required"]]
    assert got_required == required
    got_optional = [(n, info["input"]["optional"][n][0]) for n in info["input_order"]["optional"]]
    assert got_optional[: len(optional)] == optional  # dnne-robot may add optional extras
    assert list(zip(info["output_name"], info["output"], strict=True)) == outputs


@pytest.mark.parametrize("name", ALSO_PRESENT)
def test_other_dnne_layer_nodes_exist(object_info: dict, name: str) -> None:
    assert object_info[name]["output_name"] == ["output"]
    assert "input" in object_info[name]["input"]["required"]


def test_nodes_table(cli: CliRunner) -> None:
    result = invoke(cli, "nodes")
    assert result.exit_code == 0
    assert "PPOAgentNode" in result.stdout


def test_nodes_type_describes_one_type_and_why_a_setting_is_ignored(cli: CliRunner) -> None:
    result = invoke(cli, "nodes", "IsaacGymEnvs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "IsaacGymEnvs (Isaac Gym Environment Config), robotics, DNNE's node"
    sim_device = lines.index(next(ln for ln in lines if ln.startswith("  sim_device: STRING")))
    assert lines[sim_device + 1].strip().startswith("no effect here: ")
    widgets = [ln.split(":")[0].strip() for ln in lines if ln.startswith("  ") and ln[2] != " "]
    assert widgets[:3] == ["task", "dynamic_1", "dynamic_2"]  # widgets_values order
    one = json.loads(invoke(cli, "nodes", "Barrier", "--json").stdout)
    assert list(one) == ["Barrier"] and one["Barrier"]["display_name"] == "Barrier"


def test_nodes_unknown_type_suggests_a_close_one(cli: CliRunner) -> None:
    result = invoke(cli, "nodes", "PPOConfg")
    assert result.exit_code == 1
    assert "no node type 'PPOConfg'; did you mean 'PPOConfig'?" in result.output


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    from dnne_robot.workflow import WorkflowFormatError

    try:
        result = CliRunner().invoke(app, ["--debug", "validate", str(DATA / "malformed.json")])
    finally:
        DEBUG["on"] = False
    assert isinstance(result.exception, WorkflowFormatError)


HOSTILE_NAME = "x\x1b[2J\nerror: forged.json"


def test_a_hostile_file_name_never_reaches_the_terminal_raw(cli: CliRunner, tmp_path: Path) -> None:
    """Escape sequences and a newline in the workflow's own name are printed escaped: no line
    the file name forged, no terminal control (validate's summary, errors, the -o message)."""
    good = tmp_path / HOSTILE_NAME
    good.write_bytes((SCENARIOS_DIR / "cartpole_ppo.json").read_bytes())
    bad = tmp_path / "bad\x1b[31m.json"
    bad.write_text("{")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    outputs = [
        invoke(cli, "validate", good).output,
        invoke(cli, "validate", bad).output,
        invoke(cli, "export", good, "-o", tmp_path / "out").output,
        invoke(cli, "export", bad, "-o", tmp_path / "out2").output,
    ]
    for output in outputs:
        assert "\x1b" not in output
        assert not any(line.startswith("error: forged") for line in output.splitlines())
    assert "x\\x1b[2J\\nerror: forged.json: 7 nodes, no errors" in outputs[0]
    assert "exists and is not an export dnne-robot wrote" in outputs[2]


def test_validate_json_reports_an_unreadable_file_as_json(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[31m.json"
    bad.write_text("{")
    result = invoke(cli, "validate", "--json", bad)
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)
    assert problem["severity"] == "error" and "invalid JSON" in problem["message"]
    assert problem["path"] == str(bad)  # JSON escapes the control character itself
    assert "\x1b" not in result.stdout
