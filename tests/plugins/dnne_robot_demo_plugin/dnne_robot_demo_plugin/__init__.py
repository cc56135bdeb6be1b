"""A dnne-robot plugin: one node type, its exporter and its template."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from dnne_robot.catalog import InputSpec, NodeSpec, OutputSpec
from dnne_robot.exporters.base import NodeExporter


class ScaleExporter(NodeExporter):
    template = "nodes/demo_scale.py.jinja"
    requirements = ("torch>=2.4",)


SCALE = NodeSpec(
    "ScaleNode", "Scale", "ml",
    (InputSpec("input", "TENSOR"),
     InputSpec("factor", "FLOAT", default=1.0, min=-1e6, max=1e6, tooltip="Multiplier.")),
    (OutputSpec("output", "TENSOR"),),
    "demo.scale", stateless=True,
    description="Multiplies its input by a constant factor.",
)

PLUGIN = SimpleNamespace(
    specs=[SCALE],
    exporters={"demo.scale": ScaleExporter},
    templates_dir=str(Path(__file__).parent / "templates"),
)
