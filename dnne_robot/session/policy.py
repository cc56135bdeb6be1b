"""The trained policy in a checkpoint: loading it, exporting it for the robot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..rl import (
    ActorCritic,
    DeployPolicy,
    ExportError,
    NonFinitePolicyError,
    check_finite,
    export_policy,
)
from ..rl.c_export import export_c_policy
from ..robot import contract as robot_contract
from .checkpoints import load
from .errors import RunnerError


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
        write_contract(policy, output, fmt, report)
    except NonFinitePolicyError as exc:
        raise RunnerError(f"refusing to export the policy in {checkpoint}: {exc}; "
                          f"{output} was not written") from None
    except ExportError as exc:  # e.g. the C did not build or match: one line, no traceback
        what = "C" if fmt == "c" else fmt
        raise RunnerError(f"{what} export of {checkpoint.name}: {exc}") from exc
    report["path"] = str(output)
    return report


def write_contract(policy: ActorCritic, output: Path, fmt: str, report: dict[str, Any]) -> None:
    """Add the policy contract (:mod:`..robot.contract`) to ``output``'s sidecar, with example
    observation/action pairs; an ONNX file also carries it as ``dnne_robot.contract``
    metadata (written first: the contract's ``policy_sha256`` is of the final file)."""
    sidecar = Path(report["metadata_path"])
    info = json.loads(sidecar.read_text())
    deploy = deploy_module(policy)
    g = torch.Generator().manual_seed(0)
    std = torch.sqrt(deploy.obs_var + deploy.epsilon)
    obs = deploy.obs_mean + std * torch.randn((4, deploy.obs_dim), generator=g)
    with torch.no_grad():
        act = deploy(obs)
    examples = [{"observation": o.tolist(), "action": a.reshape(-1).tolist()}
                for o, a in zip(obs, act, strict=True)]
    contract = robot_contract.build(info, examples)
    if contract is None:
        return
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(output))
        meta = {**contract, "policy_sha256": None, "policy_file": output.name}
        entry = model.metadata_props.add()
        entry.key, entry.value = "dnne_robot.contract", json.dumps(meta, sort_keys=True)
        onnx.save(model, str(output))
        report["sha256"] = info["sha256"] = robot_contract.file_sha256(output)
        contract["policy_sha256"] = info["sha256"]
    info["contract"] = contract
    sidecar.write_text(json.dumps(info, indent=2, sort_keys=True, allow_nan=False) + "\n")
