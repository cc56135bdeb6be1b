"""Exporters for the ML nodes: data, layers, networks and the supervised trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Constant, NodeExporter, parse_sizes

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem


class TorchNodeExporter(NodeExporter):
    requirements = ("torch>=2.4",)


class RegressionDataExporter(TorchNodeExporter):
    base = "nodes.ml:RegressionDataNode"


class LinearExporter(TorchNodeExporter):
    base = "nodes.ml:LinearLayerNode"


class ActivationExporter(TorchNodeExporter):
    base = "nodes.ml:ActivationNode"


class DropoutExporter(TorchNodeExporter):
    base = "nodes.ml:DropoutNode"


class BatchNormExporter(TorchNodeExporter):
    base = "nodes.ml:BatchNormNode"

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        """Training-mode batch norm fails on a batch of one: refuse it here, not mid-run."""
        seen, current = set(), node
        while "input" in current.links and current.id not in seen:  # up the layer chain
            seen.add(current.id)
            current = plan.by_id(current.links["input"].source)
        if current.spec.exporter == "ml.regression_data":
            batch = min(current.params["batch_size"], current.params["num_samples"])
            if batch < 2:
                return [self.problem(node, "input", f"batch norm needs batches of at least 2 "
                                     f"samples; node #{current.id} gives batches of {batch}")]
        return []


class NetworkExporter(TorchNodeExporter):
    base = "nodes.ml:NetworkNode"

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        try:
            parse_sizes(node.params["hidden_sizes"])
        except ValueError as exc:
            return [self.problem(node, "hidden_sizes", str(exc))]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        sizes = parse_sizes(node.params["hidden_sizes"])
        return [*super().constants(node, plan), Constant("LAYER_SIZES", sizes, "hidden_sizes")]


class SupervisedTrainerExporter(TorchNodeExporter):
    base = "nodes.ml:SupervisedTrainerNode"
