from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dnne_robot.workflow import Link, Workflow

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p.name for p in DATA.glob("*.json"))


def shape(wf: Workflow) -> dict[str, Any]:
    """What makes two workflows equivalent: ids, types, titles, literals and link ends."""
    return {
        nid: (
            n.class_type,
            n.title,
            {
                k: ("link", v.source, v.source_slot) if isinstance(v, Link) else ("value", v)
                for k, v in n.inputs.items()
            },
        )
        for nid, n in wf.nodes.items()
    }


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def data_dir() -> Path:
    return DATA
