"""Exporters for the ML nodes: data, layers, networks and the supervised trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import NodeExporter, parse_sizes

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem

TORCH = ("torch>=2.4",)


class TorchNodeExporter(NodeExporter):
    framework = ("runtime", "rl")  # rl brings the atomic checkpoint writer
    requirements = TORCH


class RegressionDataExporter(TorchNodeExporter):
    template = "nodes/regression_data.py.jinja"


class LinearExporter(TorchNodeExporter):
    template = "nodes/linear.py.jinja"


class ActivationExporter(TorchNodeExporter):
    template = "nodes/activation.py.jinja"


class DropoutExporter(TorchNodeExporter):
    template = "nodes/dropout.py.jinja"


class BatchNormExporter(TorchNodeExporter):
    template = "nodes/batchnorm.py.jinja"


class NetworkExporter(TorchNodeExporter):
    template = "nodes/network.py.jinja"

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        try:
            parse_sizes(node.params["hidden_sizes"])
        except ValueError as exc:
            return [self.problem(node, "hidden_sizes", str(exc))]
        return []

    def context(self, node: PlannedNode, plan: Plan) -> dict:
        return {"hidden_sizes": parse_sizes(node.params["hidden_sizes"])}


class SupervisedTrainerExporter(TorchNodeExporter):
    template = "nodes/supervised_trainer.py.jinja"
