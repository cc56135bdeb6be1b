"""The engines, declared once as data, and lazy access to their Python packages.

Each :class:`Engine` says what an engine needs: the ``requirements.txt`` lines of a package
exported for it, the ``pip install`` that fixes a missing one, and the module inside ``envs``
that holds its physics adapter. Everything else (the ids in the registry, the export planner,
the catalog, the requirements an export writes) reads the engines from :data:`ENGINE_SPECS`.

The engines are optional: a CartPole-on-gymnasium user never needs MuJoCo or PyBullet installed,
so they are imported on first use, by their physics module only, through the helpers below, and
a missing one becomes an :class:`EngineNotInstalledError` naming the exact ``pip install``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType

from .errors import (
    EngineNotExportedError,
    EngineNotInstalledError,
    UnknownEngineError,
    did_you_mean,
)


@dataclass(frozen=True)
class Engine:
    """One simulator engine, as data.

    Attributes:
        name: the engine's name in ids (``dnne/<Task>-<name>-v0``) and on the command line;
            also the name its Python package imports as.
        requirements: the ``requirements.txt`` lines a package exported for this engine needs.
        pip_install: the command that installs the engine's package.
        physics_module: the module inside ``envs`` that holds its physics adapter
            (``"physics.mujoco"``), or None for an engine whose envs are gymnasium's own classes.
    """

    name: str
    requirements: tuple[str, ...]
    pip_install: str
    physics_module: str | None

    @property
    def physics_file(self) -> str | None:
        """The physics module's file, relative to ``envs/`` (``"physics/mujoco.py"``)."""
        if self.physics_module is None:
            return None
        return self.physics_module.replace(".", "/") + ".py"


#: Every engine, in the order tables and listings show them.
ENGINE_SPECS: Mapping[str, Engine] = MappingProxyType(
    {
        e.name: e
        for e in (
            Engine("gymnasium", ("gymnasium>=1.1",), "pip install gymnasium", None),
            Engine(
                "mujoco",
                ("gymnasium>=1.1", "mujoco>=3.1"),
                "pip install mujoco",
                "physics.mujoco",
            ),
            Engine(
                "pybullet",
                ("gymnasium>=1.1", "pybullet>=3.2"),
                "pip install pybullet",
                "physics.pybullet",
            ),
        )
    }
)

ENGINES: tuple[str, ...] = tuple(ENGINE_SPECS)

#: The command that installs each engine (and the extras some gymnasium ids need).
PIP_INSTALL: dict[str, str] = {
    **{e.name: e.pip_install for e in ENGINE_SPECS.values()},
    "gymnasium[mujoco]": 'pip install "gymnasium[mujoco]"',
    "gymnasium[classic-control]": 'pip install "gymnasium[classic-control]"',
    "imageio": "pip install imageio",
    "imageio-ffmpeg": "pip install imageio-ffmpeg",
}


def check_engine(engine: str) -> str:
    """Return ``engine`` if it is one of :data:`ENGINES`, else raise ``UnknownEngineError``."""
    if engine not in ENGINE_SPECS:
        raise UnknownEngineError(
            f"unknown engine {engine!r}.{did_you_mean(str(engine), ENGINES)}"
            f" Engines: {', '.join(ENGINES)}."
        )
    return engine


def get_engine(engine: str) -> Engine:
    """The :class:`Engine` called ``engine``; ``UnknownEngineError`` lists the known ones."""
    return ENGINE_SPECS[check_engine(engine)]


def engine_installed(engine: str) -> bool:
    """Whether the package behind ``engine`` can be imported (without importing it)."""
    return importlib.util.find_spec(check_engine(engine)) is not None


def physics_available(engine: str) -> bool:
    """Whether this copy of ``envs`` holds ``engine``'s physics module (without importing it).

    An exported package carries only the physics module of the engine it was exported for;
    an engine without a physics module (gymnasium) needs none and counts as available.
    """
    module = get_engine(engine).physics_module
    if module is None:
        return True
    return importlib.util.find_spec(f"{__package__}.{module}") is not None


def not_exported_error(engine: str) -> EngineNotExportedError:
    """The error for an engine whose physics module this package was exported without."""
    file = get_engine(engine).physics_file
    return EngineNotExportedError(
        f"the {engine!r} engine is not in this package: it was exported without "
        f"{engine}'s physics module (envs/{file}). Re-export with --sim {engine} to run on "
        f"{engine}."
    )


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
