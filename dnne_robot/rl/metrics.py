"""Run logging: ``hparams.json``, ``metrics.csv``, ``episodes.csv``, optional TensorBoard
events and a ``learning_curve.png`` written on close.

Only the standard library, numpy and torch are required; TensorBoard and matplotlib are
used when installed (without matplotlib the run says once that it drew no curve).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import math
import os
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .buffer import to_numpy
from .checkpoint import atomic_write

log = logging.getLogger(__name__)

STEP_KEY = "global_step"


def _scalar(v: Any) -> float | int | str:
    if isinstance(v, torch.Tensor):
        v = v.item()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool | int | float | str):
        return v
    return str(v)


class EpisodeTracker:
    """Accumulates per-environment returns and lengths from per-step rewards and dones.

    Args:
        num_envs: Number of parallel environments.
        window: How many recent episodes :attr:`recent_mean_return` averages.
    """

    def __init__(self, num_envs: int, window: int = 100) -> None:
        self.num_envs = int(num_envs)
        self.returns = np.zeros(self.num_envs, dtype=np.float64)
        self.lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.recent_returns: deque[float] = deque(maxlen=window)
        self.recent_lengths: deque[int] = deque(maxlen=window)
        self.num_episodes = 0

    def step(self, reward: Any, terminated: Any, truncated: Any) -> list[tuple[float, int]]:
        """Record one step of every env; returns ``(return, length)`` of finished episodes."""
        self.returns += to_numpy(reward).reshape(self.num_envs)
        self.lengths += 1
        terminated, truncated = to_numpy(terminated), to_numpy(truncated)
        # Most steps end no episode: count_nonzero says so faster than logical_or and any.
        if not (np.count_nonzero(terminated) or np.count_nonzero(truncated)):
            return []
        done = np.logical_or(terminated, truncated).reshape(self.num_envs)
        finished = []
        for i in np.flatnonzero(done):
            finished.append((float(self.returns[i]), int(self.lengths[i])))
            self.recent_returns.append(float(self.returns[i]))
            self.recent_lengths.append(int(self.lengths[i]))
        self.num_episodes += len(finished)
        self.returns[done] = 0.0
        self.lengths[done] = 0
        return finished

    def state_dict(self) -> dict[str, Any]:
        """The episodes in progress and the recent window, so a resumed run logs what an
        uninterrupted one would."""
        return {"returns": self.returns.tolist(), "lengths": self.lengths.tolist(),
                "recent_returns": list(self.recent_returns),
                "recent_lengths": list(self.recent_lengths), "num_episodes": self.num_episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.returns = np.asarray(state["returns"], dtype=np.float64)
        self.lengths = np.asarray(state["lengths"], dtype=np.int64)
        self.recent_returns.clear()
        self.recent_returns.extend(state["recent_returns"])
        self.recent_lengths.clear()
        self.recent_lengths.extend(state["recent_lengths"])
        self.num_episodes = int(state["num_episodes"])

    @property
    def recent_mean_return(self) -> float:
        """Mean return of the last ``window`` episodes (NaN before the first one ends)."""
        return float(np.mean(self.recent_returns)) if self.recent_returns else math.nan

    @property
    def recent_mean_length(self) -> float:
        return float(np.mean(self.recent_lengths)) if self.recent_lengths else math.nan


class MetricsLogger:
    """Writes a run's hyperparameters and results next to each other in ``run_dir``.

    Files: ``hparams.json`` (with the seed) at start; ``metrics.csv`` one row per
    :meth:`log` call with a stable column order (``global_step`` first, then keys in
    first-seen order; a new key rewrites the header); ``episodes.csv`` one row per
    finished episode; TensorBoard events if ``tensorboard`` is installed;
    ``learning_curve.png`` on :meth:`close` if matplotlib is installed. Reopening an
    existing ``run_dir`` (resume) appends.

    Args:
        run_dir: Output directory (created).
        hparams: Everything needed to reproduce the run; must be JSON-serialisable
            (other values are written with ``str``).
        seed: The run's seed, recorded in ``hparams.json``.
        tensorboard: Write TensorBoard events: None when the package is available, True
            always (a warning when it is missing), False never.
        run: What the run was (engine, task, envs, steps, overrides), for ``hparams.json``.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        hparams: Mapping[str, Any],
        seed: int | None,
        tensorboard: bool | None = None,
        run: Mapping[str, Any] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / "metrics.csv"
        self.episodes_path = self.run_dir / "episodes.csv"
        record = {"run_name": self.run_dir.name, "seed": seed, "hparams": dict(hparams),
                  **({"run": dict(run)} if run is not None else {})}
        text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
        atomic_write(self.run_dir / "hparams.json", lambda f: f.write(text.encode()))

        self.columns: list[str] = [STEP_KEY]
        if self.metrics_path.exists():
            with self.metrics_path.open(newline="") as f:
                header = next(csv.reader(f), None)
            if header:
                self.columns = header
        if not self.episodes_path.exists():
            self.episodes_path.write_text(f"{STEP_KEY},episode_return,episode_length\n")

        self.writer: Any = None
        available = importlib.util.find_spec("tensorboard") is not None
        if tensorboard and not available:
            log.warning("--tensorboard: the tensorboard package is not installed "
                        "(pip install tensorboard); no events are written")
        if tensorboard is not False and available:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir))
            self.writer.add_text(
                "hparams", "\n".join(f"|{k}|{v}|" for k, v in sorted(dict(hparams).items()))
            )

    def rewind(self, global_step: int) -> None:
        """Drop the rows logged after ``global_step``: a run resumed from a checkpoint there
        logs them again (a killed run may have logged past its last checkpoint)."""
        for path in (self.metrics_path, self.episodes_path):
            if not path.exists():
                continue
            with path.open(newline="") as f:
                rows = list(csv.reader(f))
            if not rows:
                continue
            header, body = rows[0], rows[1:]
            kept = [r for r in body if r and float(r[0]) <= global_step]
            if len(kept) == len(body):
                continue

            def write(f: Any, header: list[str] = header, kept: list[list[str]] = kept) -> None:
                text = io.StringIO(newline="")
                csv.writer(text).writerows([header, *kept])
                f.write(text.getvalue().encode())

            atomic_write(path, write)

    def log(self, global_step: int, metrics: Mapping[str, Any]) -> None:
        """Append one row of scalars to ``metrics.csv`` (and TensorBoard)."""
        row = {STEP_KEY: int(global_step)}
        row |= {k: _scalar(v) for k, v in metrics.items() if k != STEP_KEY}
        new_keys = [k for k in row if k not in self.columns]
        if new_keys:
            self._rewrite_header(self.columns + new_keys)
        write_header = not self.metrics_path.exists()
        with self.metrics_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, restval="")
            if write_header:
                w.writeheader()
            w.writerow(row)
        if self.writer is not None:
            for k, v in row.items():
                if k != STEP_KEY and isinstance(v, int | float):
                    self.writer.add_scalar(k, v, int(global_step))

    def _rewrite_header(self, columns: list[str]) -> None:
        rows: list[dict[str, str]] = []
        if self.metrics_path.exists():
            with self.metrics_path.open(newline="") as f:
                rows = list(csv.DictReader(f))

        def write(f: Any) -> None:
            text = io.StringIO(newline="")
            w = csv.DictWriter(text, fieldnames=columns, restval="")
            w.writeheader()
            w.writerows(rows)
            f.write(text.getvalue().encode())

        atomic_write(self.metrics_path, write)
        self.columns = columns

    def log_episodes(self, global_step: int, episodes: list[tuple[float, int]]) -> None:
        """Record finished ``(return, length)`` pairs, e.g. from :meth:`EpisodeTracker.step`."""
        if not episodes:
            return
        with self.episodes_path.open("a", newline="") as f:
            w = csv.writer(f)
            for ret, length in episodes:
                w.writerow([int(global_step), repr(float(ret)), int(length)])
        if self.writer is not None:
            for ret, length in episodes:
                self.writer.add_scalar("charts/episodic_return", ret, int(global_step))
                self.writer.add_scalar("charts/episodic_length", length, int(global_step))

    def close(self) -> Path | None:
        """Flush TensorBoard and draw ``learning_curve.png``; returns its path if drawn."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        return self.plot_learning_curve()

    def plot_learning_curve(self) -> Path | None:
        """Episode return vs global step from ``episodes.csv`` (None without matplotlib, which
        the run then says once: the export's requirements.txt lists it)."""
        if importlib.util.find_spec("matplotlib") is None:
            log.warning("learning_curve.png not drawn: matplotlib is not installed "
                        "(pip install matplotlib, or pip install -r requirements.txt)")
            return None
        # The object API (no pyplot) leaves the process's global backend alone.
        from matplotlib.figure import Figure

        steps, returns = [], []
        with self.episodes_path.open(newline="") as f:
            for row in csv.DictReader(f):
                steps.append(int(row[STEP_KEY]))
                returns.append(float(row["episode_return"]))
        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        if returns:
            ax.scatter(steps, returns, s=4, alpha=0.3, label="episode")
            k = max(1, min(100, len(returns) // 10))
            smooth = np.convolve(returns, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1 :], smooth, color="C1", label=f"mean of {k}")
            ax.legend(loc="lower right")
        ax.set_xlabel("global step")
        ax.set_ylabel("episode return")
        ax.set_title(self.run_dir.name)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out = self.run_dir / "learning_curve.png"
        fig.savefig(out, dpi=100)
        return out

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
