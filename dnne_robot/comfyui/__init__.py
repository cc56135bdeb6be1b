"""A ComfyUI custom-node pack generated from the catalog (``dnne-robot comfyui-pack``)."""

from __future__ import annotations

from .pack import EXPORT_NODE, PackError, render_pack, write_pack

__all__ = ["EXPORT_NODE", "PackError", "render_pack", "write_pack"]
