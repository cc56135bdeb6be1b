"""Exporters for graph plumbing: the OR merge and DNNE's flow nodes."""

from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..envs import ISAAC_TASKS
from .base import Constant, NodeExporter
from .robotics import env_config_node, observation_schema

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem

TORCH = ("torch>=2.4",)


class OrMergeExporter(NodeExporter):
    base = "nodes.flow:OrMergeNode"


class BarrierExporter(NodeExporter):
    base = "nodes.flow:BarrierNode"


class EatNExporter(NodeExporter):
    base = "nodes.flow:EatNNode"


class BalancerExporter(NodeExporter):
    base = "nodes.flow:BalancerNode"
    requirements = TORCH


class ConcatExporter(NodeExporter):
    base = "nodes.flow:ConcatNode"
    derived = ("CONNECTED",)
    requirements = TORCH

    def connected(self, node: PlannedNode) -> tuple[str, ...]:
        return tuple(f"input_{c}" for c in "abcd" if f"input_{c}" in node.links)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        if len(self.connected(node)) < 2:
            return [self.problem(node, "input_a", "joins at least two inputs; "
                                 f"{len(self.connected(node))} connected")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        return [Constant("CONNECTED", self.connected(node), "joined in this order"),
                *super().constants(node, plan)]


# ----------------------------------------------------------------------------- Split
def _ints(text: str) -> list[int]:
    return [int(p) for p in text.replace(" ", "").split(",") if p]


def split_slices(mode: str, text: str, schema: dict[str, tuple[int, int]] | None
                 ) -> tuple[tuple[int, int | None], ...]:
    """A Split's outputs as (start, stop) on the feature axis; raises ValueError saying why.

    by index: cut points ``"10,20"`` (or DNNE's inclusive ranges ``"[3:5], [10:18]"``); by
    size: widths; by name: observation fields, each ``name`` or ``name[i]``/``name[i:j]``
    (inclusive, relative to the field), from ``schema`` (name -> inclusive [first, last]).
    """
    text = text.strip()
    if mode == "by index" and "[" in text:
        ranges = re.findall(r"\[\s*(\d+)\s*:\s*(\d+)\s*\]", text)
        if not ranges or re.sub(r"\[\s*\d+\s*:\s*\d+\s*\]|[\s,]", "", text):
            raise ValueError(f"{text!r}: write cut points ('10,20') or ranges ('[3:5], [10:18]')")
        slices = tuple((int(a), int(b) + 1) for a, b in ranges)
    elif mode == "by index":
        cuts = _ints(text)
        if cuts != sorted(cuts) or any(c <= 0 for c in cuts):
            raise ValueError(f"{text!r}: cut points must be positive and increasing")
        bounds = [0, *cuts]
        slices = tuple((a, b) for a, b in zip(bounds, bounds[1:], strict=False))
        slices += ((bounds[-1], None),)
    elif mode == "by size":
        sizes = [s for s in _ints(text) if s > 0]
        if not sizes:
            raise ValueError(f"{text!r}: give the widths, e.g. '3,4'")
        start, out = 0, []
        for size in sizes:
            out.append((start, start + size))
            start += size
        slices = tuple(out)
    else:
        if schema is None:
            raise ValueError("'by name' needs the observation fields of a simulator upstream; "
                             "none feeds this Split")
        slices = tuple(_field(entry.strip(), schema) for entry in text.split(",") if entry.strip())
    if len(slices) > 4:
        raise ValueError(f"{len(slices)} parts; a Split has four outputs")
    return slices


def _field(entry: str, schema: dict[str, tuple[int, int]]) -> tuple[int, int]:
    match = re.fullmatch(r"(\w+)\s*(?:\[\s*(-?\d*)\s*(?::\s*(-?\d*))?\s*\])?", entry)
    if not match or match[1] not in schema:
        raise ValueError(f"{entry!r} names no observation field; fields: {', '.join(schema)}")
    first, last = schema[match[1]]
    if match[2] is None and match[3] is None:
        return first, last + 1
    i = int(match[2]) if match[2] else 0
    if ":" not in entry:
        return first + i, first + i + 1
    j = int(match[3]) if match[3] else last - first
    if not 0 <= i <= j <= last - first:
        raise ValueError(f"{entry!r} reaches outside {match[1]} [{first}, {last}]")
    return first + i, first + j + 1


class SplitExporter(NodeExporter):
    base = "nodes.flow:SplitNode"
    derived = ("SLICES",)
    requirements = TORCH

    def schema(self, node: PlannedNode, plan: Plan) -> dict[str, tuple[int, int]] | None:
        """The observation fields of the simulator upstream, through pass-through nodes."""
        seen, current = set(), node
        while "input" in current.links and current.id not in seen:
            seen.add(current.id)
            current = plan.by_id(current.links["input"].source)
            if current.spec.exporter == "robotics.isaac_gym_sim":
                return observation_schema(current, plan)
            if current.spec.exporter not in ("flow.eat_n", "flow.barrier", "flow.balancer"):
                return None
        return None

    def slices(self, node: PlannedNode, plan: Plan) -> tuple[tuple[int, int | None], ...]:
        schema = self.schema(node, plan) if node.params["split_mode"] == "by name" else None
        return split_slices(str(node.params["split_mode"]), str(node.params["split_pos"]),
                            schema)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        try:
            self.slices(node, plan)
        except ValueError as exc:
            if node.params["split_mode"] == "by name" and self.unsupported_task(node, plan):
                return []  # the env config node reports the task
            return [self.problem(node, "split_pos", str(exc))]
        return []

    def unsupported_task(self, node: PlannedNode, plan: Plan) -> bool:
        """Whether the simulator upstream runs a task that does not run here."""
        seen, current = set(), node
        while "input" in current.links and current.id not in seen:
            seen.add(current.id)
            current = plan.by_id(current.links["input"].source)
            if current.spec.exporter == "robotics.isaac_gym_sim":
                config = env_config_node(current, plan)
                return config is not None and config.params["task"] not in ISAAC_TASKS
        return False

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        return [Constant("SLICES", self.slices(node, plan), "(start, stop) per output"),
                *super().constants(node, plan)]


class TensorExporter(NodeExporter):
    base = "nodes.data:TensorNode"
    requirements = TORCH

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        text = str(node.params["tensor_dims"]).strip().strip("[]()")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and 0 < int(p) <= 1_000_000 for p in parts) \
                or len(parts) > 8:
            return [self.problem(node, "tensor_dims", f"{node.params['tensor_dims']!r} is not a "
                                 "shape like '10', '2,3' or '[2,3,4]'")]
        size = 1
        for p in parts:
            size *= int(p)
        if size > 100_000_000:
            return [self.problem(node, "tensor_dims", f"{size:,} values is too large")]
        return []


