"""Loading a ``bench/`` script by its path for a test (``bench`` may name another package on
``sys.path``, and the scripts are not a package the tests import)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_bench_script(name: str) -> ModuleType:
    """``bench/<name>.py`` as a fresh module, registered so dataclasses can find it."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test",
                                                  ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_bench() -> Callable[[str], ModuleType]:
    return load_bench_script
