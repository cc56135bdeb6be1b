"""Lazy access to the engine packages.

The engines are optional: a CartPole-on-gymnasium user never needs MuJoCo or PyBullet installed,
so they are imported here, on first use, and a missing one becomes an
:class:`EngineNotInstalledError` naming the exact ``pip install``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from .errors import EngineNotInstalledError, UnknownEngineError, did_you_mean

ENGINES: tuple[str, ...] = ("gymnasium", "mujoco", "pybullet")

#: The command that installs each engine (and the extras some gymnasium ids need).
PIP_INSTALL: dict[str, str] = {
    "gymnasium": "pip install gymnasium",
    "mujoco": "pip install mujoco",
    "pybullet": "pip install pybullet",
    "gymnasium[mujoco]": 'pip install "gymnasium[mujoco]"',
    "gymnasium[classic-control]": 'pip install "gymnasium[classic-control]"',
    "imageio": "pip install imageio",
    "imageio-ffmpeg": "pip install imageio-ffmpeg",
}


def check_engine(engine: str) -> str:
    """Return ``engine`` if it is one of :data:`ENGINES`, else raise ``UnknownEngineError``."""
    if engine not in ENGINES:
        raise UnknownEngineError(
            f"unknown engine {engine!r}.{did_you_mean(str(engine), ENGINES)}"
            f" Engines: {', '.join(ENGINES)}."
        )
    return engine


def engine_installed(engine: str) -> bool:
    """Whether the package behind ``engine`` can be imported (without importing it)."""
    return importlib.util.find_spec(check_engine(engine)) is not None


def _import(module: str, pip_key: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise EngineNotInstalledError(
            f"{what} needs the {module!r} package, which is not installed: {PIP_INSTALL[pip_key]}"
        ) from err


def prefer_headless_gl() -> None:
    """Pick MuJoCo's EGL backend on a Linux machine with no display, unless the user chose.

    MuJoCo reads ``MUJOCO_GL`` once, when it is first imported, and its default (GLFW) needs a
    display. Setting the variable never breaks the import: a missing backend only surfaces
    when a renderer is created, where :func:`record_rollout` reports it in one line.
    """
    if (
        sys.platform.startswith("linux")
        and "mujoco" not in sys.modules
        and not os.environ.get("MUJOCO_GL")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["MUJOCO_GL"] = "egl"


def import_mujoco() -> ModuleType:
    """Import and return ``mujoco``, or raise ``EngineNotInstalledError``."""
    prefer_headless_gl()
    return _import("mujoco", "mujoco", "the 'mujoco' engine")


def import_pybullet() -> ModuleType:
    """Import and return ``pybullet``, or raise ``EngineNotInstalledError``."""
    return _import("pybullet", "pybullet", "the 'pybullet' engine")


def pybullet_data_path() -> str | None:
    """The folder of URDFs that ships with pybullet, or None when ``pybullet_data`` is absent."""
    try:
        import pybullet_data
    except ImportError:
        return None
    return pybullet_data.getDataPath()


def import_imageio() -> ModuleType:
    """Import and return ``imageio``, or raise ``EngineNotInstalledError``."""
    return _import("imageio", "imageio", "recording a rollout")
