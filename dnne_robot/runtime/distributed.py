"""PPO on Ray: rollout workers as actors, the driver as the one learner.

``runner.py train --backend ray --workers N [--envs-per-worker M] [--address ADDR]``

Each iteration::

    learner                                    worker i (a Ray actor, one CPU)
    -------                                    -------------------------------
    ref = ray.put(policy weights)   ─────────► load weights (normaliser included, frozen)
                                               act / step T times on its M envs
    concatenate fragments on the    ◄───────── one fragment: T x M raw obs, actions, log-probs,
    env axis into one RolloutBuffer            values, rewards, terminated/truncated, V(final
    of N*M envs; GAE; PPO.update               obs) for truncation, last obs and V(last obs)

The graph says what to train: the env node gives the task, engine, seed and ``num_envs``
(the default ``M``), the agent node builds the policy, the trainer node's ``config()`` gives
the PPO hyperparameters, and stateless nodes between them (the action node, a reward node)
run inside the workers exactly as they run in the local graph. The learner keeps the local
backend's files: the trainer node's ``metrics.csv``/``hparams.json``, checkpoints with the
agent node's ``policy_config``/``policy`` (so ``evaluate`` and ``export-policy`` work as
before), and ``policy.pt`` at the end.

Seeding (what makes ``--workers 1`` collect the local backend's trajectories): worker ``i``
steps the sub-envs seeded ``seed + SEED + i*M + j``, the same seeds a local vector env of
``N*M`` envs would use, and worker 0 samples actions from a ``torch.Generator`` holding the
global torch RNG state the local agent would sample from (the state right after graph
setup). The other workers get independent generators from ``SeedSequence([seed, i])``.

Observation normalisation: workers act with the normaliser statistics they were sent, frozen
for the whole fragment, and return raw observations. The learner normalises them with those
same statistics (so the stored inputs and log-probabilities match what the worker computed),
then folds the raw observations into its normaliser step by step, in the order a local run
of ``N*M`` envs would. The local backend updates the statistics before every step instead, so
with normalisation on the two backends differ by up to one rollout of statistics; with it off
they match exactly. Frozen statistics keep fragments independent of how many workers there
are and let the learner reconstruct every network input from raw observations.

Faults: a worker whose process dies is replaced by a new actor (fresh envs on a seed block no
other worker uses) and its fragment is collected again under the same weights; the run goes
on. Replacements are counted as ``worker_restarts`` in ``metrics.csv`` and the summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .app import RunnerError
from .checkpoints import Checkpointer, restore
from .context import RunContext
from .graph import BOUNDARY_GRACE_S, Graph, GraphRunner
from .node import QueueNode

if TYPE_CHECKING:
    import numpy as np
    import torch

log = logging.getLogger("runner.distributed")

PIP_INSTALL = "pip install 'ray[default]>=2.9'"
DEFAULT_WORKERS = 2
#: Replacements of one worker within one iteration before the run gives up (a crash loop).
MAX_RESTARTS_PER_ITERATION = 3
#: How long the workers may take to start (a cluster without free CPUs never starts them).
STARTUP_TIMEOUT_S = 300.0
#: The sim step node's outputs, as the worker's :class:`StepResult` names them.
STEP_OUTPUTS = ("observations", "rewards", "done", "info", "next_observations")


class DistributedError(RunnerError):
    """The graph or the cluster cannot run on the Ray backend (one line for the user)."""


# ----------------------------------------------------------------------------- the graph's roles
@dataclass(frozen=True)
class StepNode:
    """A stateless node that a worker runs itself: the action node or a reward node.

    Attributes:
        cls: The generated node class (Ray pickles it by reference; workers import it).
        node_id: Its id in the workflow.
        title: Its title.
        inputs: Node input name -> the value it takes: ``"policy_output"`` or a sim step
            output name (``"observations"``, ``"rewards"``, ...).
    """

    cls: type
    node_id: str
    title: str
    inputs: dict[str, str]

    def build(self, ctx: RunContext) -> QueueNode:
        node = self.cls(self.node_id, self.title, ctx)
        node.setup()
        return node


@dataclass(frozen=True)
class Source:
    """Where one trainer (or sim step) input comes from: a node's output, run in the worker,
    or the sim step itself (``node`` is None)."""

    output: str
    node: StepNode | None = None


@dataclass
class Roles:
    """The nodes the Ray backend needs, found by following the graph's wiring."""

    env: QueueNode
    agent: QueueNode
    trainer: QueueNode
    step: QueueNode
    actions: Source
    reward: Source
    done: Source


