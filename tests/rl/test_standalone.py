"""`dnne_robot/rl` is copied verbatim into exports: it must stand on its own. Its modules
import each other without a circle, and none is over 600 lines."""

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
MODULES = sorted(p.relative_to(RL_DIR).as_posix() for p in RL_DIR.rglob("*.py"))
MAX_LINES = 600


@pytest.mark.parametrize("module", MODULES)
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


def module_name(path: str) -> str:
    """``fast/adam.py`` -> ``rl.fast.adam``; ``fast/__init__.py`` -> ``rl.fast``."""
    parts = ["rl", *path[: -len(".py")].split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rl_imports(path: str) -> set[str]:
    """The rl modules ``path`` imports, at module level or inside functions (an
    ``if TYPE_CHECKING:`` block included): ``from .x import y`` names ``rl.x``, or
    ``rl.x.y`` where that is a module."""
    name = module_name(path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    modules = {module_name(m) for m in MODULES}
    found = set()
    for node in ast.walk(ast.parse((RL_DIR / path).read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            found.add(sub if sub in modules else target)
    return found - {name}


def test_no_import_circles() -> None:
    graph = {module_name(m): rl_imports(m) for m in MODULES}
    assert graph["rl.ppo"] >= {"rl.fast", "rl.policy"} and graph["rl.fast"]  # the scan works
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node) :] + [node]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if node in done:
            return
        for target in sorted(graph.get(node, ())):
            # A package's __init__ is imported before its submodules: importing rl.fast.x
            # runs rl.fast first, so that edge counts too.
            visit(target, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])


def test_the_speed_path_is_imported_only_by_ppo_and_policy() -> None:
    importers = {
        module_name(m)
        for m in MODULES
        if not m.startswith("fast/") and any(t.startswith("rl.fast") for t in rl_imports(m))
    }
    assert importers == {"rl", "rl.ppo", "rl.policy"}  # rl re-exports the switch
    for m in MODULES:
        if m.startswith("fast/"):
            outside = {t for t in rl_imports(m) if not t.startswith("rl.fast")}
            assert outside <= {"rl.buffer"}, (m, outside)


@pytest.mark.parametrize("module", MODULES)
def test_no_module_over_600_lines(module: str) -> None:
    lines = len((RL_DIR / module).read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines"
