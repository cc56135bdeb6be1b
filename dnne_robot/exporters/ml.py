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