def _feeders(graph: Graph) -> dict[tuple[str, str], tuple[QueueNode, str]]:
    """``(target id, input name) -> (source node, output name)`` for every link."""
    owners: dict[int, tuple[QueueNode, str | None]] = {}
    for node in graph.nodes:
        for name, queue in node.queues.items():
            owners[id(queue)] = (node, name)
        if node.any_queue is not None:
            owners[id(node.any_queue)] = (node, None)
    feeds = {}
    for source in graph.nodes:
        for output, pairs in source.consumers.items():
            for queue, tag in pairs:
                target, name = owners[id(queue)]
                feeds[(target.node_id, tag if name is None else name)] = (source, output)
    return feeds


def _consumer(graph: Graph, feeds: dict, source: QueueNode, output: str) -> tuple | None:
    for (target_id, name), (src, out) in feeds.items():
        if src is source and out == output:
            return graph.node(target_id), name
    return None


def find_roles(graph: Graph, meta: dict[str, Any]) -> Roles:
    """Follow the wiring from the env and agent nodes to the trainer; refuse what a worker
    cannot reproduce.

    Raises:
        DistributedError: naming the node and what to do instead.
    """
    feeds = _feeders(graph)
    try:
        env = graph.node(str(meta["env_node"]))
        agent = graph.node(str(meta["agent_node"]))
    except KeyError as exc:
        raise DistributedError(
            "the Ray backend trains graphs with a simulator node and a PPO agent node; "
            "this graph has none: use --backend local"
        ) from exc
    found = _consumer(graph, feeds, agent, "model") if "model" in agent.consumers else None
    if found is None:
        raise DistributedError(
            f"node #{agent.node_id} {agent.title!r} ({type(agent).__name__}) trains on its own, "
            "without a PPO trainer node; the Ray backend needs a PPO Agent node wired to a "
            "PPO Trainer node (see scenarios/cartpole_ppo.json): use --backend local"
        )
    trainer = found[0]
    step_found = _consumer(graph, feeds, env, "sim_handle")
    if step_found is None or not hasattr(env, "ENV_NAME"):
        raise DistributedError(
            f"node #{env.node_id} {env.title!r} is not a simulator feeding a sim step node: "
            "use --backend local"
        )
    step = step_found[0]
    for attr in ("config", "report", "checkpoint_due", "start"):
        if not callable(getattr(trainer, attr, None)):
            raise DistributedError(
                f"trainer node #{trainer.node_id} {trainer.title!r} has no {attr}(): it is not "
                "a PPO Trainer node the Ray backend knows; use --backend local"
            )

    def resolve(
        target: QueueNode, name: str, upstream: QueueNode, allowed: tuple[str, ...], what: str
    ) -> Source:
        src, out = feeds.get((target.node_id, name), (None, None))
        if src is None:
            raise DistributedError(
                f"node #{target.node_id} {target.title!r}: input {name!r} is not connected"
            )
        if src is upstream:
            return Source(out)
        inputs = {}
        for (tid, inp), (s, o) in feeds.items():
            if tid == src.node_id:
                if s is not upstream or o not in allowed:
                    inputs = None
                    break
                inputs[inp] = o
        stateless = type(src).state_dict is QueueNode.state_dict
        if not inputs or not stateless or src._compute_is_async:  # noqa: SLF001
            raise DistributedError(
                f"node #{src.node_id} {src.title!r} ({type(src).__name__}) computes the {what} "
                f"from more than the {upstream.title!r} node's outputs, or keeps state; a Ray "
                "worker can run only stateless nodes fed by the agent or the sim step: use "
                "--backend local"
            )
        return Source(out, StepNode(type(src), src.node_id, src.title, inputs))

    actions = resolve(step, "actions", agent, ("policy_output",), "actions")
    reward = resolve(trainer, "reward", step, STEP_OUTPUTS, "reward")
    done = resolve(trainer, "done", step, STEP_OUTPUTS, "done flags")
    # The agent must act on the simulator's observations as they are (a merge may pass them).
    obs_src, obs_out = feeds.get((agent.node_id, "observations"), (None, None))
    raw = {(env, "observations"), (step, "next_observations")}
    if obs_src is not None and (obs_src, obs_out) not in raw:
        upstream = {v for (tid, _), v in feeds.items() if tid == obs_src.node_id}
        if (
            not obs_src.INPUTS
            or any(p.mode != "any" for p in obs_src.INPUTS)
            or not upstream <= raw
        ):
            raise DistributedError(
                f"node #{obs_src.node_id} {obs_src.title!r} ({type(obs_src).__name__}) changes "
                f"the observations before the agent; Ray workers act on the simulator's own "
                "observations: use --backend local"
            )
    state_src = feeds.get((trainer.node_id, "state"))
    if state_src is None or state_src != (step, "next_observations"):
        raise DistributedError(
            f"trainer node #{trainer.node_id}: its 'state' input must be the sim step's "
            "next_observations for the Ray backend: use --backend local"
        )
    return Roles(env, agent, trainer, step, actions, reward, done)


