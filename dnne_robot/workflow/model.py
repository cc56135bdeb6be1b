"""The in-memory graph model every later stage works on.

Both ComfyUI formats (API prompt and UI save file) are read into this one shape: nodes keyed by
string id, each input either a literal value or a :class:`Link` resolved by input *name*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Link:
    """An edge: ``source`` node's output slot ``source_slot`` feeds ``target``'s input by name."""

    source: str
    source_slot: int
    target: str
    target_input: str
    type: str = "*"
    link_id: int | None = None


@dataclass
class Node:
    """One workflow node after reading.

    Attributes:
        id: the node id as a string (UI subgraph nodes keep their ``outer:inner`` form).
        class_type: the node type name as written in the file (aliases are resolved later).
        title: the user-visible title (defaults to the class type).
        inputs: input name -> literal widget value or :class:`Link`.
        output_types: declared output types by slot, when the file records them (UI format).
        input_types: declared input types by name, when the file records them (UI format).
        extra_widgets: positional widget values that could not be named (no catalog entry).
        more_links: input name -> further links into an input that already has one in
            ``inputs`` (DNNE lets several links feed one input), in file order.
    """

    id: str
    class_type: str
    title: str
    inputs: dict[str, Any] = field(default_factory=dict)
    output_types: list[str] = field(default_factory=list)
    input_types: dict[str, str] = field(default_factory=dict)
    extra_widgets: list[Any] = field(default_factory=list)
    more_links: dict[str, list[Link]] = field(default_factory=dict)

    def links(self) -> list[Link]:
        """Every link into this node, in input order (several links into one input in turn)."""
        found = []
        for name, value in self.inputs.items():
            if isinstance(value, Link):
                found.append(value)
                found.extend(self.more_links.get(name, ()))
        return found

    def label(self) -> str:
        """How errors name this node: ``#id 'title' (ClassType)``."""
        return f"#{self.id} {self.title!r} ({self.class_type})"


@dataclass(frozen=True)
class Repair:
    """A correction the reader made to an inconsistent file, reported as a warning."""

    link_id: int | None
    source: str
    target: str
    field: str
    old: Any
    new: Any
    reason: str
    target_input: str | None = None
    """The name of the target input the link feeds, when known."""

    def __str__(self) -> str:
        target = f"#{self.target}"
        if self.target_input is not None:
            target += f".{self.target_input}"
        return (
            f"repaired link {self.link_id} (#{self.source} -> {target}): "
            f"{self.field} {self.old!r} -> {self.new!r} ({self.reason})"
        )


@dataclass
class Workflow:
    """A whole graph.

    Attributes:
        nodes: node id -> node, in file order.
        source_format: ``"api"``, ``"ui-0.4"`` or ``"ui-1"``.
        repairs: every link/slot repair made while reading.
        notes: other non-fatal reader messages (e.g. dropped muted nodes).
        path: the file it came from, for messages.
        duplicate_ids: node ids that occur more than once in the file (the first node with
            each id is kept); the validator reports them.
    """

    nodes: dict[str, Node] = field(default_factory=dict)
    source_format: str = "api"
    repairs: list[Repair] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    path: str | None = None
    duplicate_ids: list[str] = field(default_factory=list)

    def links(self) -> list[Link]:
        return [link for node in self.nodes.values() for link in node.links()]
