"""Shared fixtures for the exporter-core tests: cached exports and isolated runs.

Test modules take these helpers as fixtures rather than importing this file, so another
folder's conftest can never shadow it. Paths and the scenario list live in regen_golden.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from regen_golden import SCENARIOS_DIR, golden_name

#: Runs a script as ``__main__`` with ``dnne_robot`` made unimportable, so an export that
#: still needs the tool fails loudly instead of quietly using the editable install.
ISOLATED = (
    "import runpy, sys; sys.modules['dnne_robot'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def run_export_script(export_dir: Path, *args: str, timeout: float = 120,
                      script: str = "runner.py") -> subprocess.CompletedProcess:
    """``python runner.py ARGS`` inside ``export_dir`` with dnne_robot unimportable."""
    return subprocess.run(
        [sys.executable, "-c", ISOLATED, script, *args], cwd=export_dir, env=isolated_env(),
        capture_output=True, text=True, timeout=timeout,
    )


def export_scenario(scenario: str, sim: str, out_dir: Path, **kwargs) -> Path:
    from dnne_robot.pipeline import export

    export(SCENARIOS_DIR / scenario, out_dir, sim=sim, **kwargs)
    return out_dir


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """A factory: the export of (scenario, sim), made once per session. Treat it read-only."""
    cache: dict[tuple[str, str], Path] = {}
    root = tmp_path_factory.mktemp("exports")

    def get(scenario: str, sim: str) -> Path:
        key = (scenario, sim)
        if key not in cache:
            cache[key] = export_scenario(scenario, sim, root / golden_name(scenario, sim))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def run_export() -> Callable[..., subprocess.CompletedProcess]:
    """:func:`run_export_script`: run an exported script with dnne_robot unimportable."""
    return run_export_script


@pytest.fixture(scope="session")
def isolated_command() -> tuple[list[str], dict[str, str]]:
    """(argv prefix, env) to start an exported script by hand with dnne_robot unimportable."""
    return [sys.executable, "-c", ISOLATED], isolated_env()


@pytest.fixture(scope="session")
def export_to() -> Callable[..., Path]:
    """:func:`export_scenario`: a fresh export of a scenario into a folder."""
    return export_scenario
