"""Checkpoints, resume, metrics and the policy export work as with the local backend."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from .helpers import final_policy, same_weights, train

pytest.importorskip("ray")

ITERATION = 32 * 8 * 2  # horizon x envs per worker x workers


def test_checkpoint_resume_and_outputs(ray_session, runner, checkpoint_every, capsys,
                                       tmp_path: Path) -> None:
    from framework.rl import load_checkpoint

    checkpoint_every(2)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    args = ("--steps", str(4 * ITERATION), "--seed", "9", "--backend", "ray", "--workers", "2")
    assert train(runner, straight, *args) == 0
    summary = json.loads((straight / "summary.json").read_text())
    assert summary["status"] == "done" and summary["updates"] == 4
    assert summary["workers"] == 2 and summary["worker_restarts"] == 0
    assert summary["steps"] == 4 * ITERATION

    # The local backend's files, plus the distributed settings in hparams.json.
    hparams = json.loads((straight / "hparams.json").read_text())
    assert hparams["hparams"]["distributed"]["workers"] == 2
    assert hparams["hparams"]["num_steps"] == 32
    rows = list(csv.DictReader((straight / "metrics.csv").open()))
    assert len(rows) == 4
    logged = {"policy_loss", "episode_return_mean", "worker_restarts", "update_seconds"}
    assert logged <= rows[0].keys()
    assert (straight / "policy.pt").is_file()

    middle = straight / "checkpoints" / f"checkpoint_{2 * ITERATION:012d}.pt"
    payload = load_checkpoint(middle)
    agent = payload["nodes"][runner.META["agent_node"]]
    assert {"policy_config", "policy"} <= agent.keys()
    assert payload["env_steps"] == 2 * ITERATION
    assert len(payload["distributed"]["states"]) == 2

    # Resuming the middle checkpoint replays the second half exactly.
    assert train(runner, resumed, *args, "--resume", str(middle)) == 0
    assert same_weights(final_policy(straight), final_policy(resumed))

    # evaluate and export-policy read Ray checkpoints unchanged.
    capsys.readouterr()
    assert runner.run(["evaluate", "--run-dir", str(straight), "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 2
    out = tmp_path / "exported.pt"
    assert runner.run(["export-policy", "--run-dir", str(straight), "-o", str(out)]) == 0
    assert out.is_file()


def test_distributed_flags_need_the_ray_backend(runner, capsys, tmp_path: Path) -> None:
    assert train(runner, tmp_path, "--steps", "256", "--workers", "2") == 1
    assert "--backend ray" in capsys.readouterr().err


def test_bad_worker_count_is_one_line(runner, capsys, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    assert train(runner, tmp_path, "--backend", "ray", "--workers", "0") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --workers must be >= 1") and "Traceback" not in err


def test_graph_without_a_trainer_node_is_refused(runner) -> None:
    from framework.distributed import DistributedError, find_roles
    from framework.runtime import RunContext

    graph = runner.build_graph(RunContext())
    merge = next(n for n in graph.nodes if type(n).__name__.endswith("ObservationMerge"))
    meta = {**runner.META, "agent_node": merge.node_id}
    with pytest.raises(DistributedError, match="PPO Trainer node.*--backend local"):
        find_roles(graph, meta)


def test_graph_that_transforms_observations_is_refused(runner) -> None:
    from framework.distributed import DistributedError, find_roles
    from framework.runtime import Graph, In, QueueNode, RunContext

    class Scale(QueueNode):
        INPUTS = (In("x"),)
        OUTPUTS = ("y",)

        def compute(self, x):
            return {"y": 2 * x}

    # The export's wiring with a node that scales the observations before the agent.
    ctx = RunContext()
    original = runner.build_graph(ctx)
    graph = Graph(ctx)
    nodes = {n.node_id: graph.add(type(n)(n.node_id, n.title, ctx)) for n in original.nodes}
    scale = graph.add(Scale("99", "Scale", ctx))
    env, merge, agent, action, step, reward, trainer = (nodes[k] for k in "1234567")
    graph.connect(env, "observations", merge, "input_a")
    graph.connect(step, "next_observations", merge, "input_b")
    graph.connect(merge, "output", scale, "x")
    graph.connect(scale, "y", agent, "observations")
    graph.connect(agent, "policy_output", action, "policy")
    graph.connect(env, "sim_handle", step, "sim_handle")
    graph.connect(action, "action", step, "actions")
    graph.connect(step, "observations", reward, "observations")
    graph.connect(step, "next_observations", trainer, "state")
    graph.connect(agent, "policy_output", trainer, "policy_output")
    graph.connect(reward, "reward_or_loss", trainer, "reward")
    graph.connect(step, "done", trainer, "done")
    graph.connect(agent, "model", trainer, "model")
    with pytest.raises(DistributedError, match="#99 'Scale'.*changes the observations"):
        find_roles(graph, runner.META)
    assert find_roles(original, runner.META).reward.node is not None  # the reward node


def test_missing_ray_names_the_install(runner, monkeypatch: pytest.MonkeyPatch, capsys,
                                       tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    assert train(runner, tmp_path, "--backend", "ray", "--steps", "256") == 1
    assert "pip install 'ray[default]>=2.9'" in capsys.readouterr().err
