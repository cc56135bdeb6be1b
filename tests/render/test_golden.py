"""Every scenario under every simulator, compared byte for byte with tests/golden/.

The golden trees hold only generated files; the framework files an export copies are checked
in tests/render/test_framework.py.

After a deliberate change to generated code run ``python tests/regen_golden.py`` and read the
diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest
import regen_golden
from regen_golden import SIMS

COMBOS = [(scenario, sim) for scenario in regen_golden.scenarios() for sim in SIMS]
REGEN = "python tests/regen_golden.py"


def _diff(rel: str, want: bytes, got: bytes) -> str:
    lines = difflib.unified_diff(want.decode(errors="replace").splitlines(),
                                 got.decode(errors="replace").splitlines(),
                                 f"golden/{rel}", f"export/{rel}", lineterm="", n=2)
    return "\n".join(list(lines)[:40])


@pytest.mark.parametrize(("scenario", "sim"), COMBOS)
def test_export_matches_golden(scenario: str, sim: str,
                               exported: Callable[[str, str], Path]) -> None:
    golden = regen_golden.GOLDEN_DIR / regen_golden.golden_name(scenario, sim)
    why = regen_golden.refusal(scenario, sim)
    if why is not None:
        assert not golden.exists(), f"{golden} is stale: the export is refused ({why})"
        pytest.skip(f"not exportable under --sim {sim}: {why}")
    assert golden.is_dir(), f"no golden copy of {scenario} under {sim}: run {REGEN}"
    want = regen_golden.tree(golden)
    got = {rel: data for rel, data in regen_golden.tree(exported(scenario, sim)).items()
           if regen_golden.kept(rel)}
    assert sorted(got) == sorted(want), f"file lists differ; if intended, run {REGEN}"
    for rel in want:
        assert got[rel] == want[rel], f"{rel} differs (if intended, run {REGEN}):\n" + _diff(
            rel, want[rel], got[rel])


def test_no_orphan_golden_trees() -> None:
    """Each <scenario>__<sim> tree has its scenario (others, like __optimized, are not ours)."""
    names = {regen_golden.golden_name(scenario, sim) for scenario, sim in COMBOS}
    ours = [p.name for p in regen_golden.GOLDEN_DIR.iterdir()
            if p.is_dir() and p.name.endswith(tuple(f"__{sim}" for sim in SIMS))]
    assert ours and set(ours) <= names, f"remove stale trees with {REGEN}"