# ----------------------------------------------------------------------------- the worker
@dataclass(frozen=True)
class WorkerSpec:
    """Everything a rollout worker needs; plain data and importable classes only."""

    task: str
    engine: str
    vectorization: str
    env_seed: int
    """Seed of the worker's first sub-env (sub-env ``j`` gets ``env_seed + j``)."""
    num_envs: int
    policy_config: dict[str, Any]
    deterministic: bool
    actions: Source
    reward: Source
    done: Source
    generator_state: Any = None
    """Initial ``torch.Generator`` state (a uint8 tensor), or None to use ``generator_seed``."""
    generator_seed: int = 0
    incarnation: int = 0


class RolloutWorker:
    """A vector env of the graph's task plus a copy of the policy; returns whole fragments.

    Wrapped with ``ray.remote`` by the learner, so this module imports without Ray.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        import torch

        from ..rl import ActorCritic
        from .sim import SimHandle

        torch.set_num_threads(1)
        self.spec = spec
        self.ctx = RunContext(command="train", seed=spec.env_seed)
        self.sim = SimHandle(
            self.ctx,
            spec.task,
            spec.engine,
            num_envs=spec.num_envs,
            seed=spec.env_seed,
            vectorization=spec.vectorization,
        )
        self.policy = ActorCritic.from_config(spec.policy_config)
        self.policy.eval()
        self.generator = torch.Generator()
        if spec.generator_state is not None:
            self.generator.set_state(spec.generator_state)
        else:
            self.generator.manual_seed(spec.generator_seed)
        self.nodes: dict[str, QueueNode] = {}
        for source in (spec.actions, spec.reward, spec.done):
            if source.node is not None and source.node.node_id not in self.nodes:
                self.nodes[source.node.node_id] = source.node.build(self.ctx)

    def ready(self) -> dict[str, Any]:
        """The process id and what the env says about itself (checked by the learner)."""
        return {
            "pid": os.getpid(),
            "obs_dim": self.ctx.env_info["obs_dim"],
            "action": self.ctx.env_info["action"],
            "num_envs": self.sim.num_envs,
        }

    def pid(self) -> int:
        return os.getpid()

    def _run_node(self, source: Source, values: dict[str, Any], cache: dict[str, Any]) -> Any:
        if source.node is None:
            return values[source.output]
        node_id = source.node.node_id
        if node_id not in cache:
            kwargs = {name: values[key] for name, key in source.node.inputs.items()}
            cache[node_id] = self.nodes[node_id].compute(**kwargs)
        return cache[node_id][source.output]

    def collect(self, weights: dict[str, np.ndarray], num_steps: int) -> dict[str, Any]:
        """Act ``num_steps`` times on every env with ``weights``; one fragment of numpy arrays.

        Arrays are shaped ``(num_steps, num_envs, ...)`` like the rollout buffer; ``obs`` are
        the raw observations each action was taken from.
        """
        import numpy as np
        import torch

        t0 = time.perf_counter()
        self.policy.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        T, M = num_steps, self.sim.num_envs  # noqa: N806 - the buffer's (T, N) names
        spec = self.policy.action_spec
        out = {
            "obs": np.empty((T, M, self.policy.obs_dim), np.float32),
            "actions": np.empty((T, M, *spec.shape), np.int64 if spec.is_discrete else np.float32),
            "terminated": np.empty((T, M), bool),
            "truncated": np.empty((T, M), bool),
            **{k: np.zeros((T, M), np.float32) for k in ("rewards", "final_values")},
        }
        unstable0 = self.sim.unstable
        obs = self.sim.obs
        for t in range(T):
            # The learner scores the rollout (log-probabilities, values) in one pass.
            step = self.policy.act(
                obs, deterministic=self.spec.deterministic, generator=self.generator, score=False
            )
            if self.spec.actions.node is None:
                action = step.env_action
            else:
                action = self._run_node(self.spec.actions, {"policy_output": step}, {})
            result = self.sim.step(action)
            values = result._asdict()  # the sim step node's outputs, by name
            cache: dict[str, Any] = {}
            reward = torch.as_tensor(self._run_node(self.spec.reward, values, cache))
            done = self._run_node(self.spec.done, values, cache)
            if isinstance(done, tuple):  # the sim step's Done: termination and truncation
                terminated, truncated, final_obs = done
            else:  # a plain done tensor (e.g. from a reward node) means termination
                terminated = torch.as_tensor(done).bool()
                truncated, final_obs = torch.zeros_like(terminated), None
            if bool(truncated.any()):
                out["final_values"][t] = self.policy.predict_value(final_obs).numpy()
            out["obs"][t] = obs.numpy()
            out["actions"][t] = step.action.numpy()
            out["rewards"][t] = reward.reshape(M).numpy()
            out["terminated"][t] = terminated.numpy()
            out["truncated"][t] = truncated.numpy()
            obs = result.next_observations
        out["last_obs"] = obs.numpy()
        out["last_value"] = self.policy.predict_value(obs).numpy()
        out["unstable"] = self.sim.unstable - unstable0
        out["seconds"] = time.perf_counter() - t0
        out["pid"] = os.getpid()
        return out

    def get_state(self) -> dict[str, Any]:
        """Env state, current observations and sampling RNG, for a checkpoint."""
        return {
            "sim": self.sim.state_dict(),
            "generator": self.generator.get_state(),
            "incarnation": self.spec.incarnation,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state["sim"])
        if state.get("generator") is not None:
            self.generator.set_state(state["generator"])


# ----------------------------------------------------------------------------- the learner
def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise DistributedError(f"--backend ray needs Ray: {PIP_INSTALL}") from exc
    return ray


def generator_seed(seed: int, worker: int, incarnation: int) -> int:
    """An independent sampling seed for worker ``worker``'s ``incarnation``-th actor."""
    import numpy as np

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
        import torch

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
        from ..rl.checkpoint import atomic_write

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
                    f"cannot join the Ray cluster at {self.address}: {_first_line(exc)}"
                    + _auth_hint()) from exc
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
                f"a Ray worker failed to start: {_first_line(exc)}"
                + (_auth_hint() if self.address else "")) from exc
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
            f"warning: worker {index} died ({_first_line(exc)}); restarted it "
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
                        f"{_first_line(exc)}"
                    ) from exc
                self._restart(index, exc)
                pending[self.actors[index].collect.remote(weights_ref, T)] = index
            except ray.exceptions.RayTaskError as exc:
                raise DistributedError(f"worker {index}: {_first_line(exc)}") from exc
        return fragments  # type: ignore[return-value]

    def learn(self, fragments: list[dict[str, Any]]) -> dict[str, float]:
        """The local trainer's arithmetic on the concatenated fragments: buffer, GAE, update."""
        import numpy as np
        import torch

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
        truncated, final_values = cat("truncated"), cat("final_values")
        buffer = trainer.buffer
        for t in range(buffer.num_steps):
            # No log-probabilities or values: finish_rollout scores the whole rollout,
            # exactly as the local trainer does.
            buffer.add(
                obs[t],
                actions[t],
                None,
                None,
                rewards[t],
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
        import numpy as np

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
        import torch

        ray = import_ray()
        states: list[dict[str, Any] | None] = []
        for i, actor in enumerate(self.actors):
            try:
                states.append(ray.get(actor.get_state.remote(), timeout=60))
            except (ray.exceptions.RayError, TimeoutError) as exc:
                log.warning("worker %d state not saved: %s", i, _first_line(exc))
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


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line: the remote exception when Ray wraps one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        return f"{type(cause).__name__}: {_first_line(cause)}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if not text:
        return type(exc).__name__
    # A creation-task failure carries the remote traceback: its last "XError: ..." line.
    errors = [
        ln.strip() for ln in text.splitlines() if re.match(r"\s*[A-Za-z_.]*(Error|Exception): ", ln)
    ]
    return errors[-1] if errors else text.splitlines()[0]


# ----------------------------------------------------------------------------- the command
def train(
    args: argparse.Namespace, build_graph: Callable[[RunContext], Graph], meta: dict[str, Any]
) -> int:
    """``runner.py train --backend ray``: ``app.cmd_train`` with the rollouts on Ray workers."""
    import torch

    from ..rl.checkpoint import load_checkpoint
    from .app import _check_writable, _export, _progress, seed_everything

    if meta.get("kind") != "rl":
        raise DistributedError("--backend ray trains reinforcement-learning graphs only")
    if args.address:
        _use_auth_token_if_present()  # before Ray is imported: it reads the mode once
    import_ray()
    torch.set_num_threads(max(1, args.threads))
    seed_everything(args.seed)
    run_dir = Path(args.run_dir)
    _check_writable(run_dir)
    ctx = RunContext(
        command="train",
        seed=args.seed,
        max_steps=args.steps,
        run_dir=run_dir,
        device=args.device,
        options={"num_envs": args.num_envs, "vectorization": args.vectorization},
    )
    for flag in ("trace", "profile", "debug_queues"):
        if getattr(args, flag, None):
            ctx.notice(f"--{flag.replace('_', '-')} is ignored under --backend ray")
    graph = build_graph(ctx)
    workers = DEFAULT_WORKERS if args.workers is None else args.workers
    run = DistributedRun(
        ctx,
        graph,
        meta,
        workers=workers,
        envs_per_worker=args.envs_per_worker,
        address=args.address,
    )
    payload = None
    if args.resume:
        if not Path(args.resume).is_file():
            raise DistributedError(f"checkpoint to resume from, {args.resume}, does not exist")
        payload = load_checkpoint(args.resume)
        if payload.get("workflow_sha256") not in (None, meta.get("workflow_sha256")):
            raise DistributedError(f"{args.resume} was written by a different workflow")
    ctx.checkpointer = RayCheckpointer(graph, meta, run, keep=args.keep_checkpoints)
    reason = "error"
    try:
        t_start = time.perf_counter()
        run.setup(payload)
        if payload is not None:
            print(f"resumed from {args.resume} at step {ctx.env_steps}")
        if ctx.max_steps is not None and not run.budget_left():
            ctx.notice(
                f"--steps {ctx.max_steps} leaves no room for a rollout of "
                f"{run.batch_size} steps (T x workers x envs-per-worker): no update ran"
            )
        startup = time.perf_counter() - t_start
        progress, close_progress = _progress(
            ctx.max_steps, not args.no_progress and sys.stderr.isatty(), initial=ctx.env_steps
        )
        ctx.progress = progress
        start_steps = ctx.env_steps
        t0 = time.perf_counter()
        requested: list[str] = []  # a signal's name: stop after this iteration's update
        with _interrupts_at_iteration_end(requested):
            try:
                reason = "done"
                while run.budget_left():
                    run.iteration()
                    if requested and run.budget_left():  # here the checkpoint resumes exactly
                        reason = "interrupted"
                        break
            except KeyboardInterrupt:  # a second signal: stop at once
                reason = "interrupted"
            finally:
                close_progress()
                elapsed = time.perf_counter() - t0
        if reason == "interrupted":
            path = ctx.checkpointer.save("interrupted")
            print(f"interrupted: checkpoint written to {path}", file=sys.stderr)
        elif ctx.checkpointer.last_path is None:
            ctx.checkpointer.save("end")
    finally:
        run.close(reason)
    steps = ctx.env_steps - start_steps
    summary = {
        "status": reason,
        "steps": ctx.env_steps,
        "seconds": round(elapsed, 2),
        "steps_per_second": round(steps / elapsed, 1) if elapsed > 0 else None,
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in ctx.summary.items()},
        "backend": "ray",
        "workers": run.workers,
        "envs_per_worker": run.envs_per_worker,
        "worker_restarts": run.restarts,
        "startup_seconds": round(startup, 2),
        "run_dir": str(run_dir),
    }
    if reason == "done":
        summary["checkpoint"] = str(ctx.checkpointer.last_path)
        if not getattr(args, "no_export_policy", False):
            report = _export(ctx.checkpointer.last_path, run_dir / "policy.pt", "torchscript", meta)
            summary["policy"] = report["path"]
    for notice in ctx.notices:
        print(f"notice: {notice}", file=sys.stderr)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("summary: " + json.dumps(summary))
    return 130 if reason == "interrupted" else 0


