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


_ROS_DOMAINS = 102  # ROS_DOMAIN_ID 0-101: the ids whose ports every DDS can use
_ros_domain_turn = [0]


def ros_domain_id() -> int:
    """A ROS_DOMAIN_ID no other test running at the same time holds.

    Each pytest-xdist worker takes its own slice of 0-101 and walks through it, so two
    workers never share a domain (a random pick would, one time in a hundred, and
    pytest-randomly can make every worker pick the same one).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    index = int(worker) if worker.isdigit() else 0
    size = max(_ROS_DOMAINS // count, 1)
    _ros_domain_turn[0] += 1
    return (index * size + _ros_domain_turn[0] % size) % _ROS_DOMAINS


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    """This test's own ROS_DOMAIN_ID and localhost-only discovery, here and in children."""
    domain = ros_domain_id()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.delenv("ROS_LOCALHOST_ONLY", raising=False)
    monkeypatch.delenv("ROS_STATIC_PEERS", raising=False)
    return domain
