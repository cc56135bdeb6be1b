"""Regenerate the golden exports in tests/golden/ (then read the diff before committing).

    python tests/regen_golden.py            # every scenario under every --sim
    python tests/regen_golden.py --check    # exit 1 if any golden tree is out of date

Each scenario in scenarios/ is exported under every simulator that has its task into
``tests/golden/<scenario>__<sim>/``. Only the generated files are kept (runner.py,
generated_nodes/, requirements.txt, README.md, manifest.json, ...): ``framework/`` is a
verbatim copy of dnne_robot's runtime, rl and envs, which tests/render/test_golden.py checks
instead. ``tests/golden/<scenario>__optimized/`` holds ``export --optimize`` under the first
simulator that has the scenario's task (checked by tests/optimize/).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "golden"
SCENARIOS_DIR = REPO / "scenarios"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from dnne_robot.envs import ENGINES  # noqa: E402

SIMS = ENGINES
#: Copied, not generated: checked against the package instead of stored.
FRAMEWORK_PREFIX = "framework/"
#: The golden tree name suffix of ``export --optimize``.
OPTIMIZED = "optimized"


def scenarios() -> list[str]:
    return sorted(p.name for p in SCENARIOS_DIR.glob("*.json"))


def golden_name(scenario: str, sim: str) -> str:
    """``cartpole_ppo.api.json`` + ``mujoco`` -> ``cartpole_ppo_api__mujoco``."""
    return f"{scenario.removesuffix('.json').replace('.', '_')}__{sim}"


def kept(rel: str) -> bool:
    return not rel.startswith(FRAMEWORK_PREFIX)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by POSIX relative path (caches skipped)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def refusal(scenario: str, sim: str) -> str | None:
    """Why ``scenario`` cannot be exported under ``sim`` (a task another engine lacks), or None."""
    sys.path.insert(0, str(REPO))
    from dnne_robot.pipeline import check

    checked = check(SCENARIOS_DIR / scenario, sim=sim)
    return "; ".join(map(str, checked.errors)) or None


def optimized_sim(scenario: str) -> str:
    """The simulator of the optimized golden tree: the first one that has the task."""
    return next(sim for sim in SIMS if refusal(scenario, sim) is None)


def export_files(scenario: str, sim: str, optimize: bool = False) -> dict[str, bytes]:
    """The golden part of a fresh export of ``scenario`` under ``sim``."""
    sys.path.insert(0, str(REPO))
    from dnne_robot.pipeline import export

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "export"
        export(SCENARIOS_DIR / scenario, out, sim=sim, optimize=optimize)
        return {rel: data for rel, data in tree(out).items() if kept(rel)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    stale = []
    expected_dirs = set()
    for scenario in scenarios():
        jobs = [(golden_name(scenario, sim), sim, False) for sim in SIMS]
        jobs.append((golden_name(scenario, OPTIMIZED), optimized_sim(scenario), True))
        for name, sim, optimize in jobs:
            why = refusal(scenario, sim)
            if why is not None:
                print(f"skipped {scenario} under --sim {sim}: {why}")
                continue
            expected_dirs.add(name)
            target = GOLDEN_DIR / name
            files = export_files(scenario, sim, optimize)
            current = tree(target) if target.is_dir() else {}
            if current == files:
                continue
            stale.append(name)
            if args.check:
                continue
            if target.exists():
                shutil.rmtree(target)
            for rel, data in files.items():
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            print(f"wrote {target.relative_to(REPO)} ({len(files)} files)")
    # Only trees named <scenario>__<sim> or <scenario>__optimized are this script's.
    ours = sorted(p for p in GOLDEN_DIR.iterdir() if p.is_dir() and p.name.endswith(
        tuple(f"__{sim}" for sim in (*SIMS, OPTIMIZED))))
    for extra in ours:
        if extra.name not in expected_dirs:
            stale.append(extra.name)
            if not args.check:
                shutil.rmtree(extra)
                print(f"removed {extra.relative_to(REPO)} (no such scenario)")
    if args.check:
        for name in stale:
            print(f"out of date: tests/golden/{name}")
        return 1 if stale else 0
    if not stale:
        print("golden files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
