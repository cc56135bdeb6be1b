"""Exporters for the ML nodes: data, layers, networks and the supervised trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Constant, NodeExporter, parse_sizes
from .limits import LIMITS, network_problem

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem


class TorchNodeExporter(NodeExporter):
    requirements = ("torch>=2.4",)


class RegressionDataExporter(TorchNodeExporter):
    base = "nodes.ml:RegressionDataNode"

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        """Without its trigger the node sends one batch, so training would stop after one
        step and call that a success."""
        if "trigger" in node.links:
            return []
        return [self.problem(node, "trigger", "not wired: the data would be sent once and "
                             "training would stop after 1 step; wire the trainer's "
                             "step_done output into it")]


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
    derived = ("LAYER_SIZES",)
    export_time = ("hidden_sizes",)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        return network_problem(node, plan, lambda sizes: LIMITS.mlp_parameters(
            1, sizes, node.params["output_size"]))

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        sizes = parse_sizes(node.params["hidden_sizes"])
        return [*super().constants(node, plan), Constant("LAYER_SIZES", sizes, "hidden_sizes")]


class SupervisedTrainerExporter(TorchNodeExporter):
    base = "nodes.ml:SupervisedTrainerNode"


# ----------------------------------------------------------------------------- DNNE
class DatasetExporter(TorchNodeExporter):
    """MNIST / CIFAR-10: the node reads the standard files at ``data_path`` when it runs, and
    with ``download`` on fetches missing ones through torchvision (then a requirement)."""

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        return {"data_path": str(node.params["data_path"])}

    def requirements_for(self, node: PlannedNode, plan: Plan) -> list[str]:
        download = ["torchvision>=0.19"] if node.params["download"] else []
        return [*super().requirements_for(node, plan), *download]


class MNISTDatasetExporter(DatasetExporter):
    base = "nodes.data:MNISTDatasetNode"


class CIFAR10DatasetExporter(DatasetExporter):
    base = "nodes.data:CIFAR10DatasetNode"


class BatchSamplerExporter(TorchNodeExporter):
    base = "nodes.data:BatchSamplerNode"


class GetBatchExporter(TorchNodeExporter):
    base = "nodes.data:GetBatchNode"


class DNNENetworkExporter(TorchNodeExporter):
    """DNNE's Neural Network: the Linear Layers from 'layers' back to 'to_output'."""

    base = "nodes.learning:DNNENetworkNode"
    derived = ("LAYERS",)

    def layers(self, node: PlannedNode, plan: Plan) -> list[PlannedNode]:
        """The Linear Layer chain, first to last, walked back from ``to_output``."""
        chain: list[PlannedNode] = []
        link = node.links.get("to_output")
        while link is not None:
            source = plan.by_id(link.source)
            if source.spec.exporter != "ml.dnne_linear" or source in chain:
                break
            chain.insert(0, source)
            link = source.links.get("input")
        return chain

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        if not self.layers(node, plan):
            return [self.problem(node, "to_output", "no Linear Layer feeds it: wire the "
                                 "network's 'layers' output through Linear Layer nodes back "
                                 "into 'to_output'")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        layers = tuple(
            (int(n.params["output_size"]), bool(n.params["bias"]), str(n.params["activation"]),
             float(n.params["dropout"]), str(n.params["weight_init"]))
            for n in self.layers(node, plan))
        ids = ", ".join(f"#{n.id}" for n in self.layers(node, plan))
        return [Constant("LAYERS", layers, f"Linear Layers {ids}"),
                *super().constants(node, plan)]


class LinearLayerExporter(NodeExporter):
    """DNNE's Linear Layer runs inside its Neural Network: nothing of its own to export."""


class CrossEntropyExporter(TorchNodeExporter):
    base = "nodes.learning:CrossEntropyLossNode"


def _networks(node: PlannedNode, plan: Plan) -> tuple[str, ...]:
    return tuple(link.source for name, link in node.all_links() if name == "model")


def _sequenced(node: PlannedNode, plan: Plan) -> bool:
    loss = node.links.get("loss")
    return loss is not None and plan.by_id(loss.source).spec.exporter == "ml.training_sequencer"


class SGDExporter(TorchNodeExporter):
    base = "nodes.learning:SGDOptimizerNode"
    derived = ("MODEL_IDS", "SEQUENCED", "RETAIN_GRAPH")

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        bad = [m for m in _networks(node, plan)
               if plan.by_id(m).spec.exporter != "ml.dnne_network"]
        if bad:
            return [self.problem(node, "model", f"node #{bad[0]} is not a Neural Network: an "
                                 "optimizer's 'model' takes Neural Network 'model' outputs")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        sequenced = _sequenced(node, plan)
        # Several optimizers backpropagating on their own may share one forward graph (DNNE's
        # Franka_Coop_Nodes, run there with --override all:retain_graph=True).
        alone = [n for n in plan.nodes if n.spec.exporter == "ml.sgd" and not _sequenced(n, plan)]
        retain = not sequenced and len(alone) > 1
        retain_constant = [Constant("RETAIN_GRAPH", True, "other optimizers backpropagate "
                                    "through the same forward graph")] if retain else []
        return [Constant("MODEL_IDS", _networks(node, plan), "the networks it trains"),
                Constant("SEQUENCED", sequenced, "a Training Sequencer backpropagates for it"),
                *retain_constant,
                *super().constants(node, plan)]


class TrainingSequencerExporter(TorchNodeExporter):
    base = "nodes.learning:TrainingSequencerNode"
    derived = ("ORDER_INDICES", "OPTIMIZER_MODELS")

    def order(self, node: PlannedNode) -> tuple[tuple[int, ...], str | None]:
        connected = [i for i in range(1, 5) if f"loss{i}" in node.links]
        text = str(node.params["order"])
        try:
            named = [int(p) for p in text.replace(" ", "").split(",") if p]
        except ValueError:
            return (), f"{text!r} is not a comma-separated list of loss numbers (e.g. '2,1')"
        extra = [i for i in named if i not in connected]
        if extra:
            return (), f"names loss{extra[0]}, which is not connected"
        return tuple(dict.fromkeys([*named, *connected])), None

    def optimizers(self, node: PlannedNode, plan: Plan) -> dict[int, tuple[str, ...]]:
        found = {}
        for i in self.order(node)[0]:
            feeds = [(n, name) for n, name, link in plan.consumers(node.id)
                     if node.spec.outputs[link.source_slot].name == f"to_opt{i}"]
            sgd = next((n for n, name in feeds if n.spec.exporter == "ml.sgd"), None)
            found[i] = _networks(sgd, plan) if sgd is not None else ()
        return found

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        order, why = self.order(node)
        if why:
            return [self.problem(node, "order", why)]
        if not order:
            return [self.problem(node, "loss1", "no loss is connected")]
        lonely = [i for i, models in self.optimizers(node, plan).items() if not models]
        if lonely:
            return [self.problem(node, f"to_opt{lonely[0]}", "must feed an SGD Optimizer's "
                                 "'loss', whose networks this loss trains")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        return [Constant("ORDER_INDICES", self.order(node)[0], "order, connected losses"),
                Constant("OPTIMIZER_MODELS", self.optimizers(node, plan),
                         "loss -> its optimizer's networks"),
                *super().constants(node, plan)]


class EpochTrackerExporter(TorchNodeExporter):
    base = "nodes.learning:EpochTrackerNode"

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        return {"default_steps": None}  # the tracker ends the run after max_epochs
