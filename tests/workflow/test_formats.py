"""Every input format reads into the same model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnne_robot.workflow import Link, WorkflowFormatError, load_workflow, read_workflow

from .catalog_stub import widgets
from .conftest import DATA, load_json, shape
from .helpers import inp, node, out, ui


def test_stream_style_reads_the_same_from_ui04_ui1_and_api() -> None:
    ui04 = load_workflow(DATA / "dnne_stream_ui04.json", widgets=widgets)
    ui1 = load_workflow(DATA / "dnne_stream_ui1.json", widgets=widgets)
    api = load_workflow(DATA / "dnne_stream_api.json")
    assert (ui04.source_format, ui1.source_format, api.source_format) == ("ui-0.4", "ui-1", "api")
    assert shape(ui04) == shape(ui1) == shape(api)
    assert ui04.repairs == ui1.repairs == api.repairs == []
    assert ui1.notes == []  # v1 reroutes and link parentId are visual only


def test_stream_style_links_and_widgets_by_name() -> None:
    wf = load_workflow(DATA / "dnne_stream_ui04.json", widgets=widgets)
    assert list(wf.nodes) == ["1", "2", "3", "4", "5", "6", "7"]
    trainer = wf.nodes["7"]
    assert trainer.title == "PPO Trainer"
    assert trainer.inputs["done"] == Link("6", 1, "7", "done", "TENSOR", 12)
    assert trainer.inputs["gamma"] == 0.99
    assert trainer.inputs["checkpoint_trigger_value"] == "100"
    # the control loop: the OR node takes the env's first and the step's next observation
    assert wf.nodes["2"].inputs == {
        "input_a": Link("1", 1, "2", "input_a", "TENSOR", 2),
        "input_b": Link("5", 4, "2", "input_b", "TENSOR", 9),
    }
    assert wf.nodes["4"].title == "CartpoleActionNode"  # no title in the file: the class type
    assert wf.nodes["7"].output_types == ["TENSOR", "SYNC"]
    assert wf.nodes["7"].input_types["model"] == "MODEL"


def test_without_a_lookup_stream_widgets_stay_unnamed() -> None:
    wf = load_workflow(DATA / "dnne_stream_ui04.json")
    env = wf.nodes["1"]
    assert env.extra_widgets == ["Cartpole", 16, "", "", True, "cpu", "physx"]
    assert "env_name" not in env.inputs
    assert any("#1 'Isaac Gym Env' (IsaacGymEnvNode)" in n and "unnamed" in n for n in wf.notes)


def test_compact_style_names_widgets_from_inputs() -> None:
    wf = load_workflow(DATA / "dnne_compact_ui04.json")  # no lookup needed
    env = wf.nodes["25"]
    # seed is followed by a *real* COMBO widget holding "fixed": it must not be skipped
    assert env.inputs["seed"] == 42
    assert env.inputs["seed_control"] == "fixed"
    assert env.inputs["headless"] is True
    agent = wf.nodes["26"]
    assert list(agent.inputs)[:7] == [
        "max_iterations",
        "checkpoint_interval",
        "eval_interval",
        "eval_episodes",
        "log_interval",
        "save_path",
        "resume_from",
    ]
    assert agent.inputs["env_config"] == Link(
        "25", 0, "26", "env_config", "ISAAC_ENV_CONFIG_PYDICT", 31
    )
    assert agent.inputs["balancing_config"].source == "28"
    assert wf.notes == [] and wf.repairs == []


def test_prompt_payload_reconciles_with_its_embedded_workflow() -> None:
    wf = load_workflow(DATA / "prompt_payload.json", widgets=widgets)
    assert wf.source_format == "api"
    trainer = wf.nodes["7"].inputs
    assert (trainer["done"].source, trainer["done"].source_slot) == ("6", 1)
    assert (trainer["model"].source, trainer["model"].source_slot) == ("3", 1)
    assert (trainer["reward"].source, trainer["reward"].source_slot) == ("6", 0)
    by_input = {r.target_input: r for r in wf.repairs}
    assert set(by_input) == {"done", "model", "reward"}
    done = by_input["done"]
    assert (done.link_id, done.source, done.target, done.field, done.old, done.new) == (
        12,
        "6",
        "7",
        "source_slot",
        0,
        1,
    )
    model = by_input["model"]
    assert (model.link_id, model.field, model.old, model.new) == (10, "source", ["2", 0], ["3", 1])
    reward = by_input["reward"]
    assert (reward.link_id, reward.old, reward.new) == (11, None, ["6", 0])
    assert "restored from the UI workflow" in reward.reason
    # an API link the UI does not have is reported, not silently kept or dropped
    assert isinstance(wf.nodes["4"].inputs["max_push_effort"], Link)
    assert any("max_push_effort" in n and "no counterpart" in n for n in wf.notes)
    # what is left equals the clean prompt, apart from the extra link
    clean = load_workflow(DATA / "dnne_stream_api.json")
    fixed = shape(wf)
    fixed["4"][2]["max_push_effort"] = ("value", 10.0)
    assert fixed == shape(clean)


def test_explicit_ui_workflow_reconciles_an_api_prompt(tmp_path: Path) -> None:
    payload = load_json("prompt_payload.json")
    api_file = tmp_path / "api.json"
    api_file.write_text(json.dumps(payload["prompt"]), encoding="utf-8")
    plain = load_workflow(api_file)
    assert plain.repairs == [] and plain.nodes["7"].inputs["done"].source_slot == 0
    wf = load_workflow(api_file, ui_workflow=DATA / "dnne_stream_ui04.json", widgets=widgets)
    assert {r.target_input for r in wf.repairs} == {"done", "model", "reward"}
    assert wf.path == str(api_file)


def test_ui_workflow_repairs_are_carried_into_the_reconciled_prompt() -> None:
    ui_data = load_json("repairs_ui04.json")
    prompt = {
        "26": {
            "class_type": "PPOAgent",
            "inputs": {"env_config": ["25", 0], "ppo_config": ["27", 0]},
        },
        "25": {"class_type": "IsaacGymEnvs", "inputs": {}},
        "27": {"class_type": "PPOConfig", "inputs": {}},
        "28": {"class_type": "BalancerConfig", "inputs": {}},
    }
    wf = read_workflow(prompt, ui_data=ui_data)
    assert wf.nodes["26"].inputs["balancing_config"].source == "28"
    assert any(r.reason.startswith("UI workflow: ") for r in wf.repairs)
    assert wf.duplicate_ids == ["28"]


def test_explicit_ui_workflow_must_be_a_ui_file(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_ui.json"
    wrong.write_text(json.dumps(load_json("dnne_stream_api.json")), encoding="utf-8")
    with pytest.raises(WorkflowFormatError) as err:
        load_workflow(DATA / "dnne_stream_api.json", ui_workflow=wrong)
    assert str(err.value).startswith(f"{wrong}: ")


def test_broken_embedded_workflow_is_a_note_not_an_error() -> None:
    payload = load_json("prompt_payload.json")
    payload["extra_data"]["extra_pnginfo"]["workflow"] = {"nodes": "oops"}
    wf = read_workflow(payload, path="p.json")
    assert wf.repairs == []
    assert any("embedded UI workflow" in n and "'nodes' must be a list" in n for n in wf.notes)


def test_prompt_with_top_level_workflow_copy() -> None:
    payload = load_json("prompt_payload.json")
    data = {
        "prompt": payload["prompt"],
        "workflow": payload["extra_data"]["extra_pnginfo"]["workflow"],
    }
    wf = read_workflow(data, widgets=widgets)
    assert {r.target_input for r in wf.repairs} == {"done", "model", "reward"}


def test_ui_workflow_argument_is_ignored_for_a_ui_file() -> None:
    wf = load_workflow(DATA / "dnne_compact_ui04.json", ui_workflow=DATA / "dnne_stream_ui04.json")
    assert any("ui_workflow ignored" in n for n in wf.notes)


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    raw = (DATA / "dnne_stream_api.json").read_bytes()
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + raw)
    assert shape(load_workflow(bom)) == shape(load_workflow(DATA / "dnne_stream_api.json"))


def test_api_duplicate_ids_are_reported_not_silently_merged(tmp_path: Path) -> None:
    text = (
        '{"1": {"class_type": "A", "inputs": {}},\n'
        ' "2": {"class_type": "B", "inputs": {"x": ["1", 0]}},\n'
        ' "1": {"class_type": "C", "inputs": {}}}'
    )
    path = tmp_path / "dup.json"
    path.write_text(text, encoding="utf-8")
    wf = load_workflow(path)
    assert wf.duplicate_ids == ["1"]
    assert wf.nodes["1"].class_type == "A"  # the first is kept, as for UI files
    assert list(wf.nodes) == ["1", "2"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # an API prompt: ComfyUI would train with lr 0.001, a first-wins reader with 0.0
        ('{"1": {"class_type": "A", "inputs": {"lr": 0.0, "n": 1, "lr": 0.001}}}',
         [("1", "inputs.lr")]),
        ('{"1": {"class_type": "A", "class_type": "B", "inputs": {}}}', [("1", "class_type")]),
        # a UI file: a node's title twice, and a file-level key twice
        ('{"nodes": [{"id": 7, "type": "A", "title": "x", "title": "y", "inputs": [],'
         ' "outputs": []}], "links": [], "links": []}', [(None, "links"), ("7", "title")]),
    ],
)
def test_a_key_written_twice_is_an_error_naming_the_node_and_key(
    tmp_path: Path, text: str, where: list
) -> None:
    path = tmp_path / "dup.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowFormatError) as caught:
        load_workflow(path)
    errors = getattr(caught.value, "errors", [caught.value])
    assert [(e.node_id, e.field) for e in errors] == where
    assert all("appears more than once" in str(e) and "keep one" in str(e) for e in errors)


def test_ui_duplicate_ids_keep_the_first() -> None:
    wf = load_workflow(DATA / "repairs_ui04.json")
    assert wf.duplicate_ids == ["28"]
    assert wf.nodes["28"].title == "Balancer Config (28)"


def test_node_ids_are_strings_whether_the_file_has_ints_or_strings() -> None:
    data = ui(
        [
            node(
                "env",
                "IsaacGymEnvNode",
                [],
                [out("sim_handle", "SIM_HANDLE"), out("observations", "TENSOR", [1])],
            ),
            node(7.0, "PPOAgentNode", [inp("observations", "TENSOR", 1)]),
        ],
        [[1, "env", 1, 7, 0, "TENSOR"]],
    )
    wf = read_workflow(data)
    assert list(wf.nodes) == ["env", "7"]
    assert wf.nodes["7"].inputs["observations"] == Link("env", 1, "7", "observations", "TENSOR", 1)


@pytest.mark.parametrize(
    "title",
    ['say "hi"\'', "line one\nline two\r\n\x00", "🤖 robot ✓", "x" * 100_000, "", "\u202e"],
)
def test_hostile_titles_are_stored_as_is(title: str) -> None:
    ui_wf = read_workflow(ui([node(1, "PPOAgentNode", title=title)], []))
    api_wf = read_workflow(
        {"1": {"class_type": "PPOAgentNode", "inputs": {}, "_meta": {"title": title}}}
    )
    assert ui_wf.nodes["1"].title == title
    assert api_wf.nodes["1"].title == title


def test_class_type_key_is_accepted_in_ui_nodes() -> None:
    data = ui([{"id": 1, "class_type": "ORNode", "inputs": [], "outputs": []}], [])
    assert read_workflow(data).nodes["1"].class_type == "ORNode"


def test_api_list_widget_values_unwrap() -> None:
    wf = read_workflow(
        {
            "1": {
                "class_type": "X",
                "inputs": {
                    "sizes": {"__value__": [64, 64]},
                    "pair": {"__value__": ["2", 0]},
                    "link": ["2", 0],
                    "not_a_link": [2, 0],
                    "three": ["2", 0, 1],
                },
            },
            "2": {"class_type": "Y", "inputs": {}},
        }
    )
    inputs = wf.nodes["1"].inputs
    assert inputs["sizes"] == [64, 64]
    assert inputs["pair"] == ["2", 0]  # a literal list that merely looks like a link
    assert inputs["link"] == Link("2", 0, "1", "link")
    assert inputs["not_a_link"] == [2, 0]  # ComfyUI's rule: the source id must be a string
    assert inputs["three"] == ["2", 0, 1]


def test_api_link_to_a_missing_node_is_left_out_and_noted() -> None:
    wf = read_workflow({"1": {"class_type": "X", "inputs": {"a": ["9", 0], "b": 3}}})
    assert wf.nodes["1"].inputs == {"b": 3}
    assert any("missing node #9" in n for n in wf.notes)


def test_api_float_slot_is_accepted_when_integral() -> None:
    wf = read_workflow(
        {
            "1": {"class_type": "X", "inputs": {}},
            "2": {"class_type": "Y", "inputs": {"a": ["1", 1.0]}},
        }
    )
    assert wf.nodes["2"].inputs["a"].source_slot == 1


def test_empty_workflows_are_empty_graphs() -> None:
    wf = read_workflow(ui([], []))
    assert wf.nodes == {} and wf.source_format == "ui-0.4"
    api = read_workflow({})
    assert api.nodes == {} and api.notes == ["the workflow has no nodes"]


def test_reconcile_keeps_the_prompt_link_when_the_ui_source_is_not_in_the_prompt() -> None:
    payload = load_json("prompt_payload.json")
    ui_data = payload["extra_data"]["extra_pnginfo"]["workflow"]
    ui_data["nodes"][5]["id"] = 66  # the reward node has another id in the UI copy
    for link in ui_data["links"]:
        for end in (1, 3):
            if link[end] == 6:
                link[end] = 66
    wf = read_workflow(payload, widgets=widgets)
    assert (wf.nodes["7"].inputs["done"].source, wf.nodes["7"].inputs["done"].source_slot) == (
        "6",
        0,
    )
    assert any("which the API prompt lacks" in n for n in wf.notes)


def test_only_regular_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO would block forever and /dev/zero would fill memory: both refused unread."""
    import os

    from dnne_robot.workflow import json_source

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(WorkflowFormatError, match="is a FIFO, not a workflow file"):
        load_workflow(fifo)
    with pytest.raises(WorkflowFormatError, match="is a device, not a workflow file"):
        load_workflow(zero)
    big = tmp_path / "big.json"
    big.write_text('{"1": {"class_type": "A", "inputs": {}}}' + " " * 100)
    monkeypatch.setattr(json_source, "MAX_FILE_BYTES", 64)
    with pytest.raises(WorkflowFormatError, match="larger than"):
        load_workflow(big)
    link = tmp_path / "link.json"
    link.symlink_to(DATA / "dnne_stream_api.json")  # a symlink to a regular file is fine
    monkeypatch.setattr(json_source, "MAX_FILE_BYTES", 2**20)
    assert load_workflow(link).nodes
