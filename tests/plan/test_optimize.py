"""What ``optimize_plan`` fuses, inlines and leaves alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnne_robot.pipeline import check
from dnne_robot.plan import Plan
from dnne_robot.plan.optimize import FusedNode, find_chains

from .optimize_graphs import (
    EVERY_LAYER,
    cartpole,
    linear,
    mixed_chain,
    node,
    regression,
    write,
)

ROOT = Path(__file__).resolve().parents[2]


def plan_of(path: Path, *, optimize: bool, sim: str = "gymnasium",
            backend: str = "local") -> Plan:
    checked = check(path, sim=sim, optimize=optimize, backend=backend)
    assert not checked.errors, checked.errors
    assert checked.plan is not None
    return checked.plan


def summary(plan: Plan) -> list[tuple[str, list[str]]]:
    return [(n.id, n.fused_from) for n in plan.nodes]


def edges(plan: Plan) -> set[tuple[str, int, str, str]]:
    return {(link.source, link.source_slot, n.id, name)
            for n in plan.nodes for name, link in n.links.items()}


def test_mlp_regression_fuses_its_three_layers() -> None:
    plan = plan_of(ROOT / "scenarios/mlp_regression.json", optimize=True)
    assert summary(plan) == [("1", []), ("2+3+4", ["2", "3", "4"]), ("5", [])]
    fused = plan.nodes[1]
    assert isinstance(fused, FusedNode) and fused.kind == "sequential"
    assert fused.spec.exporter == "flow.fused_sequential"
    assert [m.title for m in fused.members] == ["Hidden 1", "Hidden 2", "Output"]
    assert edges(plan) == {("5", 1, "1", "trigger"), ("1", 0, "2+3+4", "input"),
                           ("2+3+4", 0, "5", "predictions"), ("1", 1, "5", "targets")}


@pytest.mark.parametrize("scenario", ["cartpole_ppo.json", "cartpole_ppo.api.json"])
def test_cartpole_fuses_its_control_loop(scenario: str) -> None:
    plan = plan_of(ROOT / "scenarios" / scenario, optimize=True)
    members = ["2", "3", "4", "5", "6", "7"]
    assert summary(plan) == [("1", []), ("+".join(members), members)]
    loop = plan.nodes[1]
    assert isinstance(loop, FusedNode) and loop.kind == "loop"
    assert loop.spec.exporter == "flow.fused_loop"
    assert [m.node.class_type for m in loop.members] == [
        "ORNode", "PPOAgentNode", "CartpoleActionNode", "IsaacGymStepNode",
        "CartpoleRewardNode", "PPOTrainerNode"]
    # The env starts the loop once and hands it the simulator; nothing else is a queue.
    assert edges(plan) == {("1", 1, loop.id, "2.input_a"), ("1", 0, loop.id, "5.sim_handle")}
    assert loop.loop is not None
    assert loop.loop.back == ("input_b", 3, "next_observations")


@pytest.mark.parametrize("scenario", ["cartpole_ppo.json", "cartpole_ppo.api.json"])
def test_on_ray_cartpole_only_inlines_the_action_node(scenario: str) -> None:
    """Ray's workers are built from the unfused wiring: the loop stays, the action node
    still runs inside the step."""
    path = ROOT / "scenarios" / scenario
    plain = plan_of(path, optimize=False, backend="ray")
    plan = plan_of(path, optimize=True, backend="ray")
    assert summary(plan) == [("1", []), ("2", []), ("3", []), ("5", ["4", "5"]), ("6", []),
                             ("7", [])]
    step = plan.nodes[3]
    assert isinstance(step, FusedNode) and step.kind == "inline"
    assert step.host is not None and step.host.node.class_type == "IsaacGymStepNode"
    assert [m.id for m in step.adapters["actions"]] == ["4"]
    # The step now takes the agent's policy output; every other link is as it was.
    expected = {e for e in edges(plain) if "4" not in (e[0], e[2])} | {("3", 0, "5", "actions")}
    assert edges(plan) == expected


def test_a_loop_read_from_outside_keeps_its_queues(tmp_path: Path) -> None:
    """A tracker reads the step's done and the trainer's loss. Unfused it interleaves with the
    loop step by step (a 'latest' input, a stop it asks for); a fused loop would run many
    iterations between its turns, so the loop is not fused. The action node is still
    inlined."""
    prompt = cartpole()
    prompt["8"] = node("SimulationTracker", "Tracker", max_episodes=100_000,
                       success_threshold=0.95, telemetry_interval="100_steps",
                       telemetry_level="off", step_done=["5", 2], loss=["7", 0])
    plan = plan_of(write(prompt, tmp_path / "tracked.json"), optimize=True)
    assert not any(getattr(n, "kind", None) == "loop" for n in plan.nodes)
    assert [n.fused_from for n in plan.nodes if n.fused_from] == [["4", "5"]]


def test_a_layer_never_runs_inside_another_node(tmp_path: Path) -> None:
    """A layer run inside another node would leave its parameters out of the checkpoint: the
    first layer is followed by the reward node, so it stays alone; the next layer runs the
    reward inside it and ends that chain (its own state stays its own)."""
    plan = plan_of(write(mixed_chain(), tmp_path / "mixed.json"), optimize=True)
    assert summary(plan) == [("1", []), ("2", []), ("4", ["3", "4"]), ("5", []), ("6", [])]
    assert plan.nodes[2].kind == "inline"


def test_a_trainer_outside_the_loop_keeps_the_queues(tmp_path: Path) -> None:
    """The reward goes through a layer node, so the trainer reads from outside the loop:
    the agent's lock-step with it would span the fused node, and nothing is fused."""
    plan = plan_of(write(cartpole(reward_head=True), tmp_path / "head.json"), optimize=True)
    assert not any(getattr(n, "kind", None) == "loop" for n in plan.nodes)