# ----------------------------------------------------------------------------- files
def relative_inside(text: str) -> str | None:
    """Why ``text`` may not name a place inside the export, or None."""
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in text:
        return f"{text!r} must be a relative path inside the export (no '..')"
    return None


def find_data_file(name: str, plan: Plan) -> Path | None:
    """A data file the workflow names: as given, or from the workflow's folder or the folders
    above it (DNNE names its files from its own root, above ``user/default/workflows``)."""
    given = Path(name)
    if given.is_absolute():
        return given if given.is_file() else None
    places = [Path.cwd()]
    if plan.workflow_dir is not None:
        places += [plan.workflow_dir, *list(plan.workflow_dir.parents)[:3]]
    return next((p / given for p in places if (p / given).is_file()), None)


class DataStreamerExporter(NodeExporter):
    """Copies the CSV into the export (``dest_dir/<file name>``), where the node reads it."""

    base = "nodes.data:DataStreamerNode"
    derived = ("FILE",)
    requirements = TORCH

    def target(self, node: PlannedNode) -> str:
        dest = str(node.params["dest_dir"]).strip().strip("/")
        name = Path(str(node.params["src_path"]).replace("\\", "/")).name
        return f"{dest}/{name}" if dest else name

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        src = str(node.params["src_path"])
        if not src:
            return [self.problem(node, "src_path", "names no CSV file")]
        why = relative_inside(str(node.params["dest_dir"]))
        if why:
            return [self.problem(node, "dest_dir", why)]
        if find_data_file(src, plan) is None:
            where = plan.workflow_dir or Path.cwd()
            return [self.problem(node, "src_path", f"{src!r} not found (looked from the current "
                                 f"folder, {where} and the folders above it)")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        return [Constant("FILE", self.target(node), "the CSV inside the export"),
                *super().constants(node, plan)]

    def files(self, node: PlannedNode, plan: Plan) -> dict[str, bytes]:
        path = find_data_file(str(node.params["src_path"]), plan)
        return {self.target(node): path.read_bytes()} if path is not None else {}


class CustomComputationExporter(NodeExporter):
    """User code, so opt-in: the script comes from ``--allow-custom-code DIR`` only."""

    base = "nodes.custom:CustomComputationNode"
    derived = ("SCRIPT", "CONFIG")
    requirements = TORCH
    #: DNNE's scripts end a run with ``from framework.exceptions import CauseExitException``.
    EXCEPTIONS = (b'"""DNNE\'s exceptions for user scripts: CauseExitException ends the run as '
                  b'complete."""\n\nfrom .runtime.errors import CauseExitException, RunComplete\n\n'
                  b'__all__ = ["CauseExitException", "RunComplete"]\n')

    def script(self, node: PlannedNode, plan: Plan) -> Path | None:
        if plan.custom_code_dir is None:
            return None
        name = str(node.params["src_path"]).replace("\\", "/")
        # DNNE: a bare file name is looked up in its custom_compute_funcs folder.
        return plan.custom_code_dir / Path(name).name

    def target(self, node: PlannedNode) -> str:
        return f"custom_code/{Path(str(node.params['src_path']).replace(chr(92), '/')).name}"

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        src = str(node.params["src_path"])
        if plan.custom_code_dir is None:
            return [self.problem(node, "src_path", f"runs the user script {src!r}, which is "
                                 "code: export with --allow-custom-code DIR (the folder that "
                                 "holds it) to copy it into the package and run it")]
        script = self.script(node, plan)
        if not src.endswith(".py") or script is None or not script.is_file():
            return [self.problem(node, "src_path", f"{src!r} is not a .py file in "
                                 f"{plan.custom_code_dir}")]
        try:
            ast.parse(script.read_bytes(), str(script))
        except SyntaxError as exc:
            return [self.problem(node, "src_path", f"{script.name} is not valid Python: {exc}")]
        try:
            config = ast.literal_eval(str(node.params["config"]) or "{}")
        except (ValueError, SyntaxError):
            config = None
        if not isinstance(config, dict):
            return [self.problem(node, "config", "must be a Python dict literal, e.g. "
                                 "{'DEBUG': True}")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        config = ast.literal_eval(str(node.params["config"]) or "{}")
        return [Constant("SCRIPT", self.target(node), "the script inside the export"),
                Constant("CONFIG", config, "given to set_config_info()"),
                *[c for c in super().constants(node, plan) if c.name != "CONFIG"]]

    def files(self, node: PlannedNode, plan: Plan) -> dict[str, bytes]:
        script = self.script(node, plan)
        if script is None:
            return {}
        return {self.target(node): script.read_bytes(), "framework/exceptions.py": self.EXCEPTIONS}
