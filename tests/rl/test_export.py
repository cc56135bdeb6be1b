from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from dnne_robot.rl import (
    ActionSpec,
    ActorCritic,
    DeployPolicy,
    ExportDependencyError,
    ExportParityError,
    NonFinitePolicyError,
    export_policy,
    load_exported,
)
from dnne_robot.rl import export as export_module

SPECS = {
    "discrete": ActionSpec.discrete(4),
    "clip": ActionSpec.continuous([-1.0, -0.5, 0.0], [1.0, 0.5, 2.0]),
    "squash": ActionSpec.continuous([-2.0, 0.0, 0.0], [2.0, 1.0, 3.0], squash=True),
}
SUFFIX = {"torchscript": ".pt", "pt2": ".pt2", "onnx": ".onnx"}


def trained_like_policy(name: str, normalize_obs: bool = True, shared: bool = False) -> ActorCritic:
    """A policy whose outputs actually reach the clip bounds and vary with the input."""
    torch.manual_seed(0)
    policy = ActorCritic(6, SPECS[name], normalize_obs=normalize_obs, shared=shared)
    with torch.no_grad():
        policy.actor_head.weight.mul_(300.0)
        policy.actor_head.bias.normal_()
    if policy.obs_rms is not None:
        policy.obs_rms.update(torch.randn(500, 6) * torch.arange(1.0, 7.0) + 3.0)
    return policy


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_export_parity_and_sidecar(tmp_path: Path, fmt: str, name: str) -> None:
    policy = trained_like_policy(name)
    recorded = torch.randn(64, 6) * 4 + 3
    path = tmp_path / f"policy{SUFFIX[fmt]}"
    metadata = {"task": "reach", "engine": "mujoco", "control_hz": 50.0, "global_step": 12345}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = export_policy(policy, path, fmt=fmt, recorded_obs=recorded, metadata=metadata)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not deprecations, [str(w.message) for w in deprecations]

    assert set(report["max_abs_diff"]) == {"example", "random", "single", "recorded"}
    assert max(report["max_abs_diff"].values()) <= 1e-5
    assert report["frozen"] is (True if fmt == "torchscript" else None)

    loaded = load_exported(path)
    obs = torch.cat([recorded, torch.randn(16, 6) * 100])
    expected = policy.deterministic_action(obs)
    actual = loaded(obs)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)
    if not SPECS[name].is_discrete:  # the scaled heads really do hit the bounds
        assert bool((expected == torch.tensor(SPECS[name].high)).any()) or SPECS[name].squash

    sidecar = json.loads((tmp_path / "policy.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == report["sha256"]
    assert sidecar["format"] == fmt and sidecar["file"] == path.name
    assert sidecar["metadata"] == metadata
    assert sidecar["action"] == SPECS[name].to_dict()
    assert sidecar["observation"]["mean"] == policy.obs_rms.mean.tolist()
    assert sidecar["observation"]["var"] == policy.obs_rms.var.tolist()
    assert set(sidecar["versions"]) == {"torch", "numpy", "python"}
    assert ActorCritic.from_config(sidecar["policy_config"]).config() == policy.config()


@pytest.mark.parametrize("shared", [False, True])
def test_export_without_normalizer(tmp_path: Path, shared: bool) -> None:
    policy = trained_like_policy("clip", normalize_obs=False, shared=shared)
    report = export_policy(policy, tmp_path / "p.pt")
    assert max(report["max_abs_diff"].values()) == 0.0
    obs = torch.randn(8, 6) * 50  # raw values far outside any clip: none must be applied
    torch.testing.assert_close(load_exported(tmp_path / "p.pt")(obs), DeployPolicy(policy)(obs))
    sidecar = json.loads((tmp_path / "p.json").read_text())
    assert sidecar["observation"]["normalize"] is False and sidecar["observation"]["mean"] is None


def test_unbounded_box_writes_strict_json(tmp_path: Path) -> None:
    policy = ActorCritic(3, ActionSpec.continuous(float("-inf"), float("inf"), dim=2))
    export_policy(policy, tmp_path / "p.pt")
    sidecar = json.loads((tmp_path / "p.json").read_text())  # no bare Infinity tokens
    assert sidecar["action"]["low"] == ["-inf", "-inf"]


@pytest.mark.parametrize(("key", "value", "said"), [
    ("actor_body.0.weight", float("nan"), "1 NaN"),
    ("critic_head.bias", float("inf"), "1 inf"),
    ("log_std", float("-inf"), "1 -inf"),
    ("obs_rms.var", float("nan"), "1 NaN"),
    ("obs_rms.count", float("inf"), "1 inf"),
])
def test_non_finite_policy_is_refused_and_nothing_written(tmp_path: Path, key: str,
                                                           value: float, said: str) -> None:
    """The parity check cannot see a NaN weight (NaN - NaN is NaN, never > atol)."""
    policy = trained_like_policy("clip")
    policy.state_dict()[key].view(-1)[0] = value
    with pytest.raises(NonFinitePolicyError, match=rf"the policy's {key} holds {said} "):
        export_policy(policy, tmp_path / "policy.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_parity_failure_leaves_no_file(tmp_path: Path, monkeypatch, fmt: str) -> None:
    real_load = export_module.load_exported

    def perturbed(path, fmt=None):
        module = real_load(path, fmt)
        return lambda obs: module(obs) + 1e-3

    monkeypatch.setattr(export_module, "load_exported", perturbed)
    policy = trained_like_policy("clip")
    path = tmp_path / f"policy{SUFFIX[fmt]}"
    with pytest.raises(ExportParityError, match="was not written") as err:
        export_policy(policy, path, fmt=fmt)
    assert err.value.report["max_abs_diff"]["random"] == pytest.approx(1e-3, rel=1e-2)
    assert list(tmp_path.iterdir()) == []


def test_previous_export_survives_failed_export(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "policy.pt"
    export_policy(trained_like_policy("discrete"), path)
    before = path.read_bytes()
    monkeypatch.setattr(export_module, "_parity", lambda *a: {"random": 1.0})
    with pytest.raises(ExportParityError):
        export_policy(trained_like_policy("clip"), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "policy.pt"]


@pytest.mark.skipif(importlib.util.find_spec("onnx") is not None, reason="onnx is installed")
def test_onnx_without_onnx_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(ExportDependencyError, match="pip install onnx"):
        export_policy(trained_like_policy("clip"), tmp_path / "p.onnx", fmt="onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxscript") is None,
    reason="onnx / onnxscript not installed",
)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_onnx_parity(tmp_path: Path, name: str) -> None:
    report = export_policy(trained_like_policy(name), tmp_path / "p.onnx", fmt="onnx")
    if report["onnxruntime_checked"]:
        assert max(report["max_abs_diff"].values()) <= 1e-5


def test_bare_interpreter_loads_exports(tmp_path: Path) -> None:
    """The artefacts run in a fresh `python -I` with nothing but torch importable."""
    expected = {}
    for name in ("discrete", "squash"):
        policy = trained_like_policy(name)
        export_policy(policy, tmp_path / f"{name}.pt", fmt="torchscript")
        export_policy(policy, tmp_path / f"{name}.pt2", fmt="pt2")
        obs = torch.randn(32, 6) * 4 + 3
        torch.save(obs, tmp_path / f"{name}_obs.pt")
        expected[name] = policy.deterministic_action(obs)

    script = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("ignore")
        import torch
        d = sys.argv[1]
        for name in ("discrete", "squash"):
            obs = torch.load(f"{d}/{name}_obs.pt", weights_only=True)
            ts = torch.jit.load(f"{d}/{name}.pt")
            ep = torch.export.load(f"{d}/{name}.pt2").module()
            torch.save({"ts": ts(obs), "pt2": ep(obs)}, f"{d}/{name}_out.pt")
        assert not any(m.startswith("dnne_robot") for m in sys.modules), "dnne_robot leaked"
        """
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script, str(tmp_path)],
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    for name, want in expected.items():
        out = torch.load(tmp_path / f"{name}_out.pt", weights_only=True)
        assert torch.equal(out["ts"], want)
        assert torch.equal(out["pt2"], want)
