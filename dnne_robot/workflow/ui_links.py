"""Resolving and repairing the links of one UI graph.

A UI file stores each link three times: in ``links[]``, in the target input's ``link`` and in
the source output's ``links`` list. Frontend bugs make them disagree (target slots renumbered
when widget sockets were added or removed). The rule here: a link belongs to the *input whose
``link`` equals the link id*, and that input's *name* is what the graph records. Every
disagreement that is settled becomes a :class:`Repair`; links that cannot be placed at all are
left out and reported in ``notes`` (the validator then reports any missing required input).

DNNE lets several links feed one input: the input's ``link`` holds the newest and its
``links`` list every one it held (stale ids included). A ``links[]`` entry into an input that
lists it is one more link into that input, kept beside the first. A node whose file lists no
ports (DNNE's hand-written files) takes every ``links[]`` entry into it as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnne_robot.workflow.describe import short_id
from dnne_robot.workflow.graph import Edge
from dnne_robot.workflow.model import Repair
from dnne_robot.workflow.ui_parse import RawGraph, RawInput, RawLink, RawNode


@dataclass(frozen=True)
class _Producer:
    node: RawNode
    slot: int


@dataclass
class LinkResolution:
    """Edges keyed by ``(target id, input name)`` plus what was repaired or left out."""

    edges: dict[tuple[str, str], Edge]
    repairs: list[Repair]
    notes: list[str]
    more_edges: dict[tuple[str, str], list[Edge]]
    """Further links into an input that already has one (DNNE), in ``links[]`` order."""


def _compatible(a: str | None, b: str | None) -> bool:
    if a is None or b is None or a == b:
        return True
    wildcard = {"*", ""}
    if a in wildcard or b in wildcard:
        return True
    return bool(set(a.split(",")) & set(b.split(",")))


class _Resolver:
    def __init__(self, graph: RawGraph) -> None:
        self.graph = graph
        self.edges: dict[tuple[str, str], Edge] = {}
        self.more_edges: dict[tuple[str, str], list[Edge]] = {}
        self.repairs: list[Repair] = []
        self.notes: list[str] = []
        self.producers: dict[int, _Producer] = {}
        for node in graph.nodes.values():
            for slot, out in enumerate(node.outputs):
                for lid in out.links:
                    self.producers.setdefault(lid, _Producer(node, slot))

    # -- helpers -------------------------------------------------------------------------

    def _repair(
        self,
        lid: int,
        source: str,
        target: RawNode,
        inp: RawInput,
        field: str,
        old: object,
        new: object,
        reason: str,
    ) -> None:
        self.repairs.append(Repair(lid, source, target.id, field, old, new, reason, inp.name))

    def _edge_type(self, rec_type: str | None, source: RawNode, slot: int, inp: RawInput) -> str:
        if rec_type:
            return rec_type
        if 0 <= slot < len(source.outputs) and source.outputs[slot].type:
            return source.outputs[slot].type or "*"
        return inp.type or "*"

    def _claimants(self) -> dict[int, tuple[RawNode, int]]:
        """Link id -> the (node, input index) whose ``link`` holds it."""
        claims: dict[int, tuple[RawNode, int]] = {}
        for node in self.graph.nodes.values():
            for index, inp in enumerate(node.inputs):
                if inp.link is None:
                    continue
                first = claims.get(inp.link)
                if first is None:
                    claims[inp.link] = (node, index)
                    continue
                rec = self.graph.links.get(inp.link)
                loser, winner = (node, index), first
                if rec is not None and rec.target == node.id and rec.target != first[0].id:
                    loser, winner = first, (node, index)
                    claims[inp.link] = winner
                why = "links[] names it" if claims[inp.link] is not first else "first in the file"
                self.notes.append(
                    f"link {inp.link} is held by input {loser[0].inputs[loser[1]].name!r} of "
                    f"{loser[0].ref()} and by input {winner[0].inputs[winner[1]].name!r} of "
                    f"{winner[0].ref()}; the latter is kept ({why})"
                )
        return claims

    def _origin(self, rec: RawLink, target: RawNode, inp: RawInput) -> tuple[RawNode, int] | None:
        """The source end of ``rec``, repaired from the outputs' ``links`` lists if needed."""
        source = self.graph.nodes.get(rec.origin)
        prod = self.producers.get(rec.id)
        if source is None:
            if prod is not None:
                self._repair(
                    rec.id,
                    prod.node.id,
                    target,
                    inp,
                    "origin",
                    [rec.origin, rec.origin_slot],
                    [prod.node.id, prod.slot],
                    f"links[] names missing node #{short_id(rec.origin)} as the source; output "
                    f"{prod.node.outputs[prod.slot].name!r} (slot {prod.slot}) of "
                    f"{prod.node.ref()} lists link {rec.id}",
                )
                return prod.node, prod.slot
            self.notes.append(
                f"link {rec.id} into input {inp.name!r} of {target.ref()} comes from missing "
                f"node #{short_id(rec.origin)}; left unlinked"
            )
            return None
        n_out = len(source.outputs)
        in_range = 0 <= rec.origin_slot < n_out
        if prod is not None and (prod.node.id, prod.slot) != (source.id, rec.origin_slot):
            out = prod.node.outputs[prod.slot]
            slot_type = source.outputs[rec.origin_slot].type if in_range else None
            wrong_type = (
                in_range
                and not _compatible(slot_type, rec.type)
                and _compatible(out.type, rec.type)
            )
            if not in_range or wrong_type:
                why = (
                    f"origin_slot {rec.origin_slot} is beyond the {n_out} outputs of {source.ref()}"
                    if not in_range
                    else f"output {rec.origin_slot} of {source.ref()} is {slot_type}, not "
                    f"{rec.type}"
                )
                if prod.node.id == source.id:
                    self._repair(
                        rec.id,
                        source.id,
                        target,
                        inp,
                        "origin_slot",
                        rec.origin_slot,
                        prod.slot,
                        f"{why}; output {out.name!r} (slot {prod.slot}) lists the link",
                    )
                else:
                    self._repair(
                        rec.id,
                        prod.node.id,
                        target,
                        inp,
                        "origin",
                        [source.id, rec.origin_slot],
                        [prod.node.id, prod.slot],
                        f"{why}; output {out.name!r} (slot {prod.slot}) of {prod.node.ref()} "
                        "lists the link",
                    )
                return prod.node, prod.slot
            self.notes.append(
                f"link {rec.id}: links[] says output {rec.origin_slot} of {source.ref()} but "
                f"output {prod.slot} of {prod.node.ref()} lists it; kept links[]"
            )
        elif not in_range and n_out:
            self.notes.append(
                f"link {rec.id} into input {inp.name!r} of {target.ref()} leaves output "
                f"{rec.origin_slot} of {source.ref()}, which has {n_out} outputs"
            )
        return source, rec.origin_slot

    def _place(
        self,
        target: RawNode,
        inp: RawInput,
        source: RawNode,
        slot: int,
        lid: int,
        rec_type: str | None,
    ) -> None:
        key = (target.id, inp.name)
        if key in self.edges:
            self.notes.append(
                f"{target.ref()} has two inputs named {inp.name!r}; link {lid} into the second "
                "is ignored"
            )
            return
        self.edges[key] = Edge(source.id, slot, self._edge_type(rec_type, source, slot, inp), lid)

    # -- the three passes ----------------------------------------------------------------

    def _from_inputs(self, claims: dict[int, tuple[RawNode, int]]) -> None:
        for lid, (target, index) in claims.items():
            inp = target.inputs[index]
            rec = self.graph.links.get(lid)
            if rec is None:
                prod = self.producers.get(lid)
                if prod is None:
                    self.notes.append(
                        f"input {inp.name!r} of {target.ref()} holds link {lid}, which neither "
                        "links[] nor any output lists; left unlinked"
                    )
                    continue
                out = prod.node.outputs[prod.slot]
                self._repair(
                    lid,
                    prod.node.id,
                    target,
                    inp,
                    "origin_slot",
                    None,
                    prod.slot,
                    f"link {lid} is missing from links[]; rebuilt from output {out.name!r} "
                    f"(slot {prod.slot}) of {prod.node.ref()}, which lists it",
                )
                self._place(target, inp, prod.node, prod.slot, lid, out.type)
                continue
            if rec.target != target.id:
                self._repair(
                    lid,
                    rec.origin,
                    target,
                    inp,
                    "target",
                    rec.target,
                    target.id,
                    f"links[] names #{short_id(rec.target)} as the target but input "
                    f"{inp.name!r} of {target.ref()} holds the link",
                )
            elif rec.target_slot != index:
                self._repair(
                    lid,
                    rec.origin,
                    target,
                    inp,
                    "target_slot",
                    rec.target_slot,
                    index,
                    f"links[] says target_slot {rec.target_slot} but input {inp.name!r}, which "
                    f"holds link {lid}, is at index {index}",
                )
            origin = self._origin(rec, target, inp)
            if origin is not None:
                self._place(target, inp, origin[0], origin[1], lid, rec.type)

    def _orphans(self, claims: dict[int, tuple[RawNode, int]]) -> None:
        """``links[]`` entries no input holds: attach where the slot's input is free."""
        for lid, rec in self.graph.links.items():
            if lid in claims:
                continue
            target = self.graph.nodes.get(rec.target)
            if target is None:
                self.notes.append(
                    f"links[] entry {lid} targets missing node #{short_id(rec.target)}; ignored"
                )
                continue
            if not 0 <= rec.target_slot < len(target.inputs):
                self.notes.append(
                    f"links[] entry {lid} targets slot {rec.target_slot} of {target.ref()}, "
                    f"which has {len(target.inputs)} inputs; ignored"
                )
                continue
            inp = target.inputs[rec.target_slot]
            # DNNE: the input lists this link among the several it holds.
            several = lid in inp.links or not target.ports_listed
            if inp.link is not None and not several:
                self.notes.append(
                    f"links[] entry {lid} targets input {inp.name!r} of {target.ref()}, which "
                    f"holds link {inp.link}; ignored"
                )
                continue
            held = self.edges.get((target.id, inp.name))
            if held is not None and not several:
                self.notes.append(
                    f"links[] entry {lid} targets input {inp.name!r} of {target.ref()}, which "
                    f"link {held.link_id} already feeds; ignored"
                )
                continue
            if not several and not _compatible(inp.type, rec.type):
                self.notes.append(
                    f"links[] entry {lid} ({rec.type}) targets input {inp.name!r} "
                    f"({inp.type}) of {target.ref()}; types differ, ignored"
                )
                continue
            origin = self._origin(rec, target, inp)
            if origin is None:
                continue
            if several and (target.id, inp.name) in self.edges:
                edge = Edge(origin[0].id, origin[1],
                            self._edge_type(rec.type, origin[0], origin[1], inp), lid)
                self.more_edges.setdefault((target.id, inp.name), []).append(edge)
                continue
            if not several:
                self._repair(
                    lid,
                    origin[0].id,
                    target,
                    inp,
                    "link",
                    None,
                    lid,
                    f"input {inp.name!r} (slot {rec.target_slot}) had link null but links[] "
                    f"connects link {lid} to it; attached",
                )
            self._place(target, inp, origin[0], origin[1], lid, rec.type)

    def run(self) -> LinkResolution:
        claims = self._claimants()
        self._from_inputs(claims)
        self._orphans(claims)
        return LinkResolution(self.edges, self.repairs, self.notes, self.more_edges)


def resolve_links(graph: RawGraph) -> LinkResolution:
    """Resolve every link of ``graph`` by target input name, repairing what disagrees."""
    return _Resolver(graph).run()
