"""Small builders for inline UI graphs in tests."""

from __future__ import annotations

from typing import Any


def inp(name: str, typ: str, link: int | None = None, widget: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "type": typ, "link": link}
    if widget:
        d["widget"] = {"name": name}
    return d


def out(name: str, typ: str, links: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "type": typ, "links": links}


def node(
    nid: int | str,
    typ: str,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    widgets: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": nid,
        "type": typ,
        "mode": 0,
        "inputs": inputs or [],
        "outputs": outputs or [],
    }
    if widgets is not None:
        d["widgets_values"] = widgets
    d.update(extra)
    return d


def ui(nodes: list[dict[str, Any]], links: list[Any], **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "last_node_id": 0,
        "last_link_id": 0,
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }
    d.update(extra)
    return d
