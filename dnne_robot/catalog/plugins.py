"""Third-party node types: the ``dnne_robot.exporters`` entry-point group.

A plugin entry point names an object with ``specs`` (NodeSpec list), ``exporters``
(exporter key -> NodeExporter subclass) and optionally ``templates_dir`` (a folder whose
templates are searched after ``--templates`` and before the built-in ones).
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GROUP = "dnne_robot.exporters"


@cache
def _plugins() -> tuple[Any, ...]:
    loaded = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            loaded.append(ep.load())
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the tool
            log.warning("plugin %s could not be loaded: %s", ep.name, exc)
    return tuple(loaded)


def plugin_specs() -> tuple:
    return tuple(spec for plugin in _plugins() for spec in getattr(plugin, "specs", ()))


def plugin_exporters() -> dict[str, type]:
    found: dict[str, type] = {}
    for plugin in _plugins():
        found.update(getattr(plugin, "exporters", {}))
    return found


def plugin_template_dirs() -> list[Path]:
    return [Path(p.templates_dir) for p in _plugins() if getattr(p, "templates_dir", None)]
