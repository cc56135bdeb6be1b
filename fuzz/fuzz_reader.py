"""Fuzz target for the workflow reader: arbitrary bytes -> ``load_workflow``.

The only exception the reader may raise is ``WorkflowError`` (with ``--deep``, validation and
planning run too, and ``ValidationError`` is allowed as well). Anything else, a hang or a
crash is a finding.

With atheris (coverage-guided; ``pip install atheris``, CPython 3.11 on Linux or macOS)::

    python fuzz/fuzz_reader.py fuzz/findings tests/corpus/workflows -max_total_time=600
    python fuzz/fuzz_reader.py --deep fuzz/findings tests/corpus/workflows -rss_limit_mb=4096

The first folder collects new interesting inputs; the corpus files seed the search. A crash
is written to ``crash-<sha1>``; rerun it with ``python fuzz/fuzz_reader.py crash-<sha1>``.

Without atheris the same target replays files (what the test suite does)::

    python fuzz/fuzz_reader.py --replay tests/corpus/workflows/*.json
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

DEEP = "--deep" in sys.argv
_PATH = Path(tempfile.mkdtemp(prefix="fuzz_reader.")) / "workflow.json"


def _imports() -> tuple:
    from dnne_robot.pipeline import check, widget_lookup
    from dnne_robot.validate import ValidationError
    from dnne_robot.workflow import WorkflowError, load_workflow

    return check, widget_lookup, ValidationError, WorkflowError, load_workflow


def test_one_input(data: bytes) -> None:
    """One fuzz input: write it to a file and read it as a workflow."""
    check, widget_lookup, ValidationError, WorkflowError, load_workflow = _TARGET
    _PATH.write_bytes(data)
    try:
        if DEEP:
            check(_PATH)
        else:
            load_workflow(_PATH, widgets=widget_lookup)
    except (WorkflowError, ValidationError):
        pass


def main() -> None:
    global _TARGET
    args = [a for a in sys.argv[1:] if a != "--deep"]
    if args[:1] == ["--replay"]:
        _TARGET = _imports()
        for name in args[1:]:
            test_one_input(Path(name).read_bytes())
        print(f"replayed {len(args) - 1} file(s): no unexpected exception")
        return
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris (or use --replay FILES)")
    with atheris.instrument_imports(include=["dnne_robot"]):
        _TARGET = _imports()
    atheris.Setup([sys.argv[0], *args], test_one_input)
    atheris.Fuzz()


_TARGET: tuple = ()

if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
