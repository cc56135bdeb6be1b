"""Clock parts of a training step: ``python wall_driver.py OUT.json PARTS_JSON ARGS...``.

Run in an export's folder by ``bench/profile_train.py --wall``. ``PARTS_JSON`` maps a part's
name to the export's ``module:Class.method``; each such method is wrapped with a clock (a
fraction of a microsecond a call), then ``runner.py ARGS...`` runs in this process, and the
seconds spent in each part are written to ``OUT.json``.
"""

from __future__ import annotations

import importlib
import json
import runpy
import sys
import time
from collections.abc import Callable
from typing import Any


def clocked(seconds: dict[str, float], part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    clock = time.perf_counter

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[part] += clock() - start

    return wrapper


def main(out: str, parts: dict[str, str], argv: list[str]) -> None:
    sys.path.insert(0, ".")
    seconds = dict.fromkeys(parts, 0.0)
    for part, where in parts.items():
        module, attr = where.split(":")
        owner_name, name = attr.rsplit(".", 1)
        owner = getattr(importlib.import_module(module), owner_name)
        setattr(owner, name, clocked(seconds, part, getattr(owner, name)))
    sys.argv = ["runner.py", *argv]
    try:
        runpy.run_path("runner.py", run_name="__main__")
    except SystemExit as exit_:
        if exit_.code:
            raise
    with open(out, "w", encoding="utf-8") as f:
        json.dump(seconds, f)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:])
