"""The learner: starts the workers, broadcasts the weights, gathers fragments into one
rollout buffer and runs the local trainer's update on it."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..rl.checkpoint import atomic_write
from ..runtime import Graph, GraphRunner, RunContext
from ..session.checkpoints import Checkpointer, restore
from .auth import auth_hint
from .errors import DistributedError, first_line, import_ray
from .roles import find_roles
from .worker import RolloutWorker, WorkerSpec

log = logging.getLogger("runner.distributed")

DEFAULT_WORKERS = 2
#: Replacements of one worker within one iteration before the run gives up (a crash loop).
MAX_RESTARTS_PER_ITERATION = 3
#: How long the workers may take to start (a cluster without free CPUs never starts them).
STARTUP_TIMEOUT_S = 300.0


def generator_seed(seed: int, worker: int, incarnation: int) -> int:
    """An independent sampling seed for worker ``worker``'s ``incarnation``-th actor."""
    state = np.random.SeedSequence([seed, worker, incarnation]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


@dataclass
class Timings:
    """Seconds spent in one iteration's phases (the cost model in docs/scaling.md)."""

    broadcast: float = 0.0
    collect: float = 0.0
    worker: float = 0.0
    update: float = 0.0


class DistributedRun:
    """One Ray training run; :func:`train` drives it, tests step it by hand.

    Args:
        ctx: The run context (``max_steps`` is the budget in env steps).
        graph: The built graph (not yet set up).
        meta: The runner's ``META``.
        workers: Rollout workers ``N``.
        envs_per_worker: Envs per worker ``M`` (None: the env node's ``num_envs``).
        address: A Ray cluster to join; None starts Ray inside this process.

    Raises:
        DistributedError: for bad counts, or a graph the workers cannot reproduce.
    """

    def __init__(
        self,
        ctx: RunContext,
        graph: Graph,
        meta: dict[str, Any],
        *,
        workers: int = DEFAULT_WORKERS,
        envs_per_worker: int | None = None,
        address: str | None = None,
    ) -> None:
        if workers < 1:
            raise DistributedError(f"--workers must be >= 1, got {workers}")
        if envs_per_worker is not None and envs_per_worker < 1:
            raise DistributedError(f"--envs-per-worker must be >= 1, got {envs_per_worker}")
        self.ctx = ctx
        self.graph = graph
        self.meta = meta
        self.workers = workers
        self.envs_per_worker = envs_per_worker
        self.address = address
        self.roles = find_roles(graph, meta)
        self.actors: list[Any] = []
        self.incarnations: list[int] = []
        self.restarts = 0
        self.unstable = 0
        self.timings = Timings()
        self.recent: deque[float] = deque(maxlen=20)  # like SimHandle.recent_return
        self.first_generator: Any = None
        self.owns_ray = False
        self._remote_class: Any = None

    # -- setting up ----------------------------------------------------------------------------
    @property
    def agent(self) -> Any:
        return self.roles.agent

    @property
    def trainer_node(self) -> Any:
        return self.roles.trainer

    @property
    def trainer(self) -> Any:
        """The trainer node's PPOTrainer (None before :meth:`setup`)."""
        return getattr(self.roles.trainer, "trainer", None)

    @property
    def policy(self) -> Any:
        return self.roles.agent.policy

    @property
    def num_envs(self) -> int:
        return self.workers * self.envs_per_worker

    @property
    def batch_size(self) -> int:
        return self.trainer.buffer.batch_size

    def setup(self, resume: dict[str, Any] | None = None) -> None:
        """Set the graph up as the local backend does, restore a checkpoint, start Ray."""
        GraphRunner(self.graph).setup()
        if resume is not None:
            restore(self.graph, resume)
        # What the local agent would sample its first action with.
        self.first_generator = torch.get_rng_state()
        sim = self.roles.env.sim
        self.envs_per_worker = self.envs_per_worker or sim.num_envs
        self.ctx.env_info["num_envs"] = self.num_envs
        self.trainer_node.start(self.agent.model)
        self._record_hparams()
        self._start_ray()
        self._start_workers(resume)

    def _record_hparams(self) -> None:
        path = Path(self.ctx.run_dir) / "hparams.json"
        if not path.is_file():
            return
        record = json.loads(path.read_text())
        record.setdefault("hparams", {})["distributed"] = {
            "backend": "ray",
            "workers": self.workers,
            "envs_per_worker": self.envs_per_worker,
            "address": self.address,
        }
        text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
        atomic_write(path, lambda f: f.write(text.encode()))

    def _start_ray(self) -> None:
        ray = import_ray()
        if ray.is_initialized():
            return
        if self.address:
            # Remote nodes get this framework and the generated nodes shipped to them.
            try:
                ray.init(
                    address=self.address,
                    logging_level=logging.WARNING,
                    runtime_env={"py_modules": [sys.modules[n] for n in self._code_packages()]},
                )
            except (ConnectionError, RuntimeError) as exc:
                raise DistributedError(
                    f"cannot join the Ray cluster at {self.address}: {first_line(exc)}"
                    + auth_hint()) from exc
        else:
            # address="local": a new instance even if `ray start` left a cluster running here.
            ray.init(
                address="local",
                num_cpus=max(self.workers, os.cpu_count() or 1),
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
        self.owns_ray = True

    def _code_packages(self) -> list[str]:
        """The top-level packages a worker imports: this framework and the generated nodes."""
        names = {__name__.split(".")[0]}
        for source in (self.roles.actions, self.roles.reward, self.roles.done):
            if source.node is not None:
                names.add(source.node.cls.__module__.split(".")[0])
        return sorted(names)

    def _worker_runtime_env(self) -> dict[str, Any]:
        """On this machine, workers import the packages from where this process found them."""
        if self.address:
            return {}
        roots = []
        for name in self._code_packages():
            root = str(Path(sys.modules[name].__file__).resolve().parent.parent)
            if root not in roots:
                roots.append(root)
        if os.environ.get("PYTHONPATH"):
            roots.append(os.environ["PYTHONPATH"])
        return {"env_vars": {"PYTHONPATH": os.pathsep.join(roots)}}

    def _spec(self, index: int, incarnation: int) -> WorkerSpec:
        env = self.roles.env
        M = self.envs_per_worker  # noqa: N806
        block = incarnation * self.workers + index  # a replacement never reuses a seed block
        first = index == 0 and incarnation == 0
        return WorkerSpec(
            task=env.sim.task,
            engine=env.sim.engine,
            vectorization=self.ctx.options.get("vectorization")
            or getattr(env, "VECTORIZATION", "sync"),
            env_seed=env.sim.seed + block * M,
            num_envs=M,
            policy_config=self.policy.config(),
            deterministic=bool(getattr(self.agent, "DETERMINISTIC", False)),
            actions=self.roles.actions,
            reward=self.roles.reward,
            done=self.roles.done,
            generator_state=self.first_generator if first else None,
            generator_seed=generator_seed(self.ctx.seed, index, incarnation),
            incarnation=incarnation,
        )

    def _actor(self, index: int, incarnation: int) -> Any:
        if self._remote_class is None:
            # max_restarts=0: _restart replaces a dead worker itself, on a new seed block.
            self._remote_class = import_ray().remote(
                num_cpus=1, max_restarts=0, runtime_env=self._worker_runtime_env()
            )(RolloutWorker)
        return self._remote_class.remote(self._spec(index, incarnation))

    def _start_workers(self, resume: dict[str, Any] | None) -> None:
        ray = import_ray()
        self.actors = [self._actor(i, 0) for i in range(self.workers)]
        self.incarnations = [0] * self.workers
        refs = [a.ready.remote() for a in self.actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=STARTUP_TIMEOUT_S)
        if len(ready) < len(refs):
            raise DistributedError(
                f"only {len(ready)} of {self.workers} Ray workers started within "
                f"{STARTUP_TIMEOUT_S:.0f} s: each needs one free CPU (see `ray status`)"
            )
        try:
            infos = ray.get(refs)
        except ray.exceptions.RayError as exc:
            raise DistributedError(
                f"a Ray worker failed to start: {first_line(exc)}"
                + (auth_hint() if self.address else "")) from exc
        info = self.ctx.env_info
        for i, got in enumerate(infos):
            if got["obs_dim"] != info["obs_dim"] or got["action"] != info["action"]:
                raise DistributedError(
                    f"worker {i} made an env with obs_dim={got['obs_dim']}, action="
                    f"{got['action']}; the learner's has {info['obs_dim']}, {info['action']}"
                )
        self._restore_workers(resume)

    def _restore_workers(self, resume: dict[str, Any] | None) -> None:
        """Put the workers' envs back where the checkpoint left them, when it can."""
        if resume is None:
            return
        saved = resume.get("distributed")
        layout = (self.workers, self.envs_per_worker)
        if saved and (saved.get("workers"), saved.get("envs_per_worker")) == layout:
            calls = [
                actor.set_state.remote(state)
                for actor, state in zip(self.actors, saved["states"], strict=True)
                if state is not None
            ]
        elif (
            resume["nodes"].get(self.roles.env.node_id) is not None
            and self.envs_per_worker == self.roles.env.sim.num_envs
        ):
            # The env node's state (a local run's envs, or a Ray run's worker 0): worker 0
            # continues it with the sampling RNG the checkpoint holds.
            state = {
                "sim": resume["nodes"][self.roles.env.node_id],
                "generator": resume.get("rng", {}).get("torch"),
            }
            calls = [self.actors[0].set_state.remote(state)]
            if self.workers > 1 or saved:
                self.ctx.notice(
                    "the checkpoint was written with another worker layout: worker "
                    "0 continues its envs, the other workers start new episodes"
                )
        else:
            calls = []
            self.ctx.notice(
                "the checkpoint's envs do not fit --workers x --envs-per-worker: "
                "the workers start new episodes"
            )
        import_ray().get(calls)

    # -- one iteration ---------------------------------------------------------------------
    def _restart(self, index: int, exc: Exception) -> None:
        ray = import_ray()
        try:
            ray.kill(self.actors[index], no_restart=True)
        except Exception:  # noqa: BLE001 - it is already gone
            pass
        self.incarnations[index] += 1
        self.restarts += 1
        self.actors[index] = self._actor(index, self.incarnations[index])
        # The replacement starts new episodes: forget the partial ones of its columns.
        M = self.envs_per_worker  # noqa: N806
        cols = slice(index * M, (index + 1) * M)
        self.trainer.episodes.returns[cols] = 0.0
        self.trainer.episodes.lengths[cols] = 0
        print(
            f"warning: worker {index} died ({first_line(exc)}); restarted it "
            f"(restart {self.restarts})",
            file=sys.stderr,
        )

    def collect(self, weights_ref: Any) -> list[dict[str, Any]]:
        """One fragment per worker, in worker order; replaces workers that die."""
        ray = import_ray()
        T = self.trainer.config.num_steps  # noqa: N806
        pending = {a.collect.remote(weights_ref, T): i for i, a in enumerate(self.actors)}
        fragments: list[dict[str, Any] | None] = [None] * self.workers
        attempts = [0] * self.workers
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            try:
                fragments[index] = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                attempts[index] += 1
                if attempts[index] > MAX_RESTARTS_PER_ITERATION:
                    raise DistributedError(
                        f"worker {index} died {attempts[index]} times in one iteration: "
                        f"{first_line(exc)}"
                    ) from exc
                self._restart(index, exc)
                pending[self.actors[index].collect.remote(weights_ref, T)] = index
            except ray.exceptions.RayTaskError as exc:
                raise DistributedError(f"worker {index}: {first_line(exc)}") from exc
        return fragments  # type: ignore[return-value]

    def learn(self, fragments: list[dict[str, Any]]) -> dict[str, float]:
        """The local trainer's arithmetic on the concatenated fragments: buffer, GAE, update."""
        trainer, policy = self.trainer, self.policy
        device = trainer.buffer.device

        def cat(key: str, axis: int = 1) -> torch.Tensor:
            return torch.from_numpy(np.concatenate([f[key] for f in fragments], axis=axis)).to(
                device
            )

        obs_raw = cat("obs")
        # The inputs the workers computed, from the statistics they were sent.
        obs = policy.normalize(obs_raw)
        actions = cat("actions")
        rewards, terminated = cat("rewards"), cat("terminated")
        truncated = cat("truncated")
        final_values = trainer.ppo.denormalize_values(cat("final_values"))
        buffer = trainer.buffer
        for t in range(buffer.num_steps):
            # No log-probabilities or values: finish_rollout scores the whole rollout,
            # exactly as the local trainer does.
            buffer.add(
                obs[t],
                actions[t],
                None,
                None,
                trainer.scale_rewards(rewards[t], terminated[t]),  # normalize_rewards
                terminated[t],
                truncated[t],
                final_values[t],
            )
            for ret, _length in trainer.episodes.step(rewards[t], terminated[t], truncated[t]):
                self.recent.append(ret)
        if policy.obs_rms is not None:
            for t in range(buffer.num_steps):
                policy.obs_rms.update(obs_raw[t])
        trainer.global_step += buffer.batch_size
        self.ctx.env_steps += buffer.batch_size
        self.unstable += sum(int(f["unstable"]) for f in fragments)

        return trainer.finish_rollout(cat("last_value", axis=0))

    def iteration(self) -> dict[str, float]:
        """Broadcast, collect, learn, log, checkpoint when due; returns the logged stats."""
        ray = import_ray()
        t0 = time.perf_counter()
        weights = {k: v.detach().cpu().numpy() for k, v in self.policy.state_dict().items()}
        weights_ref = ray.put(weights)
        t1 = time.perf_counter()
        fragments = self.collect(weights_ref)
        t2 = time.perf_counter()
        stats = self.learn(fragments)
        t3 = time.perf_counter()
        del weights_ref
        self.timings = Timings(
            broadcast=t1 - t0,
            collect=t2 - t1,
            worker=float(np.max([f["seconds"] for f in fragments])),
            update=t3 - t2,
        )
        stats.update(
            worker_restarts=float(self.restarts),
            broadcast_seconds=self.timings.broadcast,
            collect_seconds=self.timings.collect,
            worker_seconds=self.timings.worker,
            update_seconds=self.timings.update,
        )
        node = self.trainer_node
        node.updates += 1
        node.report(stats)
        if node.checkpoint_due() and self.ctx.checkpointer is not None:
            self.ctx.checkpointer.save(f"update {node.updates}")
        return stats

    def budget_left(self) -> bool:
        """Whether another whole rollout fits in ``--steps``."""
        limit = self.ctx.max_steps
        return limit is None or self.ctx.env_steps + self.batch_size <= limit

    # -- checkpoints and the end -------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The workers' envs and RNGs; worker 0's also become the env node's state (when the
        shapes agree) so a ``--workers 1`` checkpoint resumes under the local backend too."""
        ray = import_ray()
        states: list[dict[str, Any] | None] = []
        for i, actor in enumerate(self.actors):
            try:
                states.append(ray.get(actor.get_state.remote(), timeout=60))
            except (ray.exceptions.RayError, TimeoutError) as exc:
                log.warning("worker %d state not saved: %s", i, first_line(exc))
                states.append(None)
        sim = self.roles.env.sim
        if states and states[0] is not None and sim.num_envs == self.envs_per_worker:
            steps = self.ctx.env_steps
            sim.load_state_dict(states[0]["sim"])
            self.ctx.env_steps = steps
            torch.set_rng_state(states[0]["generator"])
        return {
            "workers": self.workers,
            "envs_per_worker": self.envs_per_worker,
            "worker_restarts": self.restarts,
            "states": states,
        }

    def close(self, reason: str) -> None:
        """Close the graph's nodes, stop the workers and, if this run started it, Ray."""
        ctx = self.ctx
        if self.trainer is not None:
            ctx.summary["episodes"] = self.trainer.episodes.num_episodes
        if self.recent:
            ctx.summary["recent_return"] = float(sum(self.recent) / len(self.recent))
        if self.unstable:
            ctx.summary["unstable_resets"] = self.unstable
        for node in self.graph.nodes:
            if node is self.roles.env:  # its summary would describe the learner's idle envs
                if getattr(node, "sim", None) is not None:
                    node.sim.close()
                continue
            try:
                node.close(reason)
            except Exception as exc:  # noqa: BLE001
                log.error("%s failed while closing: %s", node.label, exc)
        ray = import_ray() if self.actors or self.owns_ray else None
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        if self.owns_ray:
            ray.shutdown()
            self.owns_ray = False


class RayCheckpointer(Checkpointer):
    """The local checkpoint payload plus the workers' states under ``"distributed"``."""

    def __init__(self, graph: Graph, meta: dict[str, Any], run: DistributedRun,
                 keep: int = 3) -> None:
        super().__init__(graph, meta, keep=keep)
        self.run = run

    def payload(self, reason: str) -> dict[str, Any]:
        workers = self.run.checkpoint_state()
        return {**super().payload(reason), "distributed": workers}


