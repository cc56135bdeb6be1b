"""Run folders: one per training run, so a new run never writes into another one's.

``runner.py train`` writes into ``<root>/<date>-<time>-s<seed>/`` (``root`` is ``runs``, or a
DNNE PPO Agent's ``save_path``) and points ``<root>/latest`` at it; ``evaluate`` and the other
commands read ``<root>/latest`` unless told otherwise. ``--run-dir`` names the folder itself,
and is refused when it already holds a run, unless the run continues from that folder's
newest checkpoint (``--resume``). ``--resume`` alone continues in the checkpoint's own folder
when the checkpoint is that run's newest; a resume from an older checkpoint starts a new
folder, so no run's checkpoints, metrics or summary are mixed with another's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..rl.checkpoint import CHECKPOINT_DIR, latest_checkpoint
from .errors import RunnerError

LATEST = "latest"
#: Files a run writes into its folder: any of them means the folder holds a run.
RUN_FILES = ("metrics.csv", "episodes.csv", "hparams.json", "summary.json")


def run_root(meta: dict[str, Any]) -> Path:
    """The folder runs are made in (a compact PPO Agent's ``save_path``, else ``runs``)."""
    return Path(meta.get("default_run_dir") or "runs")


def latest_run_dir(meta: dict[str, Any]) -> Path:
    """Where ``evaluate`` and the other commands look by default: the newest run."""
    return run_root(meta) / LATEST


def holds_a_run(folder: Path) -> bool:
    """Whether ``folder`` already holds (part of) a run: checkpoints or run files."""
    return latest_checkpoint(folder) is not None or any((folder / f).exists() for f in RUN_FILES)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def followed(folder: Path) -> Path:
    """``folder``, or the run folder it names when it is a ``latest`` link."""
    return folder.parent / os.readlink(folder) if folder.is_symlink() else folder


def checkpoint_run_dir(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/<file>``), or None; a
    ``latest`` link is followed to the folder it names."""
    if checkpoint.parent.name != CHECKPOINT_DIR:
        return None
    return followed(checkpoint.parent.parent)


def continues(folder: Path, checkpoint: Path | None) -> bool:
    """Whether resuming from ``checkpoint`` continues the run in ``folder``: it is that
    run's newest checkpoint."""
    newest = latest_checkpoint(folder)
    return checkpoint is not None and newest is not None and _same_file(newest, checkpoint)


def choose_run_dir(run_dir: Path | None, resume: Path | None, seed: int,
                   meta: dict[str, Any]) -> Path:
    """The folder ``runner.py train`` writes into (see the module's docstring).

    Raises:
        RunnerError: ``run_dir`` holds another run, or an older point of this one.
    """
    if run_dir is not None:
        if holds_a_run(run_dir) and not continues(run_dir, resume):
            newest = latest_checkpoint(run_dir)
            how = (f"continue it with --resume {newest}" if newest is not None
                   else "it has no checkpoint to continue from")
            raise RunnerError(
                f"run folder {run_dir} already holds a run: {how}, or leave out --run-dir "
                f"for a new folder under {run_root(meta)}/")
        return run_dir
    if resume is not None:
        own = checkpoint_run_dir(Path(resume))
        if own is not None and continues(own, Path(resume)):
            return own
    return new_run_dir(run_root(meta), seed)


def new_run_dir(root: Path, seed: int) -> Path:
    """A folder under ``root`` that no run has used: ``<date>-<time>-s<seed>[-n]``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, n = f"{stamp}-s{seed}", 1
    while (root / name).exists() or (root / name).is_symlink():
        n += 1
        name = f"{stamp}-s{seed}-{n}"
    return root / name


def point_latest(run_dir: Path) -> str | None:
    """Point ``<parent>/latest`` at ``run_dir`` (a relative symlink, replaced atomically).
    Returns a notice when it cannot (``latest`` is a real folder: an older layout's run)."""
    latest = run_dir.parent / LATEST
    if run_dir.name == LATEST:
        return None
    if latest.exists() and not latest.is_symlink():
        return (f"{latest} is a folder from an earlier run, not a link: kept as it is, so "
                f"commands reading {latest} do not see this run ({run_dir})")
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError as exc:  # a file system without symlinks
        tmp.unlink(missing_ok=True)
        return f"could not point {latest} at {run_dir}: {exc.strerror or exc}"
    return None


def resolve_checkpoint(checkpoint: Path | None, run_dir: Path) -> Path:
    """``--checkpoint``, or else the newest checkpoint in ``--run-dir``."""
    path = checkpoint or latest_checkpoint(followed(run_dir))
    if path is None:
        raise RunnerError(f"no checkpoint in {run_dir}: run `runner.py train` first, "
                          "or pass --checkpoint")
    if not Path(path).is_file():
        raise RunnerError(f"checkpoint {path} does not exist")
    return Path(path)
