"""``record_rollout``: a GIF (or MP4) of a policy, from the engine's offscreen renderer."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from .engines import PIP_INSTALL, import_imageio
from .errors import EngineNotInstalledError, RenderUnavailableError
from .make import make_env


def _first_frame(env: gym.Env, what: str) -> np.ndarray | None:
    """Render once; None (after one printed line) when MuJoCo has no GL backend here."""
    try:
        return env.render()
    except RenderUnavailableError as err:
        print(f"record_rollout: skipped {what}: {err}")
        return None
    except gym.error.DependencyNotInstalled as err:
        hint = PIP_INSTALL["gymnasium[classic-control]"] if "pygame" in str(err) else str(err)
        raise EngineNotInstalledError(f"rendering {what} needs pygame: {hint}") from err
    except Exception as err:
        # gymnasium's own MuJoCo renderer fails in many ways without a GL context.
        if "mujoco" in type(env.unwrapped).__module__ or "GL" in str(err):
            print(
                f"record_rollout: skipped {what}: MuJoCo cannot render offscreen here "
                f"(set MUJOCO_GL=egl or osmesa): {err}"
            )
            return None
        raise


def record_rollout(
    act_fn: Callable[[np.ndarray], np.ndarray],
    spec: str,
    engine: str,
    path: str | Path,
    *,
    steps: int = 200,
    fps: float | None = None,
    seed: int = 0,
) -> Path | None:
    """Roll out ``act_fn`` for ``steps`` steps and save the frames.

    Frames come from ``render_mode="rgb_array"``: PyBullet's TinyRenderer, ``mujoco.Renderer``
    offscreen, or gymnasium's own renderer. The file is a GIF, or an MP4 when ``path`` ends in
    ``.mp4`` and ``imageio-ffmpeg`` is installed (otherwise the GIF goes next to it).
    ``fps`` defaults to real time (1 / dt). Episodes autoreset, so a long recording shows several.

    Returns:
        The written path, or None when MuJoCo cannot render here (one line is printed).
    """
    imageio = import_imageio()
    out = Path(path)
    if out.suffix.lower() == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        print(
            f"record_rollout: imageio-ffmpeg is missing ({PIP_INSTALL['imageio-ffmpeg']}); "
            "writing a GIF instead"
        )
        out = out.with_suffix(".gif")
    vec = make_env(spec, engine, num_envs=1, render_mode="rgb_array")
    try:
        env = vec.envs[0]  # type: ignore[attr-defined]
        obs, _ = vec.reset(seed=seed)
        frame = _first_frame(env, f"{spec} on {engine}")
        if frame is None:
            return None
        frames = [frame]
        for _ in range(steps):
            obs, *_ = vec.step(np.asarray(act_fn(obs)))
            frames.append(env.render())
        if fps is None:
            fps = float(env.metadata.get("render_fps") or 30)
    finally:
        vec.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".mp4":
        imageio.v3.imwrite(out, np.stack(frames), fps=fps)
    else:
        imageio.v3.imwrite(out, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    return out
