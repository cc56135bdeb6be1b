"""The trained policy in a checkpoint: finding it, loading it, exporting it for the robot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..rl import (
    ActorCritic,
    DeployPolicy,
    ExportError,
    NonFinitePolicyError,
    check_finite,
    export_policy,
    latest_checkpoint,
)
from ..rl.c_export import export_c_policy
from .checkpoints import load
from .errors import RunnerError
from .run_dirs import followed


def resolve_checkpoint(checkpoint: Path | None, run_dir: Path) -> Path:
    """``--checkpoint``, or else the newest checkpoint in ``--run-dir``."""
    path = checkpoint or latest_checkpoint(followed(run_dir))
    if path is None:
        raise RunnerError(f"no checkpoint in {run_dir}: run `runner.py train` first, "
                          "or pass --checkpoint")
    if not Path(path).is_file():
        raise RunnerError(f"checkpoint {path} does not exist")
    return Path(path)


def load_policy(checkpoint: Path, meta: dict[str, Any]) -> tuple[ActorCritic, dict[str, Any]]:
    """The trained ActorCritic (in eval mode) and the env info recorded with it."""
    payload = load(checkpoint)
    agent_id = meta.get("agent_node")
    state = payload["nodes"].get(agent_id) if agent_id else None
    if state is None:
        state = next((s for s in payload["nodes"].values()
                      if isinstance(s, dict) and "policy_config" in s), None)
    if state is None:
        raise RunnerError(f"{checkpoint} holds no policy")
    policy = ActorCritic.from_config(state["policy_config"])
    policy.load_state_dict(state["policy"])
    policy.eval()
    return policy, {**payload.get("env_info", {}), "env_steps": payload.get("env_steps")}


def deploy_module(policy: ActorCritic) -> DeployPolicy:
    """What runs on the robot: normaliser, actor, deterministic action, clipping."""
    return DeployPolicy(policy).eval()


def export_checkpoint(checkpoint: Path, output: Path, fmt: str, meta: dict[str, Any]) -> dict:
    """Export the checkpoint's policy to ``output`` (parity-checked) with its sidecar.

    ``fmt="c"`` writes the folder ``output`` (``policy.h``, ``policy.c``, ...; see
    :func:`~..rl.c_export.export_c_policy`).
    """
    policy, env = load_policy(checkpoint, meta)
    dt = env.get("dt")
    metadata = {
        "task": env.get("task") or meta.get("task"),
        "engine": env.get("engine") or meta.get("engine"),
        "control_rate_hz": (1.0 / dt) if dt else None,
        "dt": dt,
        "training_step": env.get("env_steps"),
        "checkpoint": checkpoint.name,
        "workflow": meta.get("workflow"),
        "workflow_sha256": meta.get("workflow_sha256"),
    }
    try:
        if fmt == "c":
            check_finite(policy)
            return export_c_policy(policy, output, metadata=metadata, checkpoint=checkpoint)
        report = export_policy(policy, output, fmt=fmt, metadata=metadata)
    except NonFinitePolicyError as exc:
        raise RunnerError(f"refusing to export the policy in {checkpoint}: {exc}; "
                          f"{output} was not written") from None
    except ExportError as exc:  # e.g. the C did not build or match: one line, no traceback
        label = "C" if fmt == "c" else fmt
        raise RunnerError(f"{label} export of {checkpoint.name}: {exc}") from exc
    report["path"] = str(output)
    return report
