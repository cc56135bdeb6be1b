"""Exporters for graph plumbing nodes."""

from __future__ import annotations

from .base import NodeExporter


class OrMergeExporter(NodeExporter):
    base = "nodes.flow:OrMergeNode"
