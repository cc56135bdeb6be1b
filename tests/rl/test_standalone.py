"""`dnne_robot/rl` is copied verbatim into exports: it must stand on its own."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RL_DIR = Path(__file__).resolve().parents[2] / "dnne_robot" / "rl"
ALLOWED_THIRD_PARTY = {"numpy", "torch", "matplotlib", "tensorboard", "onnx", "onnxruntime"}


@pytest.mark.parametrize("module", sorted(p.name for p in RL_DIR.glob("*.py")))
def test_imports_only_stdlib_numpy_torch(module: str) -> None:
    tree = ast.parse((RL_DIR / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots = [(node.module or "").split(".")[0]]
        else:
            continue
        for root in roots:
            assert root in sys.stdlib_module_names or root in ALLOWED_THIRD_PARTY, (
                f"{module}:{node.lineno} imports {root!r}"
            )


def test_copied_package_trains_and_exports_in_a_bare_interpreter(tmp_path: Path) -> None:
    shutil.copytree(RL_DIR, tmp_path / "framework" / "rl")
    (tmp_path / "framework" / "__init__.py").write_text("")
    script = textwrap.dedent(
        """
        import sys, torch
        from framework.rl import ActionSpec, ActorCritic, PPOConfig, PPOTrainer, export_policy

        policy = ActorCritic(3, ActionSpec.continuous(-1.0, 1.0, dim=2))
        trainer = PPOTrainer(policy, PPOConfig(num_steps=4, minibatch_size=8), 2, 8)
        obs = torch.randn(2, 3)
        stats = None
        while not trainer.finished:
            step = policy.act(obs, update_normalizer=True)
            obs = torch.randn(2, 3)
            no = torch.zeros(2, dtype=torch.bool)
            stats = trainer.record(step, step.env_action.sum(1), no, no, obs)
        assert stats is not None and stats["gradient_steps"] > 0
        export_policy(policy, "policy.pt")
        leaked = [m for m in sys.modules if m.split(".")[0] in ("gymnasium", "dnne_robot")]
        assert not leaked, leaked
        """
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, '.')\n{script}"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert (tmp_path / "policy.pt").is_file() and (tmp_path / "policy.json").is_file()
