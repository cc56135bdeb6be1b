"""The Ray backend means what the local backend means: same trajectories, same update."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch

from .helpers import final_policy, make_run, same_weights, train

pytest.importorskip("ray")

BUFFER_FIELDS = (
    "obs",
    "actions",
    "logprobs",
    "values",
    "rewards",
    "dones",
    "advantages",
    "returns",
)
ROLLOUT = 32 * 8  # the scenario's horizon x num_envs


@pytest.fixture
def updates(runner: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every rollout buffer the learner hands to PPO.update, copied."""
    from framework.rl.ppo import PPO

    seen: list[dict] = []
    original = PPO.update

    def update(self, buffer):
        seen.append({k: getattr(buffer, k).clone() for k in BUFFER_FIELDS})
        return original(self, buffer)

    monkeypatch.setattr(PPO, "update", update)
    return seen


@pytest.mark.parametrize("normalize_rewards", [False, True])
def test_one_worker_collects_the_local_trajectories(
    ray_session, runner, updates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    normalize_rewards: bool,
) -> None:
    """With normalize_rewards too: the learner scales the workers' rewards as the local
    trainer scales its own."""
    from framework.runtime import RunContext

    graph = runner.build_graph(RunContext())
    trainer = next(n for n in graph.nodes if hasattr(n, "NORMALIZE_REWARDS"))
    monkeypatch.setattr(type(trainer), "NORMALIZE_REWARDS", normalize_rewards)
    assert train(runner, tmp_path / "local", "--steps", str(3 * ROLLOUT), "--seed", "5") == 0
    local = list(updates)
    updates.clear()
    assert (
        train(
            runner,
            tmp_path / "ray",
            "--steps",
            str(3 * ROLLOUT),
            "--seed",
            "5",
            "--backend",
            "ray",
            "--workers",
            "1",
        )
        == 0
    )
    assert len(local) == len(updates) == 3
    for t, (a, b) in enumerate(zip(local, updates, strict=True)):
        for key in BUFFER_FIELDS:
            assert torch.equal(a[key], b[key]), f"rollout {t}: {key} differs"
    # CartPole pays 1 per step: scaled rewards are not.
    assert bool((local[-1]["rewards"] == 1.0).all()) is not normalize_rewards
    assert same_weights(final_policy(tmp_path / "local"), final_policy(tmp_path / "ray"))


def test_worker_seeds_tile_the_local_vector_env(
    ray_session, runner, updates, tmp_path: Path
) -> None:
    """Worker i runs the sub-envs a local run of N*M envs seeds seed + i*M + j."""
    from framework.nodes.sim import SimHandle
    from framework.runtime import RunContext

    assert train(runner, tmp_path / "local", "--steps", str(ROLLOUT), "--seed", "2") == 0
    local = updates[0]
    updates.clear()
    assert (
        train(
            runner,
            tmp_path / "ray",
            "--steps",
            str(2 * ROLLOUT),
            "--seed",
            "2",
            "--backend",
            "ray",
            "--workers",
            "2",
        )
        == 0
    )
    ray2 = updates[0]
    # Worker 0 is the local run: same envs, same sampling RNG, same policy.
    for key in ("obs", "actions", "logprobs", "rewards", "dones"):
        assert torch.equal(ray2[key][:, :8], local[key]), key
    # Together the workers start where one local vector env of 16 envs starts.
    env = runner.build_graph(RunContext()).node(runner.META["env_node"])
    sim16 = SimHandle(RunContext(), env.ENV_NAME, env.ENGINE, num_envs=16, seed=2 + env.SEED)
    assert torch.equal(ray2["obs"][0], sim16.obs)
    sim16.close()


def test_workers_act_with_the_broadcast_normaliser_frozen(
    ray_session, runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from framework.nodes.sim import SimHandle
    from framework.rl import ActorCritic
    from framework.runtime import RunContext

    agent_cls = type(runner.build_graph(RunContext()).node(runner.META["agent_node"]))
    monkeypatch.setattr(agent_cls, "NORMALIZE_OBSERVATIONS", True)
    run = make_run(runner, tmp_path, workers=1, steps=2 * ROLLOUT, seed=7)
    try:
        rms = run.policy.obs_rms
        rms.mean.fill_(0.05)
        rms.var.fill_(4.0)
        rms.count.fill_(100.0)
        reference = ActorCritic.from_config(run.policy.config())
        reference.load_state_dict(run.policy.state_dict())
        generator = torch.Generator()
        generator.set_state(run.first_generator)
        weights = {k: v.numpy() for k, v in run.policy.state_dict().items()}
        (fragment,) = run.collect(ray_session.put(weights))

        # The plain loop with frozen statistics and the same explicit generator.
        sim = SimHandle(
            RunContext(),
            run.roles.env.sim.task,
            run.roles.env.sim.engine,
            num_envs=8,
            seed=run.roles.env.sim.seed,
        )
        obs = sim.obs
        for t in range(32):
            step = reference.act(obs, generator=generator)
            assert torch.equal(torch.tensor(fragment["obs"][t]), obs), t
            assert torch.equal(torch.tensor(fragment["actions"][t]), step.action), t
            obs = sim.step(step.env_action).next_observations
        assert torch.equal(rms.mean, torch.full_like(rms.mean, 0.05))  # acting changed nothing

        # The learner stores what the worker saw, then folds the raw observations in.
        stored = {}

        def capture(buffer):
            stored["obs"] = buffer.obs.clone()
            stored["logprobs"] = buffer.logprobs.clone()
            return {}

        monkeypatch.setattr(run.trainer.ppo, "update", capture)
        run.learn([fragment])
        raw = torch.tensor(fragment["obs"])
        assert torch.equal(stored["obs"], reference.normalize(raw))
        # ... and scores the rollout with the weights the worker acted with.
        actions = torch.tensor(fragment["actions"]).reshape(-1)
        logprobs, _ = reference.score(stored["obs"].reshape(-1, reference.obs_dim), actions)
        assert torch.equal(stored["logprobs"].reshape(-1), logprobs)
        assert float(rms.count) == pytest.approx(100.0 + ROLLOUT)
    finally:
        run.close("done")


def test_checkpoints_cross_between_backends(
    ray_session, runner, checkpoint_every, tmp_path: Path
) -> None:
    """Local -> Ray -> local resumes with one worker go on exactly as the straight local run:
    worker 0 takes over the checkpoint's envs and RNG, and hands them back the same way."""
    checkpoint_every(2)
    steps = ("--steps", str(6 * ROLLOUT), "--seed", "4")

    def at(run: str, rollouts: int) -> str:
        return str(tmp_path / run / "checkpoints" / f"checkpoint_{rollouts * ROLLOUT:012d}.pt")

    assert train(runner, tmp_path / "local", *steps) == 0
    assert (
        train(
            runner,
            tmp_path / "ray",
            *steps,
            "--backend",
            "ray",
            "--workers",
            "1",
            "--resume",
            at("local", 2),
        )
        == 0
    )
    assert same_weights(final_policy(tmp_path / "local"), final_policy(tmp_path / "ray"))
    assert train(runner, tmp_path / "back", *steps, "--resume", at("ray", 4)) == 0
    assert same_weights(final_policy(tmp_path / "local"), final_policy(tmp_path / "back"))
