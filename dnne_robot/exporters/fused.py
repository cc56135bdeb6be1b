"""Exporters for the nodes ``export --optimize`` makes (see :mod:`dnne_robot.plan.optimize`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import NodeExporter, parse_sizes

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode

# The torch classes each layer template looks its ``activation`` widget up in; the fused module
# names them directly. tests/optimize checks every choice against the unfused layer nodes.
LINEAR_ACTIVATIONS = {"none": "nn.Identity", "relu": "nn.ReLU", "tanh": "nn.Tanh",
                      "sigmoid": "nn.Sigmoid"}
ACTIVATIONS = {"relu": "nn.ReLU", "tanh": "nn.Tanh", "sigmoid": "nn.Sigmoid", "elu": "nn.ELU",
               "gelu": "nn.GELU", "leaky_relu": "nn.LeakyReLU"}
NETWORK_ACTIVATIONS = {"relu": "nn.ReLU", "tanh": "nn.Tanh", "elu": "nn.ELU"}


def _member(node: PlannedNode) -> dict:
    return {"id": node.id, "title": node.title, "class_type": node.node.class_type,
            "module": node.module, "class_name": node.class_name, "var": node.var}


def _layer(node: PlannedNode) -> dict:
    p = node.params
    layer = {**_member(node), "kind": node.spec.exporter.removeprefix("ml."), "p": p,
             "fn": f"layer_{node.var}"}
    if layer["kind"] == "linear":
        layer["act"] = LINEAR_ACTIVATIONS[p["activation"]]
    elif layer["kind"] == "activation":
        layer["act"] = ACTIVATIONS[p["activation"]]
    elif layer["kind"] == "network":
        layer["act"] = NETWORK_ACTIVATIONS[p["activation"]]
        layer["hidden_sizes"] = parse_sizes(p["hidden_sizes"])
    return layer


class FusedSequentialExporter(NodeExporter):
    """A chain of torch layers as one module that builds one ``nn.Sequential``."""

    template = "nodes/fused.py.jinja"
    base = "nodes.fused:FusedLayersNode"
    requirements = ("torch>=2.4",)

    def context(self, node: PlannedNode, plan: Plan) -> dict:
        members = getattr(node, "members", [])
        return {"members": [_member(m) for m in members], "layers": [_layer(m) for m in members]}


class FusedInlineExporter(NodeExporter):
    """A node's class extended to run the nodes it absorbed as plain calls on its inputs."""

    template = "nodes/fused_inline.py.jinja"
    base = "nodes.fused:InlinedNodes"

    def context(self, node: PlannedNode, plan: Plan) -> dict:
        host = node.host  # type: ignore[attr-defined]
        adapters = []
        for port, chain in sorted(node.adapters.items()):  # type: ignore[attr-defined]
            steps = []
            for i, member in enumerate(chain):
                (in_port,) = member.links  # a fused member has exactly one linked input
                feeds = chain[i + 1].links[next(iter(chain[i + 1].links))] if i + 1 < len(
                    chain) else host.links[port]
                out_name = member.spec.outputs[feeds.source_slot].name
                steps.append({**_member(member), "in_port": in_port, "out_name": out_name})
            adapters.append((port, steps))
        return {
            "host": _member(host),
            "members": [_member(m) for m in node.members],  # type: ignore[attr-defined]
            "adapters": adapters,
            "imports": sorted({(m.module, m.class_name)
                               for m in node.members}),  # type: ignore[attr-defined]
        }


class FusedLoopExporter(NodeExporter):
    """A control loop's nodes run as plain calls by one node (``FusedLoopNode``)."""

    template = "nodes/fused_loop.py.jinja"
    base = "nodes.fused:FusedLoopNode"

    def context(self, node: PlannedNode, plan: Plan) -> dict:
        members = node.members  # type: ignore[attr-defined]
        wiring = node.loop  # type: ignore[attr-defined]
        return {
            "members": [_member(m) for m in members],
            "wiring": wiring,
            "imports": sorted({(m.module, m.class_name) for m in members}),
        }
