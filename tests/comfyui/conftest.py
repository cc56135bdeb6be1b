from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dnne_robot.comfyui import write_pack

from .helpers import forget_pack, import_pack

#: A folder name that is no Python identifier, as custom_nodes folders often are.
PACK_NAME = "dnne-robot-nodes"


@pytest.fixture(scope="session")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("custom_nodes") / PACK_NAME
    write_pack(out)
    return out


@pytest.fixture
def pack(pack_dir: Path) -> Iterator[ModuleType]:
    """The pack imported the way ComfyUI imports it, with no ComfyUI installed."""
    module = import_pack(pack_dir, PACK_NAME)
    try:
        yield module
    finally:
        forget_pack(PACK_NAME)
