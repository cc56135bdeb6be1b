"""``runner.py train --set NODE.FIELD=VALUE``: change a node's setting for one run.

NODE is a node's title or id, FIELD a setting of it as the workflow names it. The export's
``parameters.json`` lists the settings that can change and the catalog's constraints on each
(type, range, choices), so a value is checked as ``dnne-robot validate`` checks the workflow;
what a node checks when it starts (a network's sizes, a trigger) it checks for an override too.
The applied overrides go into ``hparams.json``.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime import Graph
from .errors import RunnerError

#: The export's table of settings (written by dnne-robot beside ``runner.py``).
PARAMETERS_FILE = Path(__file__).resolve().parents[2] / "parameters.json"
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Override:
    node_id: str
    title: str
    field: str
    constant: str
    value: Any

    def record(self) -> str:
        return f"#{self.node_id} {self.title}.{self.field}={self.value!r}"


def load_table(path: Path = PARAMETERS_FILE) -> dict[str, Any]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunnerError(f"--set needs the export's {path.name}, which could not be read "
                          f"({exc}); export the workflow again") from None
    return table


def parse_overrides(texts: list[str], table: dict[str, Any]) -> list[Override]:
    """Each ``NODE.FIELD=VALUE``, checked against ``table``.

    Raises:
        RunnerError: one line naming the node, the field and what is wrong.
    """
    overrides: dict[tuple[str, str], Override] = {}
    for text in texts:
        target, sep, raw = text.partition("=")
        node_ref, dot, field = target.rpartition(".")
        if not sep or not dot or not node_ref.strip() or not field.strip():
            raise RunnerError(f"--set {text!r}: write NODE.FIELD=VALUE, e.g. "
                              f"--set 'PPO Trainer.learning_rate=1e-3'")
        node = _find_node(node_ref.strip(), table)
        name = field.strip()
        spec = node["fields"].get(name)
        where = f"node #{node['id']} {node['title']!r} ({node['class_type']})"
        if spec is None and name in node.get("export_time", ()):
            raise RunnerError(f"--set: {where}, field {name!r} is read at export time (it "
                              f"shapes what the export wrote); change it in the workflow and "
                              f"export again")
        if spec is None:
            close = difflib.get_close_matches(name, list(node["fields"]), n=1)
            hint = (f"; did you mean {close[0]!r}?" if close
                    else f"; it has: {', '.join(node['fields']) or 'none that --set can change'}")
            raise RunnerError(f"--set: {where} has no setting {name!r}{hint}")
        value = _parse(raw.strip(), spec, f"--set: {where}, field {name!r}")
        overrides[node["id"], name] = Override(node["id"], node["title"], name,
                                               spec["constant"], value)
    return list(overrides.values())


def apply_overrides(graph: Graph, overrides: list[Override]) -> None:
    """Set each override on its node before the graph starts (nodes read their settings in
    ``setup``)."""
    for override in overrides:
        setattr(graph.node(override.node_id), override.constant, override.value)


def _find_node(ref: str, table: dict[str, Any]) -> dict[str, Any]:
    nodes = table.get("nodes", [])
    by_id = [n for n in nodes if n["id"] == ref.removeprefix("#")]
    if by_id:
        return by_id[0]
    by_title = [n for n in nodes if n["title"] == ref]
    if len(by_title) == 1:
        return by_title[0]
    if len(by_title) > 1:
        ids = ", ".join(f"#{n['id']}" for n in by_title)
        raise RunnerError(f"--set: {len(by_title)} nodes are titled {ref!r} ({ids}); "
                          f"name one by its id")
    folded = [n for n in table.get("folded", []) if ref in (n["id"], n["title"])]
    if folded:
        raise RunnerError(f"--set: node #{folded[0]['id']} {folded[0]['title']!r} is read at "
                          f"export time; change it in the workflow and export again")
    fused = [n for n in table.get("fused", []) if ref in (n["id"], n["title"])]
    if fused:
        raise RunnerError(f"--set: node #{fused[0]['id']} {fused[0]['title']!r} runs fused "
                          f"with its neighbours (export --optimize); export without --optimize "
                          f"to change its settings with --set")
    titles = [n["title"] for n in nodes]
    close = difflib.get_close_matches(ref, titles, n=1)
    hint = (f"did you mean {close[0]!r}?" if close
            else "nodes: " + ", ".join(f"#{n['id']} {n['title']!r}" for n in nodes))
    raise RunnerError(f"--set: no node titled {ref!r} or with that id; {hint}")


def _parse(raw: str, spec: dict[str, Any], where: str) -> Any:
    kind = spec["type"]
    if "choices" in spec:
        for choice in spec["choices"]:
            if raw == str(choice) or (isinstance(choice, str) and raw.lower() == choice.lower()):
                return choice
        raise RunnerError(f"{where}: {raw!r} is not one of: "
                          f"{', '.join(str(c) for c in spec['choices'])}")
    try:
        if kind == "INT":
            value: Any = int(raw)
        elif kind == "FLOAT":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        elif kind == "BOOLEAN":
            if raw.lower() not in TRUE + FALSE:
                raise ValueError
            value = raw.lower() in TRUE
        else:
            value = raw
    except ValueError:
        wanted = {"INT": "a whole number", "FLOAT": "a finite number",
                  "BOOLEAN": "true or false"}.get(kind, kind)
        raise RunnerError(f"{where}: {raw!r} is not {wanted}") from None
    if kind in ("INT", "FLOAT"):
        if "min" in spec and value < spec["min"]:
            raise RunnerError(f"{where}: {raw} is below the minimum {spec['min']}")
        if "max" in spec and value > spec["max"]:
            raise RunnerError(f"{where}: {raw} is above the maximum {spec['max']}")
    return value