def _use_auth_token_if_present() -> None:
    """Send Ray's auth token when joining a cluster, if this machine has one.

    ``ray start`` turns token authentication on when a token exists (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), but Ray 2.5x-2.60 clients send it only
    with ``RAY_AUTH_MODE=token`` set, so joining such a cluster fails as unauthenticated. The
    same rule as ``ray start``: an explicit ``RAY_AUTH_MODE`` is left alone.
    """
    global _AUTO_AUTH_TOKEN
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        _AUTO_AUTH_TOKEN = True


_AUTO_AUTH_TOKEN = False


def _auth_hint() -> str:
    """What to try when joining failed after the runner turned on Ray's token mode."""
    if not _AUTO_AUTH_TOKEN:
        return ""
    return (" (this machine has a Ray auth token, so the runner sent it, RAY_AUTH_MODE=token; "
            "for a cluster that runs without token authentication set RAY_AUTH_MODE=disabled)")


@contextmanager
def _interrupts_at_iteration_end(requested: list[str]) -> Iterator[None]:
    """SIGINT and SIGTERM: the first asks the loop to stop after the current iteration (the
    checkpoint then resumes exactly, as in the local runner); a second stops at once."""

    timers: list[threading.Timer] = []

    def interrupt(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if requested:
            raise KeyboardInterrupt(name)
        requested.append(name)
        print(f"{name}: stopping after the current iteration's update, where a checkpoint "
              "resumes exactly (send it again to stop now)", file=sys.stderr, flush=True)
        # No update within the grace period (a supervisor's SIGKILL follows its SIGTERM):
        # the signal again, which stops at once.
        timer = threading.Timer(BOUNDARY_GRACE_S, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
        timers.append(timer)

    sigs = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {sig: signal.signal(sig, interrupt) for sig in sigs}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
