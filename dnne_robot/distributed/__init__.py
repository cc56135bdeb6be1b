"""PPO on Ray: rollout workers as actors, the driver as the one learner.

Copied into an export only with ``dnne-robot export --backend ray``.

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

from .backend import RayBackend
from .errors import PIP_INSTALL, DistributedError
from .learner import DistributedRun, RayCheckpointer
from .roles import Roles, find_roles

__all__ = ["PIP_INSTALL", "DistributedError", "DistributedRun", "RayBackend", "RayCheckpointer",
           "Roles", "find_roles"]
