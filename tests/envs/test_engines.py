"""engines.py: every engine declared once, as data, and the helpers that read it."""

from __future__ import annotations

import dataclasses

import pytest

import dnne_robot.envs as envs
from dnne_robot.envs import (
    ENGINE_SPECS,
    ENGINES,
    PIP_INSTALL,
    REGISTERED_IDS,
    Engine,
    UnknownEngineError,
    check_engine,
    engine_installed,
    get_engine,
    physics_available,
)
from dnne_robot.envs.physics import physics_class


def test_engines_are_declared_once_as_data() -> None:
    assert ENGINES == tuple(ENGINE_SPECS) == ("gymnasium", "mujoco", "pybullet")
    assert {name: e.requirements for name, e in ENGINE_SPECS.items()} == {
        "gymnasium": ("gymnasium>=1.1",),
        "mujoco": ("gymnasium>=1.1", "mujoco>=3.1"),
        "pybullet": ("gymnasium>=1.1", "pybullet>=3.2"),
    }
    assert {name: e.physics_module for name, e in ENGINE_SPECS.items()} == {
        "gymnasium": None,
        "mujoco": "physics.mujoco",
        "pybullet": "physics.pybullet",
    }
    for name, engine in ENGINE_SPECS.items():
        assert isinstance(engine, Engine) and engine.name == name
        assert PIP_INSTALL[name] == engine.pip_install == f"pip install {name}"


def test_engine_is_frozen_and_the_table_read_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ENGINE_SPECS["mujoco"].requirements = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        ENGINE_SPECS["isaac"] = ENGINE_SPECS["mujoco"]  # type: ignore[index]


def test_physics_file_points_at_the_module() -> None:
    assert get_engine("gymnasium").physics_file is None
    for name in ("mujoco", "pybullet"):
        engine = get_engine(name)
        assert engine.physics_file == f"physics/{name}.py"
        path = envs.__file__.rpartition("/")[0] + "/" + engine.physics_file
        assert open(path).read(), path


def test_lookups_check_the_name() -> None:
    assert check_engine("mujoco") == "mujoco"
    assert get_engine("pybullet") is ENGINE_SPECS["pybullet"]
    with pytest.raises(UnknownEngineError, match="Did you mean 'pybullet'"):
        get_engine("pybulet")
    with pytest.raises(UnknownEngineError):
        engine_installed("isaac")
    with pytest.raises(UnknownEngineError):
        physics_available("isaac")


def test_every_engine_of_a_registered_id_is_declared() -> None:
    engines = {spec_id.split("-")[-2] for spec_id in REGISTERED_IDS}
    assert engines == set(ENGINES)


def test_physics_available_here_and_loaded_by_engine_name() -> None:
    for name in ENGINES:
        assert physics_available(name)  # this checkout has every physics module
    for name in ("mujoco", "pybullet"):
        assert physics_class(name).engine == name


def test_engine_api_is_public() -> None:
    for name in ("Engine", "ENGINE_SPECS", "get_engine", "check_engine", "physics_available",
                 "EngineNotExportedError"):  # fmt: skip
        assert name in envs.__all__, name
