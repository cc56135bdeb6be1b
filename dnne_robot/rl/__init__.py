"""PPO for dnne-robot: policy, rollout buffer, algorithm, checkpoints, metrics, export
(TorchScript, pt2, ONNX, and C99 through :mod:`.c_export`).

This package is copied verbatim into exported projects (as ``framework/rl``), so it
imports only the standard library, numpy and torch (TensorBoard, matplotlib and
onnx/onnxruntime are optional and imported lazily), and only relatively.

The speed path (:mod:`.fast`) is on by default; ``DNNE_ROBOT_FAST_PATH=0`` or
``FAST_PATH.set(False)`` turns it off (see :mod:`.fast.switch`).
"""

from __future__ import annotations

from .buffer import RolloutBuffer, RolloutMinibatch
from .c_export import CExportError, export_c_policy
from .checkpoint import (
    CheckpointError,
    capture_rng,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from .export import (
    DeployPolicy,
    ExportDependencyError,
    ExportError,
    ExportParityError,
    NonFinitePolicyError,
    check_finite,
    export_policy,
    file_sha256,
    load_exported,
)
from .fast import FAST_PATH
from .metrics import EpisodeTracker, MetricsLogger
from .normalizer import RunningMeanStd
from .policy import ActorCritic, PolicyStep
from .ppo import PPO, NonFiniteLossError, PPOConfig, preload_optimizer
from .spaces import ActionSpec
from .trainer import PPOTrainer

__all__ = [
    "FAST_PATH",
    "PPO",
    "ActionSpec",
    "ActorCritic",
    "CExportError",
    "CheckpointError",
    "DeployPolicy",
    "EpisodeTracker",
    "ExportDependencyError",
    "ExportError",
    "ExportParityError",
    "MetricsLogger",
    "NonFiniteLossError",
    "NonFinitePolicyError",
    "PPOConfig",
    "PPOTrainer",
    "PolicyStep",
    "RolloutBuffer",
    "RolloutMinibatch",
    "RunningMeanStd",
    "capture_rng",
    "check_finite",
    "checkpoint_path",
    "export_c_policy",
    "export_policy",
    "file_sha256",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_exported",
    "preload_optimizer",
    "prune_checkpoints",
    "restore_rng",
    "save_checkpoint",
]