def test_nothing_to_fuse_leaves_the_plan_alone() -> None:
    path = ROOT / "scenarios/cartpole_compact.json"
    assert summary(plan_of(path, optimize=True)) == summary(plan_of(path, optimize=False))


def test_reach_fuses_its_control_loop() -> None:
    plan = plan_of(ROOT / "scenarios/reach_ppo.json", optimize=True, sim="mujoco")
    assert [n.fused_from for n in plan.nodes if n.fused_from] == [["2", "3", "4", "5", "6"]]


def test_fan_out_ends_a_chain(tmp_path: Path) -> None:
    # 2 -> 3 -> 4 -> trainer, and 3 also feeds 6: the chain is 2+3; 4 and 6 stay apart.
    prompt = regression([linear(8), linear(8), linear(1, "none")],
                        extra={"6": node("LinearLayerNode", "Side", **linear(2)[1],
                                         input=["3", 0])})
    plan = plan_of(write(prompt, tmp_path / "fan_out.json"), optimize=True)
    assert summary(plan) == [("1", []), ("2+3", ["2", "3"]), ("4", []), ("5", []), ("6", [])]
    assert ("2+3", 0, "4", "input") in edges(plan)
    assert ("2+3", 0, "6", "input") in edges(plan)


def test_fan_in_and_stateful_nodes_end_a_chain() -> None:
    plain = plan_of(ROOT / "scenarios/cartpole_ppo.json", optimize=False)
    # The reward node is stateless but sits alone between the step and the trainer.
    assert find_chains(plain) == []


def test_every_layer_kind_fuses_into_one_node(tmp_path: Path) -> None:
    plan = plan_of(write(regression(EVERY_LAYER), tmp_path / "every.json"), optimize=True)
    assert len(plan.nodes) == 3
    fused = plan.nodes[1]
    assert fused.fused_from == [str(i) for i in range(2, 2 + len(EVERY_LAYER))]
    assert fused.id == f"2+...+{1 + len(EVERY_LAYER)}"


def test_a_mixed_chain_runs_inside_its_last_node(tmp_path: Path) -> None:
    plan = plan_of(write(cartpole(reward_head=True), tmp_path / "head.json"), optimize=True)
    fused = {n.id: n for n in plan.nodes if n.fused_from}
    assert sorted(fused) == ["5", "8"]
    head = fused["8"]
    assert isinstance(head, FusedNode) and head.kind == "inline"
    assert head.fused_from == ["6", "8"]
    assert [m.id for m in head.adapters["input"]] == ["6"]
    assert ("5", 0, "8", "input") in edges(plan)


def test_optimize_is_off_by_default() -> None:
    plan = plan_of(ROOT / "scenarios/mlp_regression.json", optimize=False)
    assert [n.id for n in plan.nodes] == ["1", "2", "3", "4", "5"]
    assert not any(n.fused_from for n in plan.nodes)
