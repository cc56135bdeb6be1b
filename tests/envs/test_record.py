"""record_rollout: GIFs from PyBullet's TinyRenderer and MuJoCo's offscreen renderer."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from dnne_robot.envs import EngineNotInstalledError, record_rollout

from .helpers import cartpole_pd, reach_jacobian

pytest.importorskip("imageio")


def _frames(path) -> np.ndarray:
    import imageio

    return imageio.v3.imread(path, index=None)


def test_pybullet_gif(tmp_path) -> None:
    pytest.importorskip("pybullet")
    out = record_rollout(cartpole_pd, "CartPole", "pybullet", tmp_path / "cp.gif", steps=8)
    assert out == tmp_path / "cp.gif"
    frames = _frames(out)
    assert frames.shape[0] == 9 and frames.shape[-1] == 3
    assert frames.std() > 0  # not a blank image


def test_mujoco_gif_or_graceful_skip(tmp_path, capsys) -> None:
    pytest.importorskip("mujoco")
    out = record_rollout(reach_jacobian, "Reach", "mujoco", tmp_path / "reach.gif", steps=5)
    if out is None:
        assert len(capsys.readouterr().out.strip().splitlines()) == 1
        pytest.skip("no GL backend for MuJoCo here")
    frames = _frames(out)
    assert frames.shape[0] == 6 and frames.std() > 0


def test_mujoco_without_gl_returns_none(tmp_path, capsys, monkeypatch) -> None:
    mujoco = pytest.importorskip("mujoco")

    def broken(*args, **kwargs):
        raise RuntimeError("no OpenGL context")

    monkeypatch.setattr(mujoco, "Renderer", broken)
    out = record_rollout(cartpole_pd, "CartPole", "mujoco", tmp_path / "x.gif", steps=3)
    assert out is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "MUJOCO_GL" in printed[0]
    assert not (tmp_path / "x.gif").exists()


def test_gymnasium_render(tmp_path) -> None:
    if importlib.util.find_spec("pygame") is None:
        with pytest.raises(EngineNotInstalledError, match="gymnasium\\[classic-control\\]"):
            record_rollout(cartpole_pd, "CartPole", "gymnasium", tmp_path / "g.gif", steps=3)
    else:
        out = record_rollout(cartpole_pd, "CartPole", "gymnasium", tmp_path / "g.gif", steps=3)
        assert _frames(out).shape[0] == 4


def test_mp4_falls_back_to_gif_without_ffmpeg(tmp_path) -> None:
    pytest.importorskip("pybullet")
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        pytest.skip("imageio-ffmpeg is installed: the MP4 is written")
    out = record_rollout(cartpole_pd, "CartPole", "pybullet", tmp_path / "cp.mp4", steps=2)
    assert out == tmp_path / "cp.gif" and out.exists()
